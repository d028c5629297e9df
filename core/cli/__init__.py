"""The ``deltarule`` command line.

``deltarule train xor``            train the document's XOR network and print the result
``deltarule train digits``         scikit-learn's digits, 64-128-10, softmax + cross-entropy
``deltarule train DATA --target Y``  train on a CSV/TSV/.npz file
``deltarule sweep xor --seeds 0-999 --lr 0.1,0.5``  many seeds and settings at once
``deltarule predict MODEL DATA``   write a saved model's predictions as CSV
``deltarule plot MODEL [DATA]``    draw a saved model's loss curve / decision boundary
``deltarule plugins``              list every registered plugin and its components
``deltarule export MODEL OUT.onnx``  write a saved model as an ONNX graph
``deltarule spec``                 run the executable specification suite

Every error prints ``deltarule: error: …`` on standard error, one line (the
whole traceback too with ``--traceback``), and exits with status 2.
Ctrl-C, SIGTERM and SIGHUP during training end the run cleanly: the result
is still printed and ``--save`` still writes the model, then the exit status
is 130, 143 or 129 (see :mod:`deltarule.cli.signals`).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback

from ..errors import DeltaRuleError
from ..faults import describe_exception
from ..version import __version__
from . import export, plugins, predict, spec, sweep, train
from .parser import EXIT_ERROR, Parser
from .signals import SignalGuard, exit_status, signal_name


def build_parser() -> Parser:
    parser = Parser(
        prog="deltarule",
        description="Back-propagation in NumPy, every step a pluggy plugin.",
        epilog="Errors are one line and exit with status 2 (--traceback shows the "
               "whole); Ctrl-C, SIGTERM and SIGHUP during training save the work and "
               "exit with 130, 143 and 129. See docs/cli.md and docs/reliability.md.",
    )
    parser.add_argument("--version", action="version", version=f"deltarule {__version__}")
    parser.add_argument("--traceback", action="store_true",
                        help="on an error, print the whole Python traceback too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train.add_parser(sub)
    sweep.add_parser(sub)
    predict.add_parsers(sub)
    plugins.add_parser(sub)
    export.add_parser(sub)
    spec.add_spec_parser(sub)
    for command in sub.choices.values():  # also accepted after the command's name
        command.add_argument("--traceback", action="store_true", default=argparse.SUPPRESS,
                             help="on an error, print the whole Python traceback too")
    return parser


def main(argv=None) -> int:
    """Run the command line; the exit status (0, 2 on errors, 128 + signal)."""
    guard = SignalGuard().install()
    args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return EXIT_ERROR
        args.signal_guard = guard
        if getattr(args, "plugin", None):
            _find_plugins_here()
        return args.func(args)
    except DeltaRuleError as exc:
        return fail(args, exc, str(exc))
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        return fail(args, exc, str(exc))
    except MemoryError as exc:
        return fail(args, exc, "out of memory; use less data, narrower layers or a "
                               "smaller --batch-size")
    except KeyboardInterrupt as exc:  # outside training: nothing to keep
        signum = getattr(exc, "signum", signal.SIGINT)
        with guard.deferred():
            print(f"deltarule: {'interrupted' if signum == signal.SIGINT else 'terminated'}"
                  f"{'' if signum == signal.SIGINT else ' (' + signal_name(signum) + ')'}",
                  file=sys.stderr)
        return exit_status(signum)
    except Exception as exc:  # a bug: still one line, the whole with --traceback
        return fail(args, exc, f"unexpected {describe_exception(exc)} (a bug in deltarule "
                               "or a plugin; --traceback shows where)")
    finally:
        guard.restore()


def fail(args, exc: BaseException, message: str) -> int:
    """Print ``deltarule: error: message`` (after the traceback with --traceback)."""
    if getattr(args, "traceback", False) or (args is None and "--traceback" in sys.argv):
        traceback.print_exception(exc, file=sys.stderr)
    print(f"deltarule: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def _find_plugins_here() -> None:
    """Let ``--plugin mymodule:plugin`` find ``mymodule.py`` in the current
    folder, as ``python -m`` and pytest's ``-p`` do.  The folder goes last on
    ``sys.path``, so it never shadows an installed package."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.append(here)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

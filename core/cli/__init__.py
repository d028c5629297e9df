"""The ``deltarule`` command line.

``deltarule train xor``            train the document's XOR network and print the result
``deltarule train digits``         scikit-learn's digits, 64-128-10, softmax + cross-entropy
``deltarule train DATA --target Y``  train on a CSV/TSV/.npz file
``deltarule sweep xor --seeds 0-999 --lr 0.1,0.5``  many seeds and settings at once
``deltarule predict MODEL DATA``   write a saved model's predictions as CSV
``deltarule plot MODEL [DATA]``    draw a saved model's loss curve / decision boundary
``deltarule plugins``              list every registered plugin and its components
``deltarule spec``                 run the executable specification suite

Every error prints ``deltarule: error: …`` on standard error and exits with
status 2.  Ctrl-C during training ends the run cleanly: the result is still
printed and ``--save`` still writes the model, then the exit status is 130.
"""

from __future__ import annotations

import os
import sys

from ..errors import DeltaRuleError
from ..version import __version__
from . import plugins, predict, spec, sweep, train
from .parser import EXIT_ERROR, EXIT_INTERRUPTED, Parser


def build_parser() -> Parser:
    parser = Parser(
        prog="deltarule",
        description="Back-propagation in NumPy, every step a pluggy plugin.",
        epilog="Errors exit with status 2; Ctrl-C during training saves the work "
               "and exits with 130. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"deltarule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    train.add_parser(sub)
    sweep.add_parser(sub)
    predict.add_parsers(sub)
    plugins.add_parser(sub)
    spec.add_spec_parser(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.func(args)
    except DeltaRuleError as exc:
        print(f"deltarule: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        # the reader went away (e.g. `| head`): stop quietly, as cat does
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        print(f"deltarule: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:  # outside training: nothing to keep
        print("deltarule: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

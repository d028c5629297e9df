"""``deltarule spec``: run the executable specifications (the laws).

``deltarule spec``                       every law on the installed package
``deltarule spec --plugin mod:attr``     the laws for what that plugin provides
                                         (repeatable; ``--all`` adds everything else)
``deltarule spec --law 'optimizer.*'``   laws by id (fnmatch; repeatable)
``deltarule spec --component adam``      subjects by name (fnmatch; repeatable)
``deltarule spec --profile thorough``    hypothesis profile: dev, ci or thorough
``deltarule spec --seed N``              explore other examples (printed, reproducible)
``deltarule spec --json report.json``    the compliance table as JSON
``deltarule spec --list``                every law id with its statement

This module only parses the arguments; :func:`deltarule.specs.runner.main`
runs the laws.  The exit status is 0 only if every law that ran held and at
least one ran.
"""

from __future__ import annotations

import argparse
import os
import tempfile

PROFILES = ("dev", "ci", "thorough")


def add_spec_parser(sub) -> argparse.ArgumentParser:
    """Add the ``spec`` sub-command to the ``deltarule`` subparsers ``sub``."""
    sp = sub.add_parser(
        "spec", help="run the executable specifications (the laws)",
        description="Run deltarule's executable specifications: the laws every "
                    "activation, loss, optimizer, initializer and stop criterion must "
                    "obey, every activation × loss pair in the loop, and the laws of the "
                    "loop itself (the delta rule, the document's XOR examples, stop "
                    "criteria, mini-batches, warm starts, model files).  With --plugin, "
                    "check a third-party plugin's components; the exit status is 0 only "
                    "if everything holds.")
    sp.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR",
                    help="register a plugin and check the components it provides "
                         "(repeatable)")
    sp.add_argument("--installed", action="store_true",
                    help="with --plugin: also load the installed (entry-point) plugins and "
                         "check your components alongside them (default: the bundled "
                         "components only)")
    sp.add_argument("--all", action="store_true",
                    help="with --plugin: also check every other registered component "
                         "and run the core laws")
    sp.add_argument("--law", action="append", default=[], metavar="ID",
                    help="only laws whose id matches (fnmatch, e.g. 'loss.*'; a family "
                         "name alone means all its laws; repeatable)")
    sp.add_argument("--component", action="append", default=[], metavar="NAME",
                    help="only components whose name matches (fnmatch; a pair matches "
                         "either member; repeatable)")
    sp.add_argument("--profile", choices=PROFILES, default=None,
                    help="hypothesis profile: dev (default, derandomised), ci (more "
                         "examples, derandomised), thorough (many, with a printed seed); "
                         "default $HYPOTHESIS_PROFILE, else ci if $CI is set, else dev")
    sp.add_argument("--seed", type=_seed, default=None, metavar="N",
                    help="explore other examples: seeds hypothesis and the laws' random "
                         "states (reproducible with the same N)")
    sp.add_argument("--slow", action="store_true",
                    help="include the statistical laws marked slow (about 10 s more)")
    sp.add_argument("-x", "--exitfirst", action="store_true",
                    help="stop at the first failure")
    sp.add_argument("--first", action="append", default=[], metavar="ID",
                    help="run the laws matching ID first (with -x, a failure there "
                         "surfaces sooner; repeatable)")
    sp.add_argument("--json", metavar="FILE",
                    help="write the compliance table (law, component, plugin, status, "
                         "reason, seconds) as JSON")
    sp.add_argument("--list", action="store_true", help="list the laws and exit")
    sp.add_argument("-v", "--verbose", action="store_true", help="one line per result")
    sp.set_defaults(func=cmd_spec)
    return sp


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be an integer ≥ 0, got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"--seed must be an integer ≥ 0, got {text!r}")
    return value


def cmd_spec(args) -> int:
    # hypothesis keeps no example database (every profile sets database=None);
    # anything else it writes goes to a temporary folder, not the caller's
    with tempfile.TemporaryDirectory(prefix="deltarule-spec-") as tmp:
        old = os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY")
        os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = tmp
        try:
            from deltarule.specs.runner import main

            return main(args)
        finally:
            if old is None:
                os.environ.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
            else:
                os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = old

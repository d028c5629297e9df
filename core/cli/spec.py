"""``deltarule spec``: run the executable specification suite.

``deltarule spec``                       the whole suite on the installed package
``deltarule spec --plugin mod:attr``     the laws for what that plugin provides,
                                         paired with the bundled components only
                                         (repeatable; ``--installed`` adds the
                                         installed plugins, ``--all`` checks everything)
``deltarule spec --profile thorough``    hypothesis profile: dev, ci or thorough
``deltarule spec --slow``                include the statistical specs (about 10 s)

The suite is pytest running on the installed ``deltarule/specs`` folder with
its own configuration (the caller's ``pytest.ini`` / ``pyproject.toml`` is
not read, and nothing is cached on disk).  The exit status is 0 only if
every spec that ran passed and at least one ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

PROFILES = ("dev", "ci", "thorough")

_INI = """\
[pytest]
python_files = spec_*.py
python_functions = test_*
markers =
    slow: statistical specs (about 10 s; deselect with -m 'not slow')
"""


def add_spec_parser(sub) -> argparse.ArgumentParser:
    """Add the ``spec`` sub-command to the ``deltarule`` subparsers ``sub``."""
    sp = sub.add_parser(
        "spec", help="run the executable specification suite",
        description="Run deltarule's executable specifications (pytest + hypothesis): "
                    "the delta rule, the document's XOR examples, stop criteria and the "
                    "laws every activation, loss, optimizer, initializer and stop "
                    "criterion must obey.  With --plugin, check a third-party plugin's "
                    "components; the exit status is 0 only if everything passes.")
    sp.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR",
                    help="register a plugin and check the components it provides "
                         "(repeatable)")
    sp.add_argument("--all", action="store_true",
                    help="with --plugin: also check every other registered component "
                         "and run the core specs")
    sp.add_argument("--installed", action="store_true",
                    help="with --plugin: also load the installed (entry-point) plugins and "
                         "pair the plugin's components with theirs (default: bundled only)")
    sp.add_argument("--profile", choices=PROFILES, default=None,
                    help="hypothesis profile: dev (fast), ci (derandomised), thorough "
                         "(many examples); default $HYPOTHESIS_PROFILE, else ci if $CI "
                         "is set, else dev")
    sp.add_argument("--slow", action="store_true",
                    help="include the statistical specs marked slow (about 10 s more)")
    sp.add_argument("-k", dest="keyword", default=None, metavar="EXPRESSION",
                    help="only specs whose name matches (pytest -k), e.g. 'sigmoid'")
    sp.add_argument("-v", "--verbose", action="store_true", help="one line per spec")
    sp.add_argument("--pytest-arg", action="append", default=[], metavar="ARG",
                    help="pass an extra argument to pytest (repeatable)")
    sp.set_defaults(func=cmd_spec)
    return sp


@contextmanager
def _env(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def specs_dir() -> Path:
    """The folder of the installed ``deltarule.specs`` package."""
    import importlib.util

    # find_spec, not import: hypothesis must be imported by pytest first (so
    # that pytest can install its assertion rewriting for the hypothesis plugin)
    spec = importlib.util.find_spec("deltarule.specs")
    return Path(spec.submodule_search_locations[0]).resolve()


class _Counter:
    """pytest plugin counting the specs that ran (passed or failed)."""

    def __init__(self):
        self.ran = 0

    def pytest_runtest_logreport(self, report):
        if report.when == "call" and (report.passed or report.failed):
            self.ran += 1


def cmd_spec(args) -> int:
    import pytest

    from ..registry import make_registry

    # fail early and clearly on a plugin that cannot be loaded or is malformed
    installed = not args.plugin or args.installed
    registry = make_registry(args.plugin, entry_points=None if installed else False)
    registry.catalogue()

    pytest_args = [str(specs_dir()), "-p", "deltarule.specs.pytest_plugin",
                   "-p", "no:cacheprovider", "--deltarule-report",
                   "-m", "" if args.slow else "not slow", "-rfE"]
    pytest_args.append("-v" if args.verbose else "-q")
    for path in args.plugin:
        pytest_args += ["--deltarule-plugin", path]
    if args.all:
        pytest_args.append("--deltarule-all")
    if args.installed:
        pytest_args.append("--deltarule-installed")
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    pytest_args += args.pytest_arg

    counter = _Counter()
    with tempfile.TemporaryDirectory(prefix="deltarule-spec-") as tmp:
        ini = Path(tmp) / "pytest.ini"
        ini.write_text(_INI)
        pytest_args += ["-c", str(ini), "--rootdir", str(specs_dir().parent)]
        # hypothesis keeps its example database and caches in the temporary folder
        with _env(HYPOTHESIS_PROFILE=args.profile, HYPOTHESIS_STORAGE_DIRECTORY=tmp):
            code = int(pytest.main(pytest_args, plugins=[counter]))
    # imported after pytest ran: the suite's modules import hypothesis
    from deltarule.specs.onnx_law import missing_runtime

    if missing_runtime():
        print(f"deltarule spec: note: the onnx-export law was skipped: {missing_runtime()}",
              file=sys.stderr)
    if code == 0 and counter.ran == 0:
        what = f"the plugin(s) {', '.join(args.plugin)}" if args.plugin else "the suite"
        print(f"deltarule spec: no spec ran: {what} provide(s) nothing the suite can "
              "check (no activation, loss, optimizer, initializer or stop criterion)",
              file=sys.stderr)
        return 1
    if code == 5:
        print("deltarule spec: no spec was collected", file=sys.stderr)
        return 1
    return code

"""pytest plugin: run deltarule's specification suite on third-party plugins.

Opt-in from any pytest session::

    pytest -p deltarule.specs.pytest_plugin --deltarule-plugin mypkg.plugin:plugin \\
        --pyargs deltarule.specs

``--deltarule-plugin MODULE:ATTR`` (repeatable) registers a plugin; the
component-law specs are then parametrised over the components it provides
(and every activation × loss pair one of them belongs to), and the specs of
the core machinery are deselected.  ``--deltarule-all`` keeps everything:
every component of every registered plugin (bundled, entry points, yours)
and the core specs.  ``--deltarule-report`` prints a table of every
component and check at the end.

The suite's own ``conftest.py`` loads this plugin, so ``pytest`` on the
``deltarule/specs`` folder needs no ``-p``.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import pytest

PLUGIN_NAME = "deltarule.specs.pytest_plugin"
SPECS_DIR = Path(__file__).resolve().parent

_REGISTRY = pytest.StashKey()
_RESULTS = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("deltarule", "deltarule executable specifications")
    try:
        group.addoption(
            "--deltarule-plugin", action="append", default=[], dest="deltarule_plugins",
            metavar="MODULE:ATTR",
            help="register a deltarule plugin and check the components it provides "
                 "(repeatable)")
    except ValueError:  # already added: the plugin was loaded twice (-p and conftest)
        return
    group.addoption(
        "--deltarule-all", action="store_true", dest="deltarule_all",
        help="with --deltarule-plugin: check every registered component and run the "
             "core specs too")
    group.addoption(
        "--deltarule-installed", action="store_true", dest="deltarule_installed",
        help="with --deltarule-plugin: also load the installed (entry-point) plugins, "
             "to pair the plugin's components with theirs; by default only the "
             "bundled components are")
    group.addoption(
        "--deltarule-report", action="store_true", dest="deltarule_report",
        help="print every component × check result at the end")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: statistical specs (about 10 s; deselect with -m 'not slow')")
    config.stash[_RESULTS] = []


def registry_for(config):
    """The registry every spec of this session checks (built once)."""
    if _REGISTRY not in config.stash:
        from deltarule.registry import make_plugin_manager

        paths = config.getoption("deltarule_plugins", default=[]) or []
        # a plugin is checked with the bundled components only, unless asked:
        # someone else's installed plugin must not fail (or clash with) this run
        installed = not paths or config.getoption("deltarule_installed", default=False)
        reg = make_plugin_manager([], entry_points=None if installed else False)
        names = [reg.register(path, origin="user") for path in paths]
        config.stash[_REGISTRY] = (reg, names)
    return config.stash[_REGISTRY]


def _only(config):
    reg, names = registry_for(config)
    if names and not config.getoption("deltarule_all", default=False):
        return names
    return None


def pytest_generate_tests(metafunc):
    from deltarule.specs import checks

    wanted = [f for f in ("activation", "loss", "optimizer", "initializer", "stop")
              if f"{f}_law" in metafunc.fixturenames]
    if not wanted and "network_pair" not in metafunc.fixturenames:
        return
    reg, _ = registry_for(metafunc.config)
    only = _only(metafunc.config)
    subjects = checks.subjects(reg, only)
    for family in wanted:
        params = [(s, item.check) for s in subjects if s.family == family
                  for item in checks.LAWS[family]]
        metafunc.parametrize(f"{family}_law", params,
                             ids=[f"{s.name}-{c}" for s, c in params])
    if "network_pair" in metafunc.fixturenames:
        params = checks.pairs(reg, only)
        metafunc.parametrize("network_pair", params,
                             ids=[f"{a.name}-{l.name}" for a, l in params])


@pytest.fixture
def deltarule_expect(request):
    """``expect(result)``: record a :class:`CheckResult`; fail or skip the test by it."""

    def expect(result):
        request.config.stash[_RESULTS].append(result)
        if result.skipped:
            pytest.skip(f"{result.label}, {result.check}: {result.message}")
        if result.failed:
            pytest.fail(str(result), pytrace=False)
        return result

    return expect


def pytest_collect_file(file_path, parent):
    """Collect ``spec_*.py`` of this package even where ``python_files`` does not
    name them (a plugin author's own session)."""
    if file_path.suffix != ".py" or not fnmatch.fnmatch(file_path.name, "spec_*.py"):
        return None
    try:
        file_path.resolve().relative_to(SPECS_DIR)
    except ValueError:
        return None
    patterns = parent.config.getini("python_files")
    if any(fnmatch.fnmatch(file_path.name, p) for p in patterns):
        return None  # pytest collects it already
    return pytest.Module.from_parent(parent, path=file_path)


def pytest_collection_modifyitems(session, config, items):
    keep, drop = [], []
    only = _only(config)
    for item in items:
        in_suite = _in_specs(item)
        if in_suite and only is not None and not _is_law(item):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


LAW_FIXTURES = ("activation_law", "loss_law", "optimizer_law", "initializer_law",
                "stop_law", "network_pair", "model_axis_subject")


def _is_law(item) -> bool:
    """A component-law spec (parametrised over components), not a core spec."""
    return any(name in LAW_FIXTURES for name in getattr(item, "fixturenames", ()))


def _in_specs(item) -> bool:
    try:
        Path(str(item.path)).resolve().relative_to(SPECS_DIR)
    except ValueError:
        return False
    return True


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(_RESULTS, [])
    if not results:
        return
    from deltarule.specs.checks import Report

    report = Report(results)
    tr = terminalreporter
    if config.getoption("deltarule_report", default=False):
        tr.section("deltarule component laws: every component and check")
        tr.write_line(report.table())
    elif report.failures:
        tr.section("deltarule component laws that failed")
        for r in report.failures:
            tr.write_line(f"FAILED  {r.family} {r.component!r} [plugin {r.plugin}] "
                          f"check {r.check!r}")
    tr.write_line(f"deltarule component laws: {report.summary()}")

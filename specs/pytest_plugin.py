"""pytest plugin: run deltarule's laws inside any pytest session.

Opt-in from a plugin author's own session::

    pytest -p deltarule.specs.pytest_plugin --deltarule-plugin mypkg.plugin:plugin \\
        --pyargs deltarule.specs

``--deltarule-plugin MODULE:ATTR`` (repeatable) registers a plugin; the laws
are then parametrised over the components it provides (and every activation ×
loss pair one of them belongs to), and the laws of the core machinery are left
out.  ``--deltarule-all`` keeps everything: every component of every
registered plugin (bundled, entry points, yours) and the core laws.
``--deltarule-report`` prints the table of every law and subject at the end.
The hypothesis profile comes from ``HYPOTHESIS_PROFILE`` (see
:mod:`deltarule.specs.profiles`).

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
             "core laws too")
    group.addoption(
        "--deltarule-installed", action="store_true", dest="deltarule_installed",
        help="with --deltarule-plugin: also load the installed (entry-point) plugins, "
             "to pair the plugin's components with theirs; by default only the "
             "bundled components are")
    group.addoption(
        "--deltarule-report", action="store_true", dest="deltarule_report",
        help="print every law × subject result at the end")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: statistical specs (about 10 s; deselect with -m 'not slow')")
    config.stash[_RESULTS] = []


def registry_for(config):
    """The registry every law of this session checks (built once)."""
    if _REGISTRY not in config.stash:
        from deltarule import make_registry as make_plugin_manager

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


def _case_id(item, subject) -> str:
    if subject.family == "core":
        return item.id
    return f"{item.id}-{subject.name.replace(' × ', '+')}"


def pytest_generate_tests(metafunc):
    if "deltarule_law" not in metafunc.fixturenames:
        return
    from deltarule.specs import runner

    reg, _ = registry_for(metafunc.config)
    only = _only(metafunc.config)
    todo = runner.plan(reg, only, slow=True)
    params = [pytest.param((item, subject), id=_case_id(item, subject),
                           marks=[pytest.mark.slow] if item.slow else [])
              for item, subject in todo]
    metafunc.parametrize("deltarule_law", params)


@pytest.fixture(scope="session")
def deltarule_runner(request):
    """The session's :class:`deltarule.specs.runner.Runner` (its profile from
    ``$HYPOTHESIS_PROFILE``)."""
    from deltarule.specs.profiles import profile_name
    from deltarule.specs.runner import Runner
    from deltarule.specs.search import Context

    reg, _ = registry_for(request.config)
    return Runner(Context(profile_name(None), None, reg))


@pytest.fixture
def deltarule_expect(request):
    """``expect(result)``: record a :class:`CheckResult`; pass, fail, skip or xfail
    the test by it."""

    def expect(result):
        request.config.stash[_RESULTS].append(result)
        if result.skipped:
            pytest.skip(f"{result.law} {result.component}: {result.message}")
        if result.xfailed:
            pytest.xfail(f"{result.law} {result.component}: {result.reason}")
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


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    results = config.stash.get(_RESULTS, [])
    if not results or not config.getoption("deltarule_report", default=False):
        return
    from deltarule.specs.report import Report

    report = Report(results)
    terminalreporter.section("deltarule laws: every law and subject")
    terminalreporter.write_line(report.table())
    terminalreporter.write_line(f"deltarule laws: {report.summary()}")

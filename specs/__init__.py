"""deltarule's executable specifications, shipped so third parties can run them.

Every law has an id (``activation.derivative``, ``optimizer.lr-scaling``,
``loop.max-epochs``, ...), a statement (its docstring) and a check, registered
in :data:`LAWS`.  ``check_plugin(plugin)`` runs every law that applies to what
a plugin provides and returns a :class:`Report`::

    from deltarule.specs import check_plugin
    check_plugin("mypkg.plugin:plugin").raise_for_failures()

``deltarule spec`` runs them from the command line; ``pytest`` runs them too
(``pytest -p deltarule.specs.pytest_plugin --deltarule-plugin MODULE:ATTR
--pyargs deltarule.specs``).  See ``docs/specs.md``.

Layout: :mod:`~deltarule.specs.registry` (the :func:`law` decorator and
:data:`LAWS`), :mod:`~deltarule.specs.laws` (one module per family),
:mod:`~deltarule.specs.search` (counter-examples, dense sweeps),
:mod:`~deltarule.specs.runner` (subjects, culprits, expected failures, the
``deltarule spec`` command), :mod:`~deltarule.specs.report` (results, summary,
JSON), :mod:`~deltarule.specs.harness` (instruments for real training runs).
"""

# absolute imports: pytest may also import this folder as a top-level "specs"
from deltarule.specs.laws.initializer import no_global_random_state
from deltarule.specs.laws.network import pair_skip_reason
from deltarule.specs.profiles import PROFILES, spec_settings
from deltarule.specs.registry import LAWS, Law, law, load_all, select
from deltarule.specs.report import CheckResult, Report, SpecFailure
from deltarule.specs.runner import Subject, check_component, check_plugin, run

load_all()

__all__ = [
    "LAWS",
    "PROFILES",
    "CheckResult",
    "Law",
    "Report",
    "SpecFailure",
    "Subject",
    "check_component",
    "check_plugin",
    "law",
    "no_global_random_state",
    "pair_skip_reason",
    "run",
    "select",
    "spec_settings",
]

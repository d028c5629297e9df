"""deltarule's executable specifications, shipped so third parties can run them.

``check_plugin(plugin)`` runs every component law that applies to what a
plugin provides and returns a :class:`Report`::

    from deltarule.specs import check_plugin
    check_plugin("mypkg.plugin:plugin").raise_for_failures()

The same laws run as pytest specs (``deltarule spec``, or
``pytest -p deltarule.specs.pytest_plugin --deltarule-plugin MODULE:ATTR
--pyargs deltarule.specs``).  See ``docs/specs.md``.
"""

# absolute imports: pytest may also import this folder as a top-level "specs"
from deltarule.specs.checks import (
    LAWS,
    CheckResult,
    Law,
    Report,
    SpecFailure,
    check_component,
    check_plugin,
    no_global_random_state,
    pair_skip_reason,
    run_all,
)
from deltarule.specs.profiles import PROFILES, spec_settings

__all__ = [
    "LAWS",
    "PROFILES",
    "CheckResult",
    "Law",
    "Report",
    "SpecFailure",
    "check_component",
    "check_plugin",
    "no_global_random_state",
    "pair_skip_reason",
    "run_all",
    "spec_settings",
]

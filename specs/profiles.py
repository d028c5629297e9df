"""Hypothesis profiles for the specification suite.

Three profiles, by name:

``dev``       the default: few examples, derandomised (the same on every run);
``ci``        more examples, derandomised;
``thorough``  many examples, for a release or a new plugin's first run; random
              (``deltarule spec`` draws a seed and prints it, so a failure
              found once is reproduced with ``--seed N``).

Every profile keeps no example database: a verdict never depends on what an
earlier run happened to find.  ``--seed N`` (:class:`deltarule.specs.search.Context`)
turns derandomisation off and seeds hypothesis and the laws' own random states.

The profile comes from ``deltarule spec --profile NAME``, or in a pytest run
from the environment variable ``HYPOTHESIS_PROFILE`` (default: ``ci`` when
the variable ``CI`` is set, else ``dev``).  The settings are applied per spec
(``@spec_settings()``), not loaded globally, so running the suite inside
someone else's pytest session never changes the settings of their own
hypothesis tests.  They are also registered with hypothesis as
``deltarule-dev``, ``deltarule-ci`` and ``deltarule-thorough``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Verbosity, settings

ENV_VAR = "HYPOTHESIS_PROFILE"

# numeric specs: generation is cheap but the bodies (finite differences,
# short training runs) are not, so the timing health checks would misfire
_SUPPRESS = [HealthCheck.too_slow, HealthCheck.data_too_large,
             HealthCheck.differing_executors]

PROFILES: dict[str, settings] = {
    "dev": settings(max_examples=15, deadline=None, derandomize=True, database=None,
                    suppress_health_check=_SUPPRESS, report_multiple_bugs=False),
    "ci": settings(max_examples=30, deadline=None, derandomize=True, database=None,
                   suppress_health_check=_SUPPRESS, report_multiple_bugs=False,
                   print_blob=True),
    "thorough": settings(max_examples=300, deadline=None, database=None,
                         suppress_health_check=_SUPPRESS, report_multiple_bugs=False),
}

for _name, _settings in PROFILES.items():
    settings.register_profile(f"deltarule-{_name}", _settings)


def profile_name(name: str | None = None) -> str:
    """The profile to use: ``name``, else ``$HYPOTHESIS_PROFILE``, else ci
    (when ``$CI`` is set) or dev."""
    if name is None:
        name = os.environ.get(ENV_VAR) or ("ci" if os.environ.get("CI") else "dev")
    if name.startswith("deltarule-"):
        name = name[len("deltarule-"):]
    if name not in PROFILES:
        from deltarule.errors import ConfigError

        raise ConfigError(
            f"unknown hypothesis profile {name!r}; choose one of {', '.join(PROFILES)}"
        )
    return name


def spec_settings(name: str | None = None, *, examples: dict | None = None,
                  **overrides) -> settings:
    """The :class:`hypothesis.settings` of profile ``name`` (see :func:`profile_name`).

    ``examples`` maps profile names to ``max_examples`` for a spec whose
    every example is expensive (e.g. ``{"dev": 3, "ci": 5, "thorough": 40}``);
    ``overrides`` change single settings outright.
    """
    chosen = profile_name(name)
    if examples and chosen in examples:
        overrides.setdefault("max_examples", examples[chosen])
    return settings(PROFILES[chosen], **overrides)


def quiet(s: settings) -> settings:
    """``s`` without hypothesis's own printing (the checks format failures)."""
    return settings(s, verbosity=Verbosity.quiet, database=None)

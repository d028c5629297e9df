"""Loads the suite's pytest plugin (options, parametrisation, report).

``pytest`` on this folder (the repository's ``specs/`` or an installed
``deltarule/specs``) needs no ``-p``: the plugin is registered here unless
the session already loaded it with ``-p deltarule.specs.pytest_plugin``.
Hypothesis profiles are registered by :mod:`deltarule.specs.profiles` and
chosen with ``HYPOTHESIS_PROFILE`` (``dev``, ``ci``, ``thorough``).
"""

import pytest

from deltarule.specs import profiles  # registers the profiles
from deltarule.specs.pytest_plugin import PLUGIN_NAME


def pytest_configure(config):
    # an unknown $HYPOTHESIS_PROFILE is one usage error, not one error per spec module
    from deltarule.errors import ConfigError

    try:
        profiles.profile_name()
    except ConfigError as exc:
        raise pytest.UsageError(f"{exc} (from ${profiles.ENV_VAR})") from None


def pytest_addoption(parser, pluginmanager):
    if not pluginmanager.has_plugin(PLUGIN_NAME):
        from deltarule.specs import pytest_plugin

        pluginmanager.register(pytest_plugin, PLUGIN_NAME)

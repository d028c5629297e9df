"""Loads the suite's pytest plugin (options, parametrisation, report).

``pytest`` on this folder (the repository's ``specs/`` or an installed
``deltarule/specs``) needs no ``-p``: the plugin is registered here unless
the session already loaded it with ``-p deltarule.specs.pytest_plugin``.
Hypothesis profiles are registered by :mod:`deltarule.specs.profiles` and
chosen with ``HYPOTHESIS_PROFILE`` (``dev``, ``ci``, ``thorough``).
"""

from deltarule.specs import profiles  # noqa: F401  (registers the profiles)
from deltarule.specs.pytest_plugin import PLUGIN_NAME


def pytest_addoption(parser, pluginmanager):
    if not pluginmanager.has_plugin(PLUGIN_NAME):
        from deltarule.specs import pytest_plugin

        pluginmanager.register(pytest_plugin, PLUGIN_NAME)

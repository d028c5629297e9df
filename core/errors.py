"""deltarule's exceptions: each says what was wrong and what would be right."""

from __future__ import annotations


class DeltaRuleError(Exception):
    """Base class of every error deltarule raises on purpose."""


class DataError(DeltaRuleError, ValueError):
    """Training or prediction data that cannot be used (NaN, wrong shape, …)."""


class DataTypeError(DeltaRuleError, TypeError):
    """Data that is not numeric."""


class ConfigError(DeltaRuleError, ValueError):
    """A training option out of range or inconsistent with another."""


class UnknownOptionError(ConfigError, TypeError):
    """An option name that neither deltarule nor a registered plugin defines.

    Also a :class:`TypeError`, as an unexpected keyword argument would be.
    """


class UnknownComponentError(DeltaRuleError, ValueError):
    """A component name that no registered plugin provides."""


class ComponentError(DeltaRuleError, TypeError):
    """A component that does not follow its protocol."""


class PluginError(DeltaRuleError, TypeError):
    """A plugin that cannot be registered (unknown hook, bad arguments, …)."""


class ComponentClashError(DeltaRuleError, ValueError):
    """Two third-party plugins provide a component under the same name."""


class ModelFileError(DeltaRuleError, ValueError):
    """A model file that is damaged, foreign or unsafe to load."""


class MissingDependencyError(DeltaRuleError, ImportError):
    """An optional package a feature needs is not installed."""

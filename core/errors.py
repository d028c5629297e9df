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
    """A plugin that cannot be registered (unknown hook, bad arguments, …), or
    one that failed or broke its component's contract during a run.

    For failures during a run, ``plugin`` is the plugin's registered name
    (``None`` for a component given in code), ``component`` what failed
    (``"activation 'swish'"``, ``"hook deltarule_stop"``), ``hook`` the
    method or hook (``"forward"``), ``epoch`` the epoch (0: before the first),
    and ``original`` the exception raised, also chained as ``__cause__``.
    When the loop refused a value a component returned, ``culprit`` is that
    component and ``problem`` what was wrong with the value.
    """

    plugin: str | None = None
    component: str | None = None
    hook: str | None = None
    epoch: int | None = None
    original: BaseException | None = None
    culprit: object = None  # the component whose returned value the loop refused
    problem: str | None = None


class ComponentClashError(DeltaRuleError, ValueError):
    """Two third-party plugins provide a component under the same name."""


class ModelFileError(DeltaRuleError, ValueError):
    """A model file that is damaged, foreign or unsafe to load."""


class MissingDependencyError(DeltaRuleError, ImportError):
    """An optional package a feature needs is not installed."""


class ExportError(DeltaRuleError, ValueError):
    """A model that cannot be exported (e.g. an activation without an ONNX lowering)."""


# -- warnings: something worth knowing that does not stop the run ----------
#
# All of them are ``DeltaRuleWarning``s, so one filter silences or raises the
# whole family:  ``warnings.simplefilter("error", deltarule.DeltaRuleWarning)``.
# The command line prints them as ``note:`` lines.


class DeltaRuleWarning(UserWarning):
    """Base class of every warning deltarule emits."""


class DivergenceWarning(DeltaRuleWarning):
    """The loss became NaN or infinite; the last finite parameters were kept."""


class SaturationWarning(DeltaRuleWarning):
    """Every output sits at the edge of its range: the learning rate is likely
    too large or the inputs unscaled, and the gradients have vanished."""


class ClassTargetWarning(DeltaRuleWarning):
    """The targets look like class labels but the run treats them as numbers
    (no one-hot encoding, no class-aware output and loss)."""


class PluginShadowWarning(DeltaRuleWarning):
    """A plugin registered explicitly provides a component under the same name
    as an installed (entry-point) plugin, and is used instead."""


class ConvergenceWarning(DeltaRuleWarning):
    """The run stopped at ``max_epochs`` while the loss was still falling."""


class KernelWarning(DeltaRuleWarning):
    """numba is installed but deltarule's compiled kernels failed to load; the
    NumPy kernels run instead (the same numbers, slower)."""

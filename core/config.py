"""Every run option once: its name, default, check and one line of documentation.

The core options (:data:`CORE_OPTIONS`) are read by the trainer and the loop.
Plugins declare the options *they* read with the ``deltarule_options`` hook
— the bundled stop criteria declare ``target_loss``, ``patience``,
``min_delta``, ``time_budget`` and ``gradient_tol`` that way — and a
third-party plugin's options are then accepted by :func:`deltarule.train`,
:class:`deltarule.Trainer` and ``deltarule train --option NAME=VALUE``
exactly like the core ones.

:func:`declared` collects the options of a :class:`~deltarule.Registry`;
:func:`resolve` turns what a caller passed into the run's complete option
dict (defaults filled in, every value checked), raising
:class:`~deltarule.ConfigError` — with a did-you-mean for a misspelled name —
before any data is read.  ``train``, ``Trainer``, the command line, the
presets (:mod:`deltarule.datasets`) and the scikit-learn estimators all go
through here.
"""

from __future__ import annotations

import difflib
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from .errors import ConfigError, PluginError, UnknownOptionError
from .threads import check_threads
from .validation import as_dtype, check_layers, check_positive


@dataclass(frozen=True)
class Option:
    """One run option: ``name``, ``default``, ``check`` and ``doc``.

    ``check(value, name) -> value`` returns the value to use (normalised,
    e.g. ``3`` → ``3.0``) or raises :class:`~deltarule.ConfigError` naming
    the option and what it accepts; it is not called for ``None`` when the
    default is ``None`` (``None`` then means "off").  ``stops=True`` marks a
    stop criterion's setting: a run with ``max_epochs=None`` is accepted
    only if some such setting is on.
    """

    name: str
    default: Any
    check: Callable[[Any, str], Any] | None = None
    doc: str = ""
    stops: bool = False

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise PluginError(f"an option name must be a Python identifier, got {self.name!r}")
        if self.check is not None and not callable(self.check):
            raise PluginError(f"option {self.name!r}: check must be callable, got {self.check!r}")

    def validate(self, value):
        """``value`` checked (and normalised) for this option."""
        if self.check is None or (value is None and self.default is None):
            return value
        return self.check(value, self.name)


# -- checks (also for plugins' own options) -----------------------------------


def positive(value, name: str):
    """A number ``> 0`` (``bool`` refused)."""
    return check_positive(value, name)


def positive_int(value, name: str):
    """A whole number ``≥ 1``."""
    return check_positive(value, name, integer=True)


def seconds(value, name: str) -> float:
    """A duration in seconds ``> 0``."""
    return check_positive(value, f"{name} (seconds)")


def number(value, name: str) -> float:
    """Any real number but NaN, as a ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ConfigError(f"{name} must be a number or None, got {value!r}")
    return float(value)


def non_negative(value, name: str) -> float:
    """A real number ``≥ 0``, as a ``float``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
        raise ConfigError(f"{name} must be a number ≥ 0, got {value!r}")
    return float(value)


def fraction(value, name: str) -> float:
    """A real number strictly between 0 and 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 < value < 1:
        raise ConfigError(
            f"{name} must be a fraction strictly between 0 and 1, got {value!r}"
        )
    return float(value)


def boolean(value, name: str) -> bool:
    """``True`` or ``False`` (also NumPy's, and the integers 0 and 1)."""
    if isinstance(value, (bool, np.bool_)) or (
        isinstance(value, numbers.Integral) and value in (0, 1)
    ):
        return bool(value)
    raise ConfigError(f"{name} must be True or False, got {value!r}")


def _dtype(value, name: str) -> str:
    return as_dtype(value).name


def _threads(value, name: str):
    return check_threads(value)


def _layers(value, name: str) -> tuple[int, ...]:
    return check_layers(value)


def _seed(value, name: str):
    if isinstance(value, bool) or not isinstance(
        value, (int, np.integer, np.random.Generator, np.random.SeedSequence)
    ) or (isinstance(value, (int, np.integer)) and value < 0):
        raise ConfigError(
            f"seed must be a non-negative int, a numpy.random.Generator or None, "
            f"got {value!r}"
        )
    return value


def _options_dict(value, name: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(
            f"{name} must be a dict such as {{'beta1': 0.9}}, got {value!r}"
        )
    return value


def _lr(value, name: str):
    return check_positive(value, "lr (the learning rate)")


def _max_epochs(value, name: str):
    return check_positive(value, name, integer=True, allow_none=True)


# the trainer resolves the component options against the catalogue, where an
# unknown name gets its own did-you-mean; here they are only named and documented
CORE_OPTIONS: tuple[Option, ...] = (
    Option("layers", None, _layers,
           "layer widths, inputs first [inferred: n_features, 3, n_outputs]"),
    Option("activation", "sigmoid", None,
           "one activation for every layer, or a list with one per layer"),
    Option("loss", "mse", None, "the loss"),
    Option("optimizer", "sgd", None, "the optimizer"),
    Option("init", "randn", None,
           "the initializer, or explicit parameters [(W1, b1), ...]"),
    Option("lr", 0.1, _lr, "the learning rate η"),
    Option("optimizer_options", None, _options_dict,
           "further hyper-parameters of the optimizer, e.g. {'beta1': 0.9}"),
    Option("max_epochs", 10000, _max_epochs, "stop after this many epochs (None: no limit)",
           stops=True),
    Option("batch_size", None, positive_int, "mini-batch rows (None: the whole data)"),
    Option("shuffle", True, boolean, "reshuffle the rows every epoch (mini-batches)"),
    Option("validation_split", None, fraction,
           "hold out this fraction of the rows to measure the validation loss"),
    Option("seed", None, _seed, "int, numpy Generator or None: the only source of randomness"),
    Option("dtype", "float64", _dtype, "'float64' or 'float32', end to end"),
    Option("threads", None, _threads, "cap the BLAS threads during the run (threadpoolctl)"),
    Option("l2", 0.0, non_negative,
           "L2 penalty ½ l2 Σ‖W_l‖² on the weights (not the biases), added to every "
           "batch's loss (divided by its rows, or total sample weight, for a 'mean' loss)"),
)

CORE = {opt.name: opt for opt in CORE_OPTIONS}

# options that are not run options but arguments of train()/Trainer()
NOT_OPTIONS = {
    "X": "the inputs",
    "y": "the targets",
    "plugins": "plugins registered for this run only",
    "entry_points": "whether to load the 'deltarule' entry-point group",
    "validation_data": "held-out rows given explicitly (instead of validation_split)",
}

# names people reach for, from other libraries, mapped to deltarule's
ALIASES = {
    "learning_rate": "lr",
    "learning_rate_init": "lr",
    "epochs": "max_epochs",
    "n_epochs": "max_epochs",
    "max_iter": "max_epochs",
    "random_state": "seed",
    "validation_fraction": "validation_split",
    "hidden_layer_sizes": "layers",
    "early_stopping": "patience",
    "n_iter_no_change": "patience",
    "tol": "min_delta",
}


def declared(registry) -> dict[str, Option]:
    """The core options plus those the registry's plugins declare, by name.

    A plugin may not redeclare a core option or another plugin's option.
    """
    options = dict(CORE)
    owner = {name: "deltarule" for name in options}
    for impl in reversed(registry.implementations("deltarule_options")):
        try:
            provided = impl.call()
        except Exception as exc:
            raise PluginError(
                f"plugin {impl.plugin!r} ({impl.origin}) failed in deltarule_options(): "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        for opt in _as_options(provided, impl.plugin):
            if opt.name in options:
                raise PluginError(
                    f"plugin {impl.plugin!r} declares the option {opt.name!r}, which "
                    f"{owner[opt.name]!r} already declares; rename the plugin's option"
                )
            options[opt.name] = opt
            owner[opt.name] = impl.plugin
    return options


def _as_options(provided, plugin: str) -> list[Option]:
    if provided is None:
        return []
    items = list(provided) if isinstance(provided, (list, tuple)) else [provided]
    for opt in items:
        if not isinstance(opt, Option):
            raise PluginError(
                f"plugin {plugin!r} returned {opt!r} from deltarule_options(); return "
                "deltarule.Option(name, default, check, doc) objects"
            )
    return items


def suggest(name: str, known) -> str:
    """`` (did you mean 'x'?)`` for a misspelled option name, or ``""``."""
    alias = ALIASES.get(name)
    if alias in known:
        return f" (did you mean {alias!r}?)"
    close = difflib.get_close_matches(name, sorted(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_names(given: Mapping[str, Any], options: Mapping[str, Option]) -> None:
    """Raise :class:`UnknownOptionError` for any name ``options`` does not define."""
    unknown = sorted(set(given) - set(options))
    if unknown:
        hint = suggest(unknown[0], options)
        raise UnknownOptionError(
            f"unknown training option(s) {unknown}{hint}; known options: "
            f"{', '.join(sorted(options))}"
        )


def resolve(given: Mapping[str, Any], options: Mapping[str, Option]) -> dict[str, Any]:
    """Every option of ``options``: the given value, checked, else the default."""
    check_names(given, options)
    config = {}
    for name, opt in options.items():
        config[name] = opt.validate(given[name]) if name in given else opt.default
    return config


def check_can_stop(config: Mapping[str, Any], options: Mapping[str, Option],
                   third_party_stop: bool) -> None:
    """Refuse a run that nothing would stop."""
    if third_party_stop:
        return
    stops = [name for name, opt in options.items() if opt.stops]
    if all(config.get(name) is None for name in stops):
        raise ConfigError(
            "max_epochs=None with no other stop criterion would train forever; "
            f"set {', '.join(stops[:-1])} or {stops[-1]}"
        )

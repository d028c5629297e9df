"""What a component of each family must (and may) offer.

The four component families and their hooks::

    family          hook                      singular
    initializers    deltarule_initializers    initializer
    activations     deltarule_activations     activation
    losses          deltarule_losses          loss
    optimizers      deltarule_optimizers      optimizer

:func:`validate_component` raises :class:`~deltarule.ComponentError` when a
component lacks a required member; it runs once per component, when the
catalogue is collected or a component object is passed in directly.
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from .errors import ComponentError

FAMILIES = {
    "initializers": "deltarule_initializers",
    "activations": "deltarule_activations",
    "losses": "deltarule_losses",
    "optimizers": "deltarule_optimizers",
}

SINGULAR = {
    "initializers": "initializer",
    "activations": "activation",
    "losses": "loss",
    "optimizers": "optimizer",
}

# what each family's components must offer: every group needs one of its members
REQUIRED = {
    "activations": (("forward",), ("derivative", "vjp")),
    "losses": (("value", "gradient"),),
    "optimizers": (),
    "initializers": (),
}


def validate_component(comp: Any, family: str, plugin: str = "<direct>") -> None:
    """Raise :class:`ComponentError` unless ``comp`` follows its family's protocol."""
    name = getattr(comp, "name", None)
    if not isinstance(name, str) or not name:
        raise ComponentError(
            f"plugin {plugin!r} returned {_article(SINGULAR[family])} without a string 'name' "
            f"attribute: {comp!r}"
        )
    for alternatives in REQUIRED[family]:
        if not any(callable(getattr(comp, m, None)) for m in alternatives):
            need = " or ".join(f"{m}()" for m in alternatives)
            raise ComponentError(
                f"{SINGULAR[family]} {name!r} from plugin {plugin!r} has no {need}; "
                f"see the {SINGULAR[family]} protocol in docs/protocols.md"
            )
    if family in ("optimizers", "initializers") and not callable(comp):
        what = (
            "a factory (class or callable) building an object with step(params, grads)"
            if family == "optimizers"
            else "callable as init(layer_sizes, rng, dtype)"
        )
        raise ComponentError(
            f"{SINGULAR[family]} {name!r} from plugin {plugin!r} must be {what}"
        )


def _article(noun: str) -> str:
    """``an activation``, ``a loss``."""
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def accepts_keyword(method, name: str) -> bool:
    """Whether ``method`` takes a keyword argument ``name`` (or ``**kwargs``)."""
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def accepts_out(method) -> bool:
    """Whether a component method takes an ``out`` buffer (decided once per function)."""
    function = getattr(method, "__func__", method)
    try:
        return _function_accepts_out(function)
    except TypeError:  # an unhashable callable object
        return _function_accepts_out.__wrapped__(function)


@lru_cache(maxsize=256)
def _function_accepts_out(function) -> bool:
    try:
        return "out" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False

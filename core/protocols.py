"""What a component of each family must (and may) offer.

One :class:`typing.Protocol` per family names the required members; the
optional ones are listed beside it.  :func:`capabilities` finds which
optional members a component has, once; the workspace (the loop), the
model files, the trainer and the spec suite all ask it rather than probing
with ``getattr`` themselves.

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
from dataclasses import dataclass
from functools import lru_cache
from types import FunctionType
from typing import Any, Protocol, runtime_checkable

import numpy as np

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


@runtime_checkable
class Activation(Protocol):
    """``a = f(z)`` element-wise or per row; ``z``, ``a``: ``(n_samples, n_units)``.

    Required: ``name``, ``forward(z)``, and either ``derivative(z, a) -> f'(z)``
    (element-wise) or ``vjp(z, a, g) -> g · ∂a/∂z`` (units coupled, softmax);
    an element-wise activation may give both, and the loop then calls ``vjp``
    (:func:`uses_vjp`).
    Optional: ``out=`` on ``forward``/``derivative``/``vjp`` (write into the
    loop's buffer), ``options()`` / ``configure(**options)``, ``lower_onnx(g,
    z) -> str`` (ONNX export: adds the nodes computing ``f(z)`` through the
    graph builder ``g``, returns their result's name; docs/export.md), and
    the spec declarations ``domain``, ``kinks``, ``output_range``.
    """

    name: str

    def forward(self, z: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Loss(Protocol):
    """``L(y, ŷ)`` summed over outputs; ``y``, ``ŷ``: ``(n_samples, n_outputs)``.

    Required: ``name``, ``value(y, y_hat) -> float``, ``gradient(y, y_hat)
    -> ∂L/∂ŷ``.  Optional: ``out=`` on ``gradient``; ``value_and_gradient(y,
    y_hat[, out=])`` (one pass for both); ``fused_delta(activation)`` (returns
    ``f(y, y_hat, z, out) -> L`` writing ``δ_L`` directly, or ``None``);
    ``check_targets(y)`` (once per run, raises ``ValueError``); ``reduction``
    (``"sum"`` or ``"mean"`` over samples); ``options()`` / ``configure``;
    the spec declarations ``targets``, ``predictions``, ``minimum``.
    """

    name: str

    def value(self, y: np.ndarray, y_hat: np.ndarray) -> float: ...

    def gradient(self, y: np.ndarray, y_hat: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Optimizer(Protocol):
    """A built optimizer: ``step(params, grads)`` updates ``params`` in place.

    The catalogue holds optimizer *factories*: ``factory(lr=..., **options)``
    builds one per run.  ``step`` must not modify ``grads``.  Optional:
    ``options()``, and the factory's spec declarations ``spec_options``,
    ``spec_steps``.
    """

    def step(self, params: list[np.ndarray], grads: list[np.ndarray]) -> None: ...


@runtime_checkable
class Initializer(Protocol):
    """``init(layer_sizes, rng, dtype) -> [(W1, b1), ...]``, every draw from ``rng``.

    ``W_l``: ``(layer_sizes[l-1], layer_sizes[l])``, ``b_l``: ``(layer_sizes[l],)``.
    Optional: the spec declaration ``deterministic``.
    """

    name: str

    def __call__(self, layer_sizes, rng: np.random.Generator, dtype) -> list: ...


PROTOCOLS = {
    "activations": Activation,
    "losses": Loss,
    "optimizers": Optimizer,
    "initializers": Initializer,
}


@dataclass(frozen=True)
class Capabilities:
    """The optional members a component offers (see the family protocols).

    ``*_out``: the method takes an ``out=`` buffer.  ``elementwise``: an
    activation with ``derivative`` (else it needs ``vjp``).  ``backward_vjp``:
    the loop's backward step calls ``vjp`` (``g ⊙ f'(z)`` fused) rather than
    ``derivative`` — see :func:`uses_vjp`.  ``lower_onnx``:
    an activation that can be exported to ONNX.  ``reduction``:
    a loss's ``"sum"`` or ``"mean"`` (``"sum"`` when undeclared).
    ``value_weights``: a loss whose ``value`` takes ``weights=`` (sample
    weights).
    """

    forward_out: bool = False
    elementwise: bool = False
    derivative_out: bool = False
    vjp: bool = False
    vjp_out: bool = False
    backward_vjp: bool = False
    gradient_out: bool = False
    value_and_gradient: bool = False
    value_and_gradient_out: bool = False
    fused_delta: bool = False
    check_targets: bool = False
    step: bool = False
    configure: bool = False
    options: bool = False
    lower_onnx: bool = False
    reduction: str = "sum"
    value_weights: bool = False


def uses_vjp(activation: Any) -> bool:
    """Whether the loop's backward step calls ``vjp`` for ``activation``.

    ``vjp`` when it has one and no ``derivative``; when it has both, ``vjp``
    only if it is defined at least as close to the object as ``derivative``
    (on the instance, or on the same class or a subclass of the one defining
    ``derivative``): a subclass that overrides ``derivative`` (or ``forward``
    and ``derivative``) of ReLU keeps its own gradient, not the parent's
    fused ``vjp``.
    """
    if not callable(getattr(activation, "vjp", None)):
        return False
    if not callable(getattr(activation, "derivative", None)):
        return True
    return _definition_rank(activation, "vjp") <= _definition_rank(activation, "derivative")


def _definition_rank(obj: Any, name: str) -> int:
    """0 when ``obj`` itself holds ``name``; else 1 + the index in its MRO of the
    class defining it (later = further from the object)."""
    if name in getattr(obj, "__dict__", {}):
        return 0
    for i, cls in enumerate(type(obj).__mro__, start=1):
        if name in cls.__dict__:
            return i
    return len(type(obj).__mro__) + 1  # e.g. provided by __getattr__: the farthest


def capabilities(component: Any) -> Capabilities:
    """What optional members ``component`` has, found once (no call is made)."""

    def has(member: str) -> bool:
        return callable(getattr(component, member, None))

    def out(member: str) -> bool:
        return has(member) and accepts_out(getattr(component, member))

    return Capabilities(
        forward_out=out("forward"),
        elementwise=has("derivative"),
        derivative_out=out("derivative"),
        vjp=has("vjp"),
        vjp_out=out("vjp"),
        backward_vjp=uses_vjp(component),
        gradient_out=out("gradient"),
        value_and_gradient=has("value_and_gradient"),
        value_and_gradient_out=out("value_and_gradient"),
        fused_delta=has("fused_delta"),
        check_targets=has("check_targets"),
        step=has("step") and not inspect.isclass(component),
        configure=has("configure"),
        options=has("options"),
        lower_onnx=has("lower_onnx"),
        reduction=getattr(component, "reduction", "sum"),
        value_weights=has("value") and accepts_keyword(component.value, "weights"),
    )


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
    """Whether ``method`` takes a keyword argument ``name`` (or ``**kwargs``),
    decided once per plain function (a bound method's ``self`` changes
    neither); other callables are asked every time, so the cache never holds
    a user's object alive or mistakes one equal object for another."""
    function = getattr(method, "__func__", method)
    if isinstance(function, FunctionType):
        return _function_accepts_keyword(function, name)
    return _function_accepts_keyword.__wrapped__(method, name)


@lru_cache(maxsize=256)
def _function_accepts_keyword(function, name: str) -> bool:
    try:
        params = inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def accepts_out(method) -> bool:
    """Whether a component method takes an ``out`` buffer (decided once per
    plain function, as :func:`accepts_keyword`)."""
    function = getattr(method, "__func__", method)
    if isinstance(function, FunctionType):
        return _function_accepts_out(function)
    return _function_accepts_out.__wrapped__(method)


@lru_cache(maxsize=256)
def _function_accepts_out(function) -> bool:
    try:
        return "out" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False

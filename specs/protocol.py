"""What the laws read from a component: its capabilities and declarations.

Declarations are optional attributes (``kinks``, ``domain``,
``output_range`` for activations; ``minimum``, ``targets``, ``predictions``,
``reduction`` for losses; ``spec_options``, ``spec_steps`` for optimizers;
``deterministic`` for initializers; ``expected_failures`` for any); see
``docs/specs.md``.
"""

from __future__ import annotations

import math

import numpy as np

from deltarule.protocols import accepts_out, capabilities  # noqa: F401  (re-exported)
from deltarule.specs.search import Violation


def is_elementwise(act) -> bool:
    return capabilities(act).elementwise


def domain(act) -> tuple[float, float]:
    lo, hi = getattr(act, "domain", (-10.0, 10.0))
    lo, hi = float(lo), float(hi)
    lo = max(lo, -1e6) if math.isfinite(lo) or lo < 0 else -10.0
    hi = min(hi, 1e6) if math.isfinite(hi) or hi > 0 else 10.0
    if not lo < hi:
        raise Violation(f"declares domain {getattr(act, 'domain')!r}; it must be "
                        "(lo, hi) with lo < hi")
    return lo, hi


def kinks(act) -> np.ndarray:
    return np.asarray(tuple(getattr(act, "kinks", ()) or ()), dtype=np.float64)


def near_kink(z: np.ndarray, ks: np.ndarray, radius) -> np.ndarray:
    """Mask of the entries of ``z`` within ``radius`` (scalar or like z) of a kink."""
    if not ks.size:
        return np.zeros(z.shape, dtype=bool)
    radius = np.broadcast_to(np.asarray(radius, dtype=np.float64), z.shape)
    return (np.abs(z[..., None] - ks) <= radius[..., None]).any(axis=-1)


TARGETS = ("real", "binary", "one_hot")
PREDICTIONS = ("real", "unit", "simplex")


def loss_kinds(loss) -> tuple[str, str]:
    t = getattr(loss, "targets", "real")
    p = getattr(loss, "predictions", "real")
    if t not in TARGETS:
        raise Violation(f"declares targets={t!r}; expected one of {TARGETS}")
    if p not in PREDICTIONS:
        raise Violation(f"declares predictions={p!r}; expected one of {PREDICTIONS}")
    return t, p


def loss_value(loss, y, y_hat) -> float:
    v = loss.value(y, y_hat)
    if np.ndim(v) != 0:
        raise Violation(f"value(y, y_hat) returned {v!r}, not a scalar")
    return float(v)


def configure(component, **options):
    """A copy of ``component`` with ``options`` (as ``(name, {options})`` does)."""
    if hasattr(component, "configure"):
        return component.configure(**options)
    current = getattr(component, "options", None)
    current = dict(current()) if callable(current) else {}
    return type(component)(**{**current, **options})


def option_names(component) -> set[str]:
    current = getattr(component, "options", None)
    return set(current()) if callable(current) else set()


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

"""The swish activation as a deltarule plugin package.

``f(z) = z · σ(βz)`` (Ramachandran et al., 2017; ``β = 1`` is also called
SiLU), beside its derivative::

    f'(z) = σ(βz) + βz · σ(βz) (1 − σ(βz)) = β a + σ(βz) (1 − β a)

with ``a = f(z)``.  Arrays are ``(n_samples, n_units)``.  ``lower_onnx``
lets ``deltarule export`` / ``deltarule.to_onnx`` write models using swish
as ONNX graphs (docs/export.md).

Installed, this package declares the entry point
``[project.entry-points.deltarule] swish = "deltarule_swish:plugin"``, so
``deltarule train xor --activation swish`` finds it with no import or flag.
"""

from __future__ import annotations

import math

import numpy as np

import deltarule

__all__ = ["Swish", "SwishPlugin", "plugin"]

# min over z of z σ(z), reached at z ≈ −1.2785; it scales as 1/β
_MIN_AT_BETA_1 = -0.2784645427610738


def _sigmoid(x: np.ndarray) -> np.ndarray:
    # e^{-x} overflows to inf for x < -709 and the result is then 0, its limit
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


class Swish:
    """``f(z) = z σ(βz)``; ``f'(z) = β a + σ(βz) (1 − β a)``.

    ``beta > 0`` (default 1).  ``forward`` and ``derivative`` accept an
    optional ``out`` buffer and never modify their inputs.
    """

    name = "swish"
    kinks = ()  # smooth everywhere

    def __init__(self, beta: float = 1.0):
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) \
                or not math.isfinite(beta) or beta <= 0:
            raise ValueError(f"swish: beta must be a positive number, got {beta!r}")
        self.beta = float(beta)
        # declared for the spec suite: every output lies in this range
        self.output_range = (_MIN_AT_BETA_1 / self.beta - 1e-12, math.inf)

    def __repr__(self) -> str:
        return f"Swish(beta={self.beta!r})"

    def options(self) -> dict:
        return {"beta": self.beta}

    def forward(self, z, out=None):
        s = _sigmoid(self.beta * z)
        return np.multiply(z, s, out=out)

    def derivative(self, z, a, out=None):
        s = _sigmoid(self.beta * z)
        ba = self.beta * a
        # β a + s (1 − β a)
        out = np.subtract(1.0, ba, out=out)
        np.multiply(out, s, out=out)
        return np.add(out, ba, out=out)

    def lower_onnx(self, g, z):
        """The ONNX lowering for ``deltarule.to_onnx``: ``z · 1 / (1 + e^{−βz})``.

        ``g.op`` adds an ONNX operator and returns its output's name; ``g.const``
        is a constant in the graph's dtype.  The sigmoid is spelt out as
        ``forward`` computes it (onnxruntime's ``Sigmoid`` is less accurate).
        """
        one = g.const(1.0)
        bz = g.op("Mul", z, g.const(self.beta))
        s = g.op("Div", one, g.op("Add", one, g.op("Exp", g.op("Neg", bz))))
        return g.op("Mul", z, s)


class SwishPlugin:
    """The plugin object: provides one :class:`Swish` activation."""

    name = "swish"

    @deltarule.hookimpl
    def deltarule_activations(self):
        return [Swish()]


plugin = SwishPlugin()

"""Losses: ``value(y, y_hat) -> float`` beside ``gradient(y, y_hat) -> dL/dŷ``.

``y`` and ``y_hat`` are ``(n_samples, n_outputs)``.
"""

from __future__ import annotations

import numpy as np

from deltarule.hookspecs import hookimpl

REDUCTIONS = ("sum", "mean")


def _check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(
            f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}"
        )


class MSE:
    """Squared error ``L = ½ Σ_i Σ_k (ŷ_ik − y_ik)²``; ``∂L/∂ŷ = ŷ − y``.

    ``reduction="sum"`` (the default) sums over samples: its gradient step is
    the document's ``w += lr · aᵀδ``.  ``reduction="mean"`` divides both by
    ``n_samples``.
    """

    name = "mse"
    minimum = 0.0

    def __init__(self, reduction="sum"):
        _check_reduction(self.name, reduction)
        self.reduction = reduction

    def __repr__(self):
        return f"MSE(reduction={self.reduction!r})"

    def options(self):
        return {"reduction": self.reduction}

    def value(self, y, y_hat):
        diff = np.subtract(y_hat, y)
        v = 0.5 * float(np.vdot(diff, diff))
        return v / len(y) if self.reduction == "mean" else v

    def gradient(self, y, y_hat, out=None):
        out = np.subtract(y_hat, y, out)
        if self.reduction == "mean":
            np.multiply(out, 1.0 / len(y), out)
        return out

    def value_and_gradient(self, y, y_hat, out=None):
        """Both at once, sharing ``ŷ − y``: the loop's per-step call."""
        out = np.subtract(y_hat, y, out)
        v = 0.5 * float(np.vdot(out, out))
        if self.reduction == "mean":
            scale = 1.0 / len(y)
            np.multiply(out, scale, out)
            v *= scale
        return v, out


@hookimpl
def deltarule_losses():
    return [MSE()]

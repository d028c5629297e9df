"""Optimizers: factories building a per-run object with ``step(params, grads)``.

``params`` and ``grads`` are matching lists of arrays; ``step`` updates each
parameter array in place.  The loop may hand over the whole parameter vector
as a single array, so updates must be element-wise.
"""

from __future__ import annotations

import math

import numpy as np

from deltarule.hookspecs import hookimpl


def _check_lr(lr):
    if not isinstance(lr, (int, float, np.floating, np.integer)) or isinstance(lr, bool):
        raise TypeError(f"lr must be a positive number, got {lr!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    return float(lr)


class SGD:
    """Plain gradient descent: ``θ ← θ − lr · g``."""

    name = "sgd"

    def __init__(self, lr=0.1):
        self.lr = _check_lr(lr)
        self._scratch = None

    def options(self):
        return {"lr": self.lr}

    def step(self, params, grads):
        scratch = self._scratch
        if scratch is None or len(scratch) != len(grads):
            scratch = self._scratch = [np.empty_like(g) for g in grads]
        lr = self.lr
        for p, g, s in zip(params, grads, scratch):
            np.multiply(g, lr, s)
            np.subtract(p, s, p)



@hookimpl
def deltarule_optimizers():
    return [SGD]

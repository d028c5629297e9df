"""Activations: ``forward(z) -> a`` beside its derivative ``derivative(z, a)``.

Arrays are ``(n_samples, n_units)``.  The bundled activations accept an
optional ``out`` buffer so the loop can reuse memory; third-party ones need
not.
"""

from __future__ import annotations

import numpy as np

from deltarule.hookspecs import hookimpl


class Sigmoid:
    """``σ(z) = 1 / (1 + e^{-z})``; ``σ'(z) = a (1 - a)`` with ``a = σ(z)``.

    Computed exactly as the document writes it, so the seed's numbers are
    reproduced to the last bit.  ``e^{-z}`` overflows to ``inf`` for
    ``z < -709`` and the result is then exactly 0, its true limit.
    """

    name = "sigmoid"
    output_range = (0.0, 1.0)

    def forward(self, z, out=None):
        out = np.negative(z, out)
        np.exp(out, out)
        np.add(out, 1.0, out)
        return np.divide(1.0, out, out)

    def derivative(self, z, a, out=None):
        out = np.subtract(1.0, a, out)
        return np.multiply(a, out, out)


@hookimpl
def deltarule_activations():
    return [Sigmoid()]

"""Initializers: ``init(layer_sizes, rng, dtype) -> [(W1, b1), (W2, b2), ...]``.

``W_l`` has shape ``(layer_sizes[l-1], layer_sizes[l])`` and ``b_l`` shape
``(layer_sizes[l],)``.  Every random number comes from ``rng``, the run's
:class:`numpy.random.Generator`.
"""

from __future__ import annotations

import numpy as np

from deltarule.hookspecs import hookimpl


class RandN:
    """Standard normal weights and biases, drawn in the document's order.

    ``W1 ~ N(0, 1)``, ``b1 ~ N(0, 1)``, ``W2 ~ N(0, 1)``, … — the seed's
    ``np.random.randn`` calls, but from the run's Generator.
    """

    name = "randn"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        return [
            (
                rng.standard_normal((n_in, n_out), dtype=dtype),
                rng.standard_normal(n_out, dtype=dtype),
            )
            for n_in, n_out in zip(layer_sizes[:-1], layer_sizes[1:])
        ]


@hookimpl
def deltarule_initializers():
    return [RandN()]

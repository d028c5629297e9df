"""Initializers: ``init(layer_sizes, rng, dtype) -> [(W1, b1), (W2, b2), ...]``.

``W_l`` has shape ``(layer_sizes[l-1], layer_sizes[l])`` and ``b_l`` shape
``(layer_sizes[l],)``, both of ``dtype``.  Every random number comes from
``rng``, the run's :class:`numpy.random.Generator`, layer by layer in order.

For ``W_l`` write ``n_in = layer_sizes[l-1]`` (fan-in) and ``n_out =
layer_sizes[l]`` (fan-out).  The scaled schemes keep the variance of the
activations (Glorot) or of the ReLU activations (He) roughly constant from
layer to layer; they start the biases at zero.
"""

from __future__ import annotations

import math

import numpy as np

from deltarule.errors import ConfigError
from deltarule.hookspecs import hookimpl


def _pairs(layer_sizes):
    return list(zip(layer_sizes[:-1], layer_sizes[1:]))


def _uniform(rng, shape, limit, dtype):
    """``U[-limit, limit)`` in ``dtype``."""
    w = rng.random(shape, dtype=dtype)
    np.multiply(w, 2.0 * limit, w)
    np.subtract(w, limit, w)
    return w


def _normal(rng, shape, std, dtype):
    """``N(0, std²)`` in ``dtype``."""
    w = rng.standard_normal(shape, dtype=dtype)
    np.multiply(w, std, w)
    return w


class RandN:
    """Standard normal weights and biases, drawn in the document's order.

    ``W1 ~ N(0, 1)``, ``b1 ~ N(0, 1)``, ``W2 ~ N(0, 1)``, … — the seed's
    ``np.random.randn`` calls, but from the run's Generator.
    """

    name = "randn"

    def __repr__(self):
        return "RandN()"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        return [
            (
                rng.standard_normal((n_in, n_out), dtype=dtype),
                rng.standard_normal(n_out, dtype=dtype),
            )
            for n_in, n_out in _pairs(layer_sizes)
        ]


class _Scaled:
    """Weights from a fan-scaled distribution; biases zero by default.

    Options (a ``("xavier", {...})`` pair): ``gain`` (default 1) multiplies
    the bound (uniform) or the standard deviation (normal), e.g.
    ``gain=1/√3`` turns Glorot's ``√(6 / (n_in + n_out))`` into
    scikit-learn's bound for logistic layers, ``√(2 / (n_in + n_out))``;
    ``bias`` is ``"zeros"`` (default) or ``"same"``, drawing every ``b_l``
    from ``W_l``'s distribution right after ``W_l`` (as scikit-learn's MLP
    does).
    """

    name = "scaled"
    uniform = True

    def __init__(self, gain=1.0, bias="zeros"):
        if isinstance(gain, bool) or not isinstance(gain, (int, float)) \
                or not math.isfinite(gain) or gain <= 0:
            raise ConfigError(f"{self.name}: gain must be a positive number, got {gain!r}")
        if bias not in ("zeros", "same"):
            raise ConfigError(f"{self.name}: bias must be 'zeros' or 'same', got {bias!r}")
        self.gain = float(gain)
        self.bias = bias

    def options(self) -> dict:
        return {"gain": self.gain, "bias": self.bias}

    def __repr__(self):
        if self.gain == 1.0 and self.bias == "zeros":
            return f"{type(self).__name__}()"
        return f"{type(self).__name__}(gain={self.gain!r}, bias={self.bias!r})"

    def scale(self, n_in: int, n_out: int) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        draw = _uniform if self.uniform else _normal
        params = []
        for n_in, n_out in _pairs(layer_sizes):
            s = self.gain * self.scale(n_in, n_out)
            W = draw(rng, (n_in, n_out), s, dtype)
            b = draw(rng, n_out, s, dtype) if self.bias == "same" else np.zeros(n_out, dtype=dtype)
            params.append((W, b))
        return params


class Xavier(_Scaled):
    """Glorot uniform: ``W ~ U[−r, r]``, ``r = √(6 / (n_in + n_out))``; ``b = 0``.

    ``Var W = 2 / (n_in + n_out)``.  Suited to sigmoid and tanh layers.
    """

    name = "xavier"

    def scale(self, n_in, n_out):
        return math.sqrt(6.0 / (n_in + n_out))


class XavierNormal(_Scaled):
    """Glorot normal: ``W ~ N(0, 2 / (n_in + n_out))``; ``b = 0``."""

    name = "xavier_normal"
    uniform = False

    def scale(self, n_in, n_out):
        return math.sqrt(2.0 / (n_in + n_out))


class He(_Scaled):
    """He (Kaiming) uniform: ``W ~ U[−r, r]``, ``r = √(6 / n_in)``; ``b = 0``.

    ``Var W = 2 / n_in``.  Suited to relu-like layers.
    """

    name = "he"

    def scale(self, n_in, n_out):
        return math.sqrt(6.0 / n_in)


class HeNormal(_Scaled):
    """He (Kaiming) normal: ``W ~ N(0, 2 / n_in)``; ``b = 0``."""

    name = "he_normal"
    uniform = False

    def scale(self, n_in, n_out):
        return math.sqrt(2.0 / n_in)


class Zeros:
    """All weights and biases 0.

    Only useful for tests and for biases: with every weight equal, all the
    units of a layer receive the same gradient and stay identical (and with
    zero weights a sigmoid network's hidden layers get no gradient at all),
    so a network initialised this way cannot learn distinct features.
    """

    name = "zeros"
    deterministic = True  # draws no random numbers: the spec's seed checks adapt

    def __repr__(self):
        return "Zeros()"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        return [
            (np.zeros((n_in, n_out), dtype=dtype), np.zeros(n_out, dtype=dtype))
            for n_in, n_out in _pairs(layer_sizes)
        ]


@hookimpl
def deltarule_initializers():
    return [RandN(), Xavier(), XavierNormal(), He(), HeNormal(), Zeros()]

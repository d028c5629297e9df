"""Activations: ``forward(z) -> a`` beside its derivative ``derivative(z, a)``.

Arrays are ``(n_samples, n_units)``; every function is applied to each
element, except ``softmax``, which normalises each row and therefore gives a
vector-Jacobian product ``vjp(z, a, g)`` instead of ``derivative``.  ``relu``
and ``tanh`` give both: their ``vjp`` is ``g ⊙ f'(z)`` in one pass (a compiled
loop with numba, :mod:`deltarule.kernels`), which the training loop calls.

The bundled activations accept an optional ``out`` buffer (same shape and
dtype as ``z``) so the loop can reuse memory; third-party ones need not.
None of them modifies ``z``, ``a`` or ``g``.

Model axis: every bundled activation declares ``model_axis = True``: it
accepts arrays with a leading model axis, ``(models, n_samples, n_units)``,
and treats each model's block exactly as it treats a 2-D array alone (the
element-wise ones trivially; ``softmax`` normalises along the last axis).
``deltarule.train_many`` stacks many networks that way.

Declarations read by the spec suite (``deltarule.specs``):

``kinks``
    values of ``z`` where the derivative is undefined (``relu``: ``(0.0,)``);
``domain``
    the ``(lo, hi)`` range of ``z`` worth sampling (default ``(-10, 10)``);
``output_range``
    ``(lo, hi)`` bounds of ``a`` (``math.inf`` where unbounded).

Each also lowers itself to ONNX operators for :func:`deltarule.to_onnx`
through ``lower_onnx(g, z) -> str`` (``g`` a graph builder, ``z`` the name of
the value holding ``z``; see ``docs/export.md``).  Every operator used has a
float32 and a float64 kernel in onnxruntime, and each lowering computes the
same formula as ``forward``.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from deltarule import kernels
from deltarule.errors import ConfigError
from deltarule.hookspecs import hookimpl

INF = math.inf


class Sigmoid:
    """``σ(z) = 1 / (1 + e^{-z})``; ``σ'(z) = a (1 - a)`` with ``a = σ(z)``.

    The forward pass is computed exactly as the document writes it; the
    backward pass multiplies ``g · (a(1 − a))`` where the document writes
    ``(g · a) · (1 − a)``, so long runs agree with the document's to rounding
    (about 3e-15 after 10 000 XOR epochs).  ``e^{-z}`` overflows to ``inf`` for
    ``z < -709`` (``-88.7`` in float32) and the result is then exactly 0, its
    true limit.
    """

    name = "sigmoid"
    model_axis = True
    kinks = ()
    domain = (-10.0, 10.0)
    output_range = (0.0, 1.0)

    def __repr__(self):
        return "Sigmoid()"

    def forward(self, z, out=None):
        out = np.negative(z, out)
        np.exp(out, out)
        np.add(out, 1.0, out)
        return np.divide(1.0, out, out)

    def derivative(self, z, a, out=None):
        out = np.subtract(1.0, a, out)
        return np.multiply(a, out, out)

    def lower_onnx(self, g, z):
        # forward's own formula: onnxruntime's Sigmoid kernel is accurate only in
        # absolute terms (relative error 2e-3 at z = -10 in float32, 3e-12 in
        # float64), these four operators to a few ulp
        one = g.const(1.0)
        return g.op("Div", one, g.op("Add", one, g.op("Exp", g.op("Neg", z))))


class Tanh:
    """``tanh(z)``; ``tanh'(z) = 1 - a²`` with ``a = tanh(z)``."""

    name = "tanh"
    model_axis = True
    kinks = ()
    domain = (-10.0, 10.0)
    output_range = (-1.0, 1.0)

    def __repr__(self):
        return "Tanh()"

    def forward(self, z, out=None):
        return np.tanh(z, out)

    def derivative(self, z, a, out=None):
        out = np.multiply(a, a, out)
        return np.subtract(1.0, out, out)

    def vjp(self, z, a, g, out=None):
        """``g ⊙ (1 − a²)`` in one pass: what the loop calls (``derivative``
        times ``g``, fused)."""
        return kernels.tanh_vjp(a, g, out)

    def lower_onnx(self, g, z):
        return g.op("Tanh", z)


class ReLU:
    """``max(z, 0)``; derivative ``1`` where ``z > 0``, else ``0``.

    The derivative at the kink ``z = 0`` is taken as 0.
    """

    name = "relu"
    model_axis = True
    kinks = (0.0,)
    domain = (-10.0, 10.0)
    output_range = (0.0, INF)

    def __repr__(self):
        return "ReLU()"

    def forward(self, z, out=None):
        return _maximum_zero(z, out)

    def derivative(self, z, a, out=None):
        if out is None:
            out = np.empty_like(z)
        return np.greater(z, 0.0, out=out)

    def vjp(self, z, a, g, out=None):
        """``g ⊙ [z > 0]`` in one pass: what the loop calls."""
        return kernels.relu_vjp(z, g, out)

    def lower_onnx(self, g, z):
        return g.op("Relu", z)


class LeakyReLU:
    """``z`` where ``z > 0``, else ``slope · z``; derivative ``1`` or ``slope``.

    ``slope`` (default 0.01) must lie in ``[0, 1]``, so that
    ``f(z) = max(z, slope · z)``.  The derivative at ``z = 0`` is ``slope``.
    """

    name = "leaky_relu"
    model_axis = True
    kinks = (0.0,)
    domain = (-10.0, 10.0)
    output_range = (-INF, INF)

    def __init__(self, slope=0.01):
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real) \
                or not 0.0 <= slope <= 1.0:
            raise ConfigError(
                f"leaky_relu: slope must be a number in [0, 1] (e.g. 0.01), got {slope!r}"
            )
        self.slope = float(slope)

    def __repr__(self):
        return f"LeakyReLU(slope={self.slope!r})"

    def options(self):
        return {"slope": self.slope}

    def forward(self, z, out=None):
        out = np.multiply(z, self.slope, out)
        return np.maximum(z, out, out=out)

    def derivative(self, z, a, out=None):
        if out is None:
            out = np.empty_like(z)
        np.greater(z, 0.0, out=out)
        # 1 where z > 0, slope elsewhere: slope + (1 - slope) · [z > 0]
        np.multiply(out, 1.0 - self.slope, out)
        return np.add(out, self.slope, out)

    def lower_onnx(self, g, z):
        # max(z, slope · z) as forward computes it: ONNX's LeakyRelu takes its
        # slope as a float32 attribute, which is not the slope of a float64 model
        return g.op("Max", z, g.op("Mul", z, g.const(self.slope)))


class Softplus:
    """``log(1 + e^z)``; derivative ``σ(z) = 1 / (1 + e^{-z})``.

    Evaluated as ``max(z, 0) + log1p(e^{-|z|})``, which neither overflows
    for large ``z`` nor loses the small values for very negative ``z``.
    The derivative uses ``a``: ``e^{-a} = 1 / (1 + e^z) = 1 − σ(z)``, so
    ``σ(z) = −expm1(−a)``, accurate to the last bits at both extremes
    (``a ≈ e^z`` for very negative ``z``) and free of overflow.
    """

    name = "softplus"
    model_axis = True
    kinks = ()
    domain = (-10.0, 10.0)
    output_range = (0.0, INF)

    def __repr__(self):
        return "Softplus()"

    def forward(self, z, out=None):
        # log(e^z + e^0) = max(z, 0) + log1p(e^−|z|), computed stably by one ufunc
        return np.logaddexp(z, 0.0, out)

    def derivative(self, z, a, out=None):
        out = np.negative(a, out)
        np.expm1(out, out)
        return np.negative(out, out)

    def lower_onnx(self, g, z):
        # max(z, 0) + log1p(e^{-|z|}), like forward; onnxruntime has no float64
        # Softplus and ONNX no Log1p, so log1p(t) is Goldberg's
        # log(u) · t / (u − 1) with u = 1 + t (and t itself where u rounds to 1),
        # accurate to a few ulp where log(1 + t) would lose t's digits
        t = g.op("Exp", g.op("Neg", g.op("Abs", z)))
        u = g.op("Add", t, g.const(1.0))
        ratio = g.op("Mul", g.op("Log", u), g.op("Div", t, g.op("Sub", u, g.const(1.0))))
        log1p = g.op("Where", g.op("Equal", u, g.const(1.0)), t, ratio)
        return g.op("Add", g.op("Relu", z), log1p)


class Identity:
    """``a = z``; derivative ``1``.  The usual output of a regression network."""

    name = "identity"
    model_axis = True
    kinks = ()
    domain = (-10.0, 10.0)
    output_range = (-INF, INF)

    def __repr__(self):
        return "Identity()"

    def forward(self, z, out=None):
        if out is None:
            return np.array(z, copy=True)
        np.copyto(out, z)
        return out

    def derivative(self, z, a, out=None):
        if out is None:
            return np.ones_like(z)
        out.fill(1.0)
        return out

    def lower_onnx(self, g, z):
        return z


class Softmax:
    """Row-wise ``a_ik = e^{z_ik} / Σ_j e^{z_ij}``; not element-wise.

    The forward pass subtracts each row's maximum first (the result is the
    same, and ``e^{…}`` can then never overflow).  Its Jacobian per row is
    ``∂a_k/∂z_j = a_k (δ_kj − a_j)``, so the vector-Jacobian product is::

        vjp(z, a, g) = a ⊙ (g − Σ_k g_k a_k)      g: (n_samples, n_units)

    Paired with ``cross_entropy`` the loop uses the loss's fused output delta
    ``ŷ − y`` instead of this product.
    """

    name = "softmax"
    model_axis = True
    kinks = ()
    domain = (-10.0, 10.0)
    output_range = (0.0, 1.0)

    def __repr__(self):
        return "Softmax()"

    def forward(self, z, out=None):
        if out is not None and kernels.softmax(z, out) is not None:
            return out  # the compiled loops (numba): the same bits as below
        out = np.subtract(z, _row_max(z), out)
        np.exp(out, out)
        # add.reduce, not a faster product with ones: it sums every row in the
        # same order whatever the batch, so a row's output never depends on
        # the rows around it (the law activation.rows-independent)
        return np.divide(out, np.add.reduce(out, axis=-1, keepdims=True), out)

    def vjp(self, z, a, g, out=None):
        dot = np.einsum("...j,...j->...", g, a)[..., None]
        out = np.subtract(g, dot, out)
        return np.multiply(out, a, out)

    def lower_onnx(self, g, z):
        return g.op("Softmax", z, axis=-1)


# Zeros for max(z, 0): NumPy's maximum against a scalar 0 takes a slow
# (non-SIMD) loop, 3-4× slower than against an array of zeros.  One
# read-only block per dtype serves every array up to its size, in any layout
# (a reshaped view of its start); larger arrays take the scalar form.  A
# block this large costs next to no memory: np.zeros maps fresh pages, and
# pages that are only ever read stay mapped to the system's one zero page.
_ZERO_BLOCK = 1 << 18
_ZEROS = {np.dtype(t): np.zeros(_ZERO_BLOCK, dtype=t) for t in (np.float32, np.float64)}
for _block in _ZEROS.values():
    _block.flags.writeable = False


def _maximum_zero(z, out=None):
    """``max(z, 0)`` element-wise (NaN stays NaN), into ``out`` if given."""
    zeros = _ZEROS.get(getattr(z, "dtype", None))
    if zeros is None or z.size > _ZERO_BLOCK:
        return np.maximum(z, 0.0, out=out)
    return np.maximum(z, zeros[:z.size].reshape(z.shape), out=out)


def _row_max(z):
    """``max_k z_ik`` with the row axis kept, ``(…, n, 1)``.

    For many short rows the reduction runs over a transposed copy: along a
    short contiguous last axis NumPy reduces row by row (7 µs for 200×10),
    along the first axis it is one vectorised pass (2.4 µs with the copy;
    the copy stops paying off beyond 32 columns or below 64 rows).  The
    maximum does not depend on the order, so both give the same values."""
    shape = np.shape(z)
    if len(shape) >= 2 and shape[-1] <= 32 and shape[-2] >= 64:
        zt = np.swapaxes(z, -1, -2).copy()
        return np.maximum.reduce(zt, axis=-2)[..., None]
    return np.maximum.reduce(z, axis=-1, keepdims=True)


@hookimpl
def deltarule_activations():
    return [Sigmoid(), Tanh(), ReLU(), LeakyReLU(), Softplus(), Identity(), Softmax()]

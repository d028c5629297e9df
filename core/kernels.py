"""Fused loops for the per-step hot path, compiled by numba when it is installed.

A mini-batch step of a small network is dozens of short NumPy passes, and on
batches of a few hundred rows each pass costs more in dispatch and memory
traffic than in arithmetic.  Each kernel here is *one* loop doing what a short
sequence of ufunc calls does: the same IEEE operations (``+ − × ÷ √`` and
comparisons, never a fused multiply-add) in the same order on every element,
so its result is the same **to the bit** as its NumPy twin's, with or without
numba; ``tests/test_kernels.py`` proves it on random and special values
(NaN, ±inf, ±0, subnormals) in float32 and float64.

- ``bias_op(z, b)``: ``z ← z + b``, ``b`` ``(k,)`` added to every row of ``z`` ``(n, k)``;
- ``relu_vjp(z, g, d)``: ``d ← g · [z > 0]`` (``[NaN > 0]`` is 0), any shape;
- ``tanh_vjp(a, g, d)``: ``d ← g · (1 − a·a)``, any shape;
- ``softmax(z, d)``: ``z − max`` per row, NumPy's ``exp``, then ``e / Σ e`` with
  the sum in ``np.add.reduce``'s own order (checked against NumPy once, when the
  kernels load), rows of at most 128;
- ``adam(p, g, M, V, s, β₁, β₂, ε, c)``: ``M ← β₁ M + g``, ``V ← β₂ V + g²``,
  ``p ← p − c · M / (√V + ε)``, any shape (``s`` the twin's scratch).

The compiled loop runs when numba is importable, the arrays share one dtype
(float32 or float64), are C-contiguous, writeable and do not partly overlap,
and hold at least :data:`MIN_SIZE` elements; anything else runs the NumPy twin (same
bits, so the two can mix freely within a run).  numba is imported on the
first such call, so small runs (the document's XOR networks) never pay for
its import and compilation; the compiled kernels are cached on disk.  It is
optional: ``pip install 'deltarule[fast]'``.  ``DELTARULE_KERNELS=numpy``
turns it off; if numba fails to import or compile, a
:class:`~deltarule.errors.KernelWarning` says so once and NumPy carries on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import types
import warnings

import numpy as np

from .errors import KernelWarning

#: arrays smaller than this run the NumPy twin: numba's per-call cost is then
#: as large as what a fused loop saves, and small runs never import numba
MIN_SIZE = 1024
#: the environment variable choosing the kernels: ``numpy`` (never numba) or
#: ``auto`` (numba when installed; the default)
ENV = "DELTARULE_KERNELS"

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_compiled = None  # None: not tried yet; False: unavailable; else the namespace


def backend() -> str:
    """``"numba"`` if the compiled kernels are in use, else ``"numpy"``
    (loads numba, if installed and allowed, to find out)."""
    return "numba" if _load() else "numpy"


@contextlib.contextmanager
def disabled():
    """Within the block, every kernel call runs its NumPy twin (the same
    numbers), and workspaces built in it bind the twins for good: for timing
    one against the other, or ruling numba out while debugging.  Not
    thread-safe: it switches the module for every thread."""
    global _compiled
    saved = _compiled
    _compiled = False
    try:
        yield
    finally:
        _compiled = saved


def _load():
    """The compiled kernels (a namespace), or ``False`` when unavailable."""
    global _compiled
    if _compiled is None:
        # set only once decided: an interrupt while numba compiles leaves it to
        # the next call
        off = os.environ.get(ENV, "auto").strip().lower() == "numpy"
        _compiled = False if off else _compile()
    return _compiled


def _compile():
    try:
        import numba
    except ModuleNotFoundError as exc:
        if exc.name == "numba":
            return False  # not installed: the NumPy twins, silently
        return _off("numba", exc)
    except Exception as exc:  # installed but broken (e.g. built for another NumPy)
        return _off("numba", exc)
    try:
        try:
            return _build(numba, cache=True)
        except Exception:
            # numba caches next to this file or in the user's cache folder; where
            # neither can be written, compile for this process alone
            return _build(numba, cache=False)
    except Exception as exc:  # an incompatible numba must not stop a training
        return _off(f"numba {numba.__version__}", exc)


def _off(what: str, exc: Exception) -> bool:
    warnings.warn(
        f"deltarule's compiled kernels are off: {what} failed ({type(exc).__name__}: "
        f"{exc}); training goes on with NumPy, the same numbers, slower (set {ENV}=numpy "
        "to skip numba)", KernelWarning, stacklevel=6)
    return False


def _build(numba, cache: bool):
    """Compile every kernel for float32 and float64 (from numba's disk cache
    after the first time, with ``cache``)."""
    # error_model "numpy": a division by zero gives inf/NaN as NumPy's does,
    # and without Python's zero check the loops vectorise
    def jit(signatures):
        return numba.njit(signatures, cache=cache, nogil=True, error_model="numpy")

    f32, f64 = numba.float32, numba.float64

    def sigs(*parts):
        return [tuple(f[:, ::1] if p == 2 else f[::1] if p == 1 else f for p in parts)
                for f in (f64, f32)]

    def add_bias(z, b):
        n, k = z.shape
        for i in range(n):
            for j in range(k):
                z[i, j] = z[i, j] + b[j]

    def relu_vjp(z, g, out):
        for i in range(z.size):
            d = 1.0 if z[i] > 0 else 0.0  # exact in either dtype
            out[i] = g[i] * d

    def tanh_vjp(a, g, out, one):
        # ``one`` in the arrays' dtype: a float64 literal would turn float32
        # arithmetic into float64 (and round twice)
        for i in range(a.size):
            x = a[i]
            d = one - x * x
            out[i] = g[i] * d

    def softmax_shift(z, out):
        # z − max per row (a NaN anywhere in the row wins the max, as in NumPy)
        n, k = z.shape
        for i in range(n):
            m = z[i, 0]
            for j in range(1, k):
                x = z[i, j]
                if x > m or x != x:
                    m = x
            for j in range(k):
                out[i, j] = z[i, j] - m

    def normalise(e, zero):
        # e / Σ e per row, the sum as np.add.reduce takes it over a contiguous
        # row of k ≤ 128: NumPy's pairwise sum in one block (sequential below 8
        # entries; else eight running sums, combined pairwise, then the rest)
        n, k = e.shape
        for i in range(n):
            if k < 8:
                s = zero
                for j in range(k):
                    s += e[i, j]
            else:
                r0, r1, r2, r3 = e[i, 0], e[i, 1], e[i, 2], e[i, 3]
                r4, r5, r6, r7 = e[i, 4], e[i, 5], e[i, 6], e[i, 7]
                j = 8
                while j < k - k % 8:
                    r0 += e[i, j]
                    r1 += e[i, j + 1]
                    r2 += e[i, j + 2]
                    r3 += e[i, j + 3]
                    r4 += e[i, j + 4]
                    r5 += e[i, j + 5]
                    r6 += e[i, j + 6]
                    r7 += e[i, j + 7]
                    j += 8
                s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
                while j < k:
                    s += e[i, j]
                    j += 1
                s = zero + s
            for j in range(k):
                e[i, j] = e[i, j] / s

    def adam(p, g, M, V, b1, b2, eps, c):
        for i in range(p.size):
            gi = g[i]
            m = M[i] * b1
            m = m + gi
            M[i] = m
            v = V[i] * b2
            v = v + gi * gi
            V[i] = v
            s = np.sqrt(v)
            s = s + eps
            s = m / s
            s = s * c
            p[i] = p[i] - s

    out = types.SimpleNamespace()
    out.add_bias = jit(sigs(2, 1))(add_bias)
    out.relu_vjp = jit(sigs(1, 1, 1))(relu_vjp)
    out.tanh_vjp = jit(sigs(1, 1, 1, 0))(tanh_vjp)
    out.adam = jit(sigs(1, 1, 1, 1, 0, 0, 0, 0))(adam)
    out.softmax_shift = jit(sigs(2, 2))(softmax_shift)
    out.softmax_normalise = jit(sigs(2, 0))(normalise)
    if not _softmax_agrees(out):
        out.softmax_shift = None  # this NumPy sums rows otherwise: keep its twin
    return out


def _fits(first, *others) -> bool:
    """Whether the compiled loop may take these arrays (see the module docstring).

    Called on every step, so it reads each array's attributes once: the
    checks cost under a microsecond, and nothing once numba is known to be
    off (the NumPy twins then run at NumPy's own speed)."""
    if _compiled is False or type(first) is not np.ndarray or first.size < MIN_SIZE:
        return False
    dtype = first.dtype
    flags = first.flags
    if dtype not in _FLOATS or not (flags.c_contiguous and flags.writeable):
        return False
    for a in others:
        if type(a) is not np.ndarray or a.dtype != dtype:
            return False
        # read-only arrays take the twin too: numba types them apart
        flags = a.flags
        if not (flags.c_contiguous and flags.writeable):
            return False
    return True


def _apart(out, source) -> bool:
    """``out`` is ``source`` or shares no memory with it: an element-wise loop
    may then write ``out`` while reading ``source``."""
    # two arrays that own their memory never share it (the workspace's buffers)
    return out is source or (out.base is None and source.base is None) \
        or not np.may_share_memory(out, source)


# ---------------------------------------------------------------- the kernels
def bias_op(z: np.ndarray, b: np.ndarray):
    """``() -> None`` adding ``b`` ``(k,)`` to every row of ``z`` ``(n, k)`` in
    place: the compiled loop when it fits (decided once), else ``np.add``."""
    compiled = _fits(z, b) and z.ndim == 2 and b.shape == z.shape[1:] and _apart(z, b) \
        and _load()
    if compiled:
        return functools.partial(compiled.add_bias, z, b)
    return functools.partial(np.add, z, b, z)  # a partial: no Python frame per step


def relu_vjp(z, g, out=None):
    """``g ⊙ [z > 0]`` into ``out``: ReLU's vector-Jacobian product in one pass
    (the twin: the derivative, then the product)."""
    if out is None:
        out = np.empty_like(g)
    compiled = _elementwise(z, g, out)
    if compiled:
        compiled.relu_vjp(z.ravel(), g.ravel(), out.ravel())
        return out
    # the derivative goes to out, unless out holds g (then to a buffer of its own)
    d = np.greater(z, 0.0, out=out if _apart(out, g) and out is not g else np.empty_like(out))
    return np.multiply(g, d, out)


def tanh_vjp(a, g, out=None):
    """``g ⊙ (1 − a·a)`` into ``out``: tanh's vector-Jacobian product in one pass."""
    if out is None:
        out = np.empty_like(g)
    compiled = _elementwise(a, g, out)
    if compiled:
        compiled.tanh_vjp(a.ravel(), g.ravel(), out.ravel(), a.dtype.type(1.0))
        return out
    d = np.multiply(a, a, out if _apart(out, g) and out is not g else np.empty_like(out))
    np.subtract(1.0, d, d)
    return np.multiply(g, d, out)


def _elementwise(x, g, out):
    """The compiled kernels if an element-wise loop may read ``x`` and ``g`` and
    write ``out`` (same shape, :func:`_fits`, no partial overlap), else ``False``."""
    if _fits(x, g, out) and x.shape == g.shape == out.shape \
            and _apart(out, x) and _apart(out, g):
        return _load()
    return False


#: the widest row the compiled softmax takes (NumPy sums wider rows recursively)
SOFTMAX_WIDTH = 128


def softmax(z, out):
    """Row-wise softmax of ``z`` ``(…, k)`` into ``out`` by the compiled loops —
    ``z − max``, NumPy's ``exp``, ``e / Σ e`` with ``Σ`` as ``np.add.reduce``
    sums — and return ``out``; ``None`` when they do not apply (the caller then
    runs its NumPy code, which gives the same bits)."""
    if _fits(z, out) and z.ndim >= 2 and z.shape == out.shape \
            and 0 < z.shape[-1] <= SOFTMAX_WIDTH and _apart(out, z):
        compiled = _load()
        if compiled and compiled.softmax_shift is not None:
            k = z.shape[-1]
            rows = out.reshape(-1, k)
            compiled.softmax_shift(z.reshape(-1, k), rows)
            np.exp(out, out)
            compiled.softmax_normalise(rows, out.dtype.type(0.0))
            return out
    return None


def _softmax_agrees(compiled) -> bool:
    """Whether the compiled row sums are NumPy's (checked once, on every width)."""
    rng = np.random.default_rng(0)
    for dtype in _FLOATS:
        for k in range(1, SOFTMAX_WIDTH + 1):
            e = rng.random((3, k)).astype(dtype)
            want = e / np.add.reduce(e, axis=-1, keepdims=True)
            compiled.softmax_normalise(e, dtype.type(0.0))
            if not np.array_equal(e, want):
                return False
    return True


def adam(p, g, M, V, s, beta1: float, beta2: float, eps: float, c: float) -> None:
    """One Adam step on rescaled moments, in place::

        M ← β₁ M + g;   V ← β₂ V + g²;   p ← p − c · M / (√V + ε)

    ``p, g, M, V, s`` one shape (``s`` scratch for the NumPy twin); the
    scalars are taken in the arrays' dtype, as NumPy takes Python floats.
    """
    if _fits(p, g, M, V) and p.shape == g.shape == M.shape == V.shape \
            and _apart(p, g) and _apart(M, g) and _apart(V, g) and _apart(M, p) \
            and _apart(V, p) and _apart(M, V):
        compiled = _load()
        if compiled:
            t = p.dtype.type
            compiled.adam(p.ravel(), g.ravel(), M.ravel(), V.ravel(),
                          t(beta1), t(beta2), t(eps), t(c))
            return
    np.multiply(M, beta1, M)
    np.add(M, g, M)
    np.multiply(g, g, s)
    np.multiply(V, beta2, V)
    np.add(V, s, V)
    np.sqrt(V, s)
    np.add(s, eps, s)
    np.divide(M, s, s)
    np.multiply(s, c, s)
    np.subtract(p, s, p)

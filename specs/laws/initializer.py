"""Laws of initializers: ``init(layer_sizes, rng, dtype) -> [(W1, b1), ...]`` with
``W_l`` of shape ``(n_{l−1}, n_l)`` and ``b_l`` of shape ``(n_l,)``, every random
number drawn from ``rng`` (a :class:`numpy.random.Generator`).
"""

from __future__ import annotations

import contextlib
import itertools
import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from deltarule.specs.registry import law
from deltarule.specs.search import Violation, fmt

_LEGACY_KEEP = {"Generator", "RandomState", "SeedSequence", "BitGenerator", "MT19937",
                "PCG64", "PCG64DXSM", "Philox", "SFC64", "default_rng", "get_state",
                "set_state", "get_bit_generator", "set_bit_generator"}


class GlobalRandomStateUsed(RuntimeError):
    """Raised by the trip-wires replacing NumPy's legacy global random functions."""


@contextlib.contextmanager
def no_global_random_state():
    """Replace ``numpy.random.rand``, ``randn``, ``seed``, … by trip-wires.

    Not thread-safe (it patches the ``numpy.random`` module); the laws run
    components one at a time.
    """
    saved = {}
    for name in getattr(np.random, "__all__", ()):
        if name in _LEGACY_KEEP:
            continue
        obj = getattr(np.random, name, None)
        if callable(obj) and not isinstance(obj, type):
            saved[name] = obj

            def tripwire(*args, _name=name, **kwargs):
                raise GlobalRandomStateUsed(
                    f"numpy.random.{_name} was called: that is NumPy's global random "
                    "state; draw from the rng argument (a numpy.random.Generator) instead")

            setattr(np.random, name, tripwire)
    try:
        yield
    finally:
        for name, obj in saved.items():
            setattr(np.random, name, obj)


LAYERS = st.lists(st.integers(1, 8), min_size=2, max_size=5)


def call(init, layers, seed, dtype=np.float64):
    return init(tuple(layers), np.random.default_rng(seed), dtype)


def flat(params) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, dtype=np.float64))
                           for pair in params for x in pair])


@law("initializer.shapes-and-dtypes")
def shapes_and_dtypes(init, ctx):
    """init(layer_sizes, rng, dtype) gives one (W_l, b_l) per layer, of shapes
    (n_{l−1}, n_l) and (n_l,), in the dtype asked for (float64 and float32), finite.
    """
    def body(example):
        layers, seed = example
        for dtype in (np.float64, np.float32):
            pairs = list(call(init, layers, seed, dtype))
            if len(pairs) != len(layers) - 1:
                raise Violation(f"for layer_sizes {layers} it returned {len(pairs)} "
                                f"(W, b) pairs; expected {len(layers) - 1}")
            for l, (pair, n_in, n_out) in enumerate(zip(pairs, layers[:-1], layers[1:]), 1):
                W, b = (np.asarray(x) for x in pair)
                for arr, what, shape in ((W, f"W{l}", (n_in, n_out)), (b, f"b{l}", (n_out,))):
                    if arr.shape != shape:
                        raise Violation(f"for layer_sizes {layers}, {what} has shape "
                                        f"{arr.shape}; expected {shape}")
                    if arr.dtype != np.dtype(dtype):
                        raise Violation(f"asked for dtype {np.dtype(dtype).name}, {what} "
                                        f"has dtype {arr.dtype}")
                    if not np.isfinite(arr).all():
                        raise Violation(f"{what} is not finite: {fmt(arr)}")

    ctx.search(body, st.tuples(LAYERS, st.integers(0, 2**32 - 1)),
               describe=lambda e: f"layer_sizes = {e[0]}, Generator seed {e[1]}")


@law("initializer.reproducible")
def reproducible(init, ctx):
    """The same Generator seed gives the same parameters; different seeds give
    different ones (unless the initializer declares deterministic = True, or returns
    constants, like zeros).
    """
    declared = bool(getattr(init, "deterministic", False))

    def body(example):
        layers, s1, s2 = example
        assume(s1 != s2)
        a = flat(call(init, layers, s1))
        b = flat(call(init, layers, s1))
        if not np.array_equal(a, b):
            raise Violation(f"two calls with Generators seeded {s1} gave different "
                            f"parameters for layer_sizes {layers}:\n  {fmt(a)}\n  {fmt(b)}")
        c = flat(call(init, layers, s2))
        constant = a.size > 1 and np.ptp(a) == 0  # e.g. zeros: no randomness at all
        if declared or constant:
            if not np.array_equal(a, c):
                raise Violation(f"declares deterministic = True (or returns constants) "
                                f"but seeds {s1} and {s2} gave different parameters")
            return
        if np.array_equal(a, c):
            raise Violation(
                f"Generators seeded {s1} and {s2} gave identical parameters for "
                f"layer_sizes {layers}: {fmt(a)}\n  the initializer ignores its rng "
                f"(declare deterministic = True if it draws no random numbers)")

    ctx.search(body, st.tuples(LAYERS, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
               describe=lambda e: f"layer_sizes = {e[0]}, seeds {e[1]} and {e[2]}")


@law("initializer.no-global-random-state")
def no_global_random(init, ctx):
    """NumPy's global random state is neither read nor changed: legacy
    numpy.random.* functions are trip-wires during the call, and
    np.random.get_state() is the same after it.
    """
    def body(example):
        layers, seed = example
        before = np.random.get_state()
        try:
            with no_global_random_state():
                call(init, layers, seed)
        except GlobalRandomStateUsed as exc:
            raise Violation(f"{exc} (layer_sizes {layers})") from None
        after = np.random.get_state()
        if not (np.array_equal(before[1], after[1]) and before[2:] == after[2:]):
            np.random.set_state(before)
            raise Violation(f"NumPy's global random state changed during the call "
                            f"(layer_sizes {layers}); draw from the rng argument instead")

    ctx.search(body, st.tuples(LAYERS, st.integers(0, 2**32 - 1)),
               describe=lambda e: f"layer_sizes = {e[0]}, Generator seed {e[1]}")


# ---------------------------------------------------------------- distributions
# name -> (kind, scale(n_in, n_out) of W, biases)
TEXTBOOK = {
    "randn": ("normal", lambda i, o: 1.0, "normal"),
    "xavier": ("uniform", lambda i, o: math.sqrt(6.0 / (i + o)), "zeros"),
    "xavier_normal": ("normal", lambda i, o: math.sqrt(2.0 / (i + o)), "zeros"),
    "he": ("uniform", lambda i, o: math.sqrt(6.0 / i), "zeros"),
    "he_normal": ("normal", lambda i, o: math.sqrt(2.0 / i), "zeros"),
    "zeros": ("zeros", None, "zeros"),
}
# fan-in ≠ fan-out in every layer, each weight matrix ≥ 2 000 entries
DIST_LAYERS = (40, 60, 150, 30)
Z = 6.0  # confidence: every moment within 6 standard errors (false alarm < 1e-8)


def _textbook(init):
    name = getattr(init, "name", None)
    return None if name in TEXTBOOK else (
        f"no textbook distribution for {name!r} (this law pins the bundled "
        f"initializers: {', '.join(TEXTBOOK)})")


def _check_sample(what, w, kind, scale):
    n, dtype = w.size, w.dtype
    w = w.astype(np.float64)
    if kind == "zeros":
        if np.any(w != 0):
            raise Violation(f"{what} must be all zeros; max |w| = {np.abs(w).max()!r}")
        return
    if kind == "uniform":
        r = scale
        lo, hi = float(w.min()), float(w.max())
        slack = 4 * float(np.finfo(dtype).eps) * r  # r itself rounded to the dtype
        if lo < -r - slack or hi > r + slack:
            raise Violation(f"{what} must lie in U[−r, r] with r = {r!r}; it spans "
                            f"[{lo!r}, {hi!r}]")
        # P(no draw within δr of an end) = (1 − δ/2)^n ≤ e^−20 for δ = 40/n
        delta = 40.0 / n
        if hi < r * (1 - delta) or lo > -r * (1 - delta):
            raise Violation(f"{what} should reach the bounds ±r = ±{r!r} of U[−r, r] "
                            f"(n = {n} draws: within {delta:.3g} r with probability "
                            f"1 − e^−20); it spans only [{lo!r}, {hi!r}]")
        var = r * r / 3.0
        var_se = math.sqrt((r ** 4 / 5.0 - var * var) / n)
    else:
        var = scale * scale
        var_se = var * math.sqrt(2.0 / n)
        # normal, not merely the right variance: the share beyond 2σ is 4.55 %
        share = float(np.mean(np.abs(w) > 2 * scale))
        p = math.erfc(2 / math.sqrt(2))
        if abs(share - p) > Z * math.sqrt(p * (1 - p) / n):
            raise Violation(f"{what}: {share:.4f} of the draws lie beyond 2σ, a normal "
                            f"distribution puts {p:.4f} there (n = {n}, {Z:g} standard "
                            f"errors allowed)")
    mean_se = math.sqrt(var / n)
    mean = float(w.mean())
    if abs(mean) > Z * mean_se:
        raise Violation(f"{what}: mean {mean!r}, expected 0 ± {Z * mean_se:.3g} "
                        f"({Z:g} standard errors, n = {n})")
    second = float(np.mean(w * w))
    if abs(second - var) > Z * var_se:
        raise Violation(f"{what}: mean square {second!r}, expected variance {var!r} ± "
                        f"{Z * var_se:.3g} ({Z:g} standard errors, n = {n}; scale "
                        f"{scale!r})")


@law("initializer.distribution", applies=_textbook)
def distribution(init, ctx):
    """A component named like a bundled initializer draws from its textbook
    distribution, for layer_sizes (40, 60, 150, 30) in float64 and float32 with
    fixed seeds: uniform ones inside [−r, r] exactly and reaching within 40/n·r of
    both ends; every one with mean and variance within 6 standard errors; normal
    ones with the normal share (4.55 %) beyond 2σ; biases exactly 0 (or N(0, 1)
    for randn), and randn's draws in the document's order W1, b1, W2, b2, ...

    randn N(0, 1); xavier U[±√(6/(n_in + n_out))]; xavier_normal
    N(0, 2/(n_in + n_out)); he U[±√(6/n_in)]; he_normal N(0, 2/n_in); zeros 0.
    With the options ``gain`` and ``bias`` (the scaled ones), ``gain=0.5,
    bias="same"`` halves the scale and draws the biases from W's distribution.
    """
    kind, scale, biases = TEXTBOOK[init.name]
    variants = [(init, 1.0, biases, init.name)]
    options = init.options() if callable(getattr(init, "options", None)) else {}
    if "gain" in options and "bias" in options:
        # the options: the scale times gain, biases from W's own distribution
        configured = type(init)(**{**options, "gain": 0.5, "bias": "same"})
        variants.append((configured, 0.5, kind, f"{init.name}(gain=0.5, bias='same')"))
    for seed in ctx.seeds("initializer.distribution", 2):
        for dtype, (component, gain, bias_kind, name) in itertools.product(
                (np.float64, np.float32), variants):
            params = list(call(component, DIST_LAYERS, seed, dtype))
            for l, ((W, b), n_in, n_out) in enumerate(
                    zip(params, DIST_LAYERS[:-1], DIST_LAYERS[1:]), 1):
                W, b = np.asarray(W), np.asarray(b)
                s = None if scale is None else gain * scale(n_in, n_out)
                where = f"{name}: W{l} ({n_in} × {n_out}, {np.dtype(dtype).name}, " \
                        f"seed {seed})"
                _check_sample(where, W, kind, s)
                _check_sample(f"{name}: b{l} ({np.dtype(dtype).name}, seed {seed})", b,
                              bias_kind, 1.0 if bias_kind == biases else s)
            if init.name == "randn":
                rng = np.random.default_rng(seed)
                for l, ((W, b), n_in, n_out) in enumerate(
                        zip(params, DIST_LAYERS[:-1], DIST_LAYERS[1:]), 1):
                    W_ref = rng.standard_normal((n_in, n_out), dtype=dtype)
                    b_ref = rng.standard_normal(n_out, dtype=dtype)
                    if not (np.array_equal(W, W_ref) and np.array_equal(b, b_ref)):
                        raise Violation(f"randn: W{l}, b{l} ({np.dtype(dtype).name}) are not "
                                        "the Generator's standard-normal draws in the "
                                        "document's order W1, b1, W2, b2, ...")

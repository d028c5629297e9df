"""Laws of losses: ``value(y, y_hat) -> float`` beside ``gradient(y, y_hat) -> dL/dŷ``,
arrays ``(n_samples, n_outputs)``; optional ``value_and_gradient``, ``out=``,
``fused_delta(activation)`` and the declarations ``minimum``, ``targets``,
``predictions``, ``reduction``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deltarule.specs.protocol import (
    accepts_out,
    configure,
    is_elementwise,
    loss_kinds,
    loss_value,
    option_names,
    softmax,
)
from deltarule.specs.registry import law
from deltarule.specs.search import (
    EPS,
    FIFTH_EPS,
    Skip,
    Violation,
    expect_close,
    floats,
    fmt,
    guarded,
    num,
    unchanged,
    worst,
)

ATOL, RTOL = 1e-9, 1e-7
MINIMUM_TOL = 1e-6


# ---------------------------------------------------------------- inputs
def _target_strategy(targets, preds, shape):
    n, k = shape
    if targets == "binary":
        return hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0]))
    if targets == "one_hot":
        return st.lists(st.integers(0, k - 1), min_size=n, max_size=n).map(
            lambda idx: np.eye(k)[idx])
    return _prediction_strategy(preds, shape)  # real targets: drawn like predictions


def _prediction_strategy(preds, shape):
    if preds == "unit":
        return hnp.arrays(np.float64, shape, elements=floats(0.02, 0.98))
    if preds == "simplex":
        return hnp.arrays(np.float64, shape, elements=floats(-3, 3)).map(softmax)
    return hnp.arrays(np.float64, shape, elements=floats(-2, 2))


def examples(loss, rows=(1, 6)):
    targets, preds = loss_kinds(loss)
    kmin = 2 if (targets == "one_hot" or preds == "simplex") else 1
    shapes = st.tuples(st.integers(*rows), st.integers(kmin, 4))
    return shapes.flatmap(lambda s: st.tuples(_target_strategy(targets, preds, s),
                                              _prediction_strategy(preds, s)))


def random_pair(loss, rng, n, k):
    """One ``(y, ŷ)`` of the loss's declared kinds, from ``rng``."""
    targets, preds = loss_kinds(loss)
    if targets == "one_hot" or preds == "simplex":
        k = max(k, 2)
    if preds == "unit":
        y_hat = rng.uniform(0.02, 0.98, (n, k))
    elif preds == "simplex":
        y_hat = softmax(rng.uniform(-3, 3, (n, k)))
    else:
        y_hat = rng.uniform(-2, 2, (n, k))
    if targets == "binary":
        y = (rng.random((n, k)) < 0.5).astype(np.float64)
    elif targets == "one_hot":
        y = np.eye(k)[rng.integers(0, k, n)]
    elif preds == "unit":
        y = rng.uniform(0.02, 0.98, (n, k))
    elif preds == "simplex":
        y = softmax(rng.uniform(-3, 3, (n, k)))
    else:
        y = rng.uniform(-2, 2, (n, k))
    return y, y_hat


def describe(e):
    return f"y     = {fmt(e[0])}\ny_hat = {fmt(e[1])}"


def dense_pairs(loss):
    """Dense one-sample sweeps: ``[(y, ŷ), ...]`` of shape ``(1, k)``, covering the
    prediction domain finely for each kind of target (the tails included)."""
    targets, preds = loss_kinds(loss)
    out = []
    if preds == "simplex":
        t = np.linspace(-6, 6, 121)
        for a in t:
            z = np.array([[a, 0.0, -0.5 * a]])
            for c in range(3):
                out.append((np.eye(3)[[c]], softmax(z)))
        return out
    if preds == "unit":
        grid = np.linspace(0.005, 0.995, 397)
    else:
        grid = np.linspace(-4, 4, 401)
    if targets == "binary":
        ys = [0.0, 1.0]
    elif preds == "unit":
        ys = [0.1, 0.5, 0.9]
    else:
        ys = [-1.5, 0.0, 0.7, 2.0]
    for y in ys:
        for v in grid:
            out.append((np.array([[y]]), np.array([[v]])))
    return out


def _steps(preds, y_hat):
    if preds == "unit":
        return FIFTH_EPS * np.minimum(y_hat, 1.0 - y_hat)
    if preds == "simplex":
        return FIFTH_EPS * y_hat
    return FIFTH_EPS * np.maximum(1.0, np.abs(y_hat))


def numeric_gradient(loss, y, y_hat):
    """``(∂L/∂ŷ, step h, error bound)`` by 4th-order central differences at h/2
    (the error bounded from the step h), entry by entry."""
    _, preds = loss_kinds(loss)
    h = _steps(preds, y_hat)
    numeric = np.empty_like(y_hat)
    err = np.empty_like(y_hat)
    for idx in np.ndindex(y_hat.shape):
        d = []
        for step in (h[idx], h[idx] / 2):
            vals = []
            for k in (2, 1, -1, -2):
                p = y_hat.copy()
                p[idx] += k * step
                vals.append(loss_value(loss, y, p))
            d.append((-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * step))
        numeric[idx] = d[1]
        # where a higher derivative jumps inside the stencil the two steps disagree
        # by about the truncation error (bounded: at most 1 %)
        err[idx] = min(4 * abs(d[0] - d[1]), 1e-2 * (1 + abs(d[1])))
    return numeric, h, np.where(np.isfinite(err), err, 0.0)


def _check_gradient(loss, y, y_hat):
    _, preds = loss_kinds(loss)
    base = loss_value(loss, y, y_hat)
    grad = np.asarray(loss.gradient(y.copy(), y_hat.copy()), dtype=np.float64)
    if grad.shape != y_hat.shape:
        raise Violation(f"gradient(y, y_hat) has shape {grad.shape}, y_hat {y_hat.shape}")
    numeric, h, err = numeric_gradient(loss, y, y_hat)
    analytic, note = grad, ""
    if preds == "simplex":
        analytic = grad - grad.mean(axis=1, keepdims=True)
        numeric = numeric - numeric.mean(axis=1, keepdims=True)
        note = " (projected on the simplex: row means removed)"
    tol = ATOL + RTOL * np.abs(numeric) + 40 * EPS * (1 + abs(base)) / h + err
    i = worst(analytic, numeric, tol)
    if i is not None:
        ratio = ""
        if numeric[i] != 0 and np.isfinite(analytic[i]):
            ratio = f" (ratio analytic/numeric = {analytic[i] / numeric[i]:.6g})"
        raise Violation(
            f"at entry {list(i)} (y = {num(y[i])}, y_hat = {num(y_hat[i])}){note}:\n"
            f"  gradient(y, y_hat) = {num(analytic[i])}\n"
            f"  4th-order central difference of value (h = {h[i]:.3g}) = "
            f"{num(numeric[i])}{ratio}\n"
            f"  |difference| = {abs(analytic[i] - numeric[i]):.3g} > tolerance {tol[i]:.3g}\n"
            f"  y     = {fmt(y)}\n  y_hat = {fmt(y_hat)}")


@law("loss.gradient")
def gradient(loss, ctx):
    """gradient(y, ŷ) equals ∂value/∂ŷ entry by entry, against 4th-order central
    differences (h = ε^(1/5)·max(1, |ŷ|), or relative inside (0, 1)), to
    1e-9 + 1e-7·|numeric| + 40 ε (1 + |L|)/h; with predictions="simplex" both are
    compared on the simplex's tangent space (row means removed).  The numeric
    value is taken at h/2; its truncation error, estimated against step h (at most
    1 %), is added to the tolerance, so a loss that is C¹ but not C² (Huber) is
    judged fairly.

    Dense one-sample sweeps over the prediction domain (400 points per kind of
    target, tails included), then hypothesis-drawn batches of 1–6 rows.
    """
    for y, y_hat in dense_pairs(loss):
        guarded(lambda: _check_gradient(loss, y, y_hat), lambda: describe((y, y_hat)))
    ctx.search(lambda e: _check_gradient(loss, *e), examples(loss), describe=describe)


# ---------------------------------------------------------------- minimum
def _at_target(preds, y):
    """``y`` itself, nudged by 1e-12 into an open prediction domain."""
    e = 1e-12
    if preds == "unit":
        return np.clip(y, e, 1 - e)
    if preds == "simplex":
        return (1 - e) * y + e / y.shape[1]
    return y.copy()


@law("loss.minimum")
def minimum(loss, ctx):
    """value(y, y) equals the declared minimum (default 0) to 1e-6·max(1, y.size)
    (ŷ nudged 1e-12 into an open domain), and no prediction scores lower.

    Dense one-sample sweeps, then hypothesis-drawn batches.
    """
    declared = float(getattr(loss, "minimum", 0.0))

    def body(example):
        y, y_hat = example
        _, preds = loss_kinds(loss)
        at = loss_value(loss, y, _at_target(preds, y))
        tol = MINIMUM_TOL * max(1, y.size)
        if not abs(at - declared) <= tol:
            raise Violation(
                f"value(y, y_hat = y) = {at!r}, but the declared minimum is {declared!r} "
                f"(tolerance {tol:.3g})\n  y = {fmt(y)}"
                + ("\n  (declare the value at y_hat == y as `minimum = ...`)"
                   if abs(at) > tol else ""))
        v = loss_value(loss, y, y_hat)
        if v < at - tol:
            raise Violation(
                f"value(y, y_hat) = {v!r} is below value(y, y) = {at!r}: the loss is not "
                f"minimal at y_hat = y\n{describe(example)}")

    for pair in dense_pairs(loss)[::7]:
        guarded(lambda: body(pair), lambda: describe(pair))
    ctx.search(body, examples(loss), describe=describe)


# ---------------------------------------------------------------- consistency
@law("loss.consistency")
def consistency(loss, ctx):
    """value is a finite scalar, gradient is finite and shaped like ŷ, and the
    optional forms agree with them to 1e-12: gradient(..., out=buf),
    value_and_gradient(y, ŷ) and value_and_gradient(..., out=buf).
    """
    vg = getattr(loss, "value_and_gradient", None)

    def body(example):
        y, y_hat = example
        v = loss_value(loss, y.copy(), y_hat.copy())
        g = np.asarray(loss.gradient(y.copy(), y_hat.copy()), dtype=np.float64)
        if not math.isfinite(v) or not np.isfinite(g).all():
            raise Violation(f"value = {v!r} or gradient = {fmt(g)} is not finite\n"
                            f"{describe(example)}")
        if g.shape != y_hat.shape:
            raise Violation(f"gradient(y, y_hat) has shape {g.shape}, y_hat {y_hat.shape}")
        if accepts_out(loss.gradient):
            buf = np.full(y_hat.shape, np.nan)
            loss.gradient(y.copy(), y_hat.copy(), out=buf)
            expect_close("gradient(..., out=buf) wrote vs gradient(...) returned", buf, g,
                         1e-300 + 1e-12 * np.abs(g))
        if callable(vg):
            v1, g1 = vg(y.copy(), y_hat.copy())
            calls = [("value_and_gradient(y, y_hat)", v1, np.array(g1, dtype=np.float64))]
            if accepts_out(vg):
                buf = np.full(y_hat.shape, np.nan)
                v2, _ = vg(y.copy(), y_hat.copy(), out=buf)
                calls.append(("value_and_gradient(..., out=buf)", v2, buf))
            for what, v2, g2 in calls:
                if not math.isclose(float(v2), v, rel_tol=1e-12, abs_tol=1e-300):
                    raise Violation(f"{what} gives the value {float(v2)!r}; value(y, y_hat) "
                                    f"gives {v!r}\n{describe(example)}")
                expect_close(f"{what} gradient vs gradient(y, y_hat)", g2, g,
                             1e-300 + 1e-12 * np.abs(g))

    ctx.search(body, examples(loss), describe=describe)


# ---------------------------------------------------------------- inputs untouched
def fused_pairs(loss, registry):
    """``[(activation, fused callable)]`` for the catalogue's activations the loss fuses."""
    fused = getattr(loss, "fused_delta", None)
    if not callable(fused) or registry is None:
        return []
    out = []
    for name in registry.catalogue().names("activations"):
        act = registry.catalogue().get("activations", name)
        f = fused(act)
        if f is not None:
            out.append((act, f))
    return out


@law("loss.inputs-untouched")
def inputs_untouched(loss, ctx):
    """No method modifies its inputs: value, gradient (with or without out=),
    value_and_gradient and every fused delta leave y, ŷ (and z) exactly as they were.

    The loop passes its own buffers, which must survive every call.
    """
    vg = getattr(loss, "value_and_gradient", None)
    fused = fused_pairs(loss, ctx.registry)

    def body(example):
        y, y_hat = example
        y0, p0 = y.copy(), y_hat.copy()

        def untouched(call, z=None, z0=None):
            if not (unchanged(y0, y) and unchanged(p0, y_hat)) or (
                    z is not None and not unchanged(z0, z)):
                raise Violation(f"{call} modified its inputs (y, y_hat or z)\n"
                                f"{describe(example)}")

        loss.value(y, y_hat)
        untouched("value(y, y_hat)")
        loss.gradient(y, y_hat)
        untouched("gradient(y, y_hat)")
        if accepts_out(loss.gradient):
            loss.gradient(y, y_hat, out=np.empty_like(y_hat))
            untouched("gradient(y, y_hat, out=buf)")
        if callable(vg):
            vg(y, y_hat)
            untouched("value_and_gradient(y, y_hat)")
            if accepts_out(vg):
                vg(y, y_hat, out=np.empty_like(y_hat))
                untouched("value_and_gradient(y, y_hat, out=buf)")
        for act, f in fused:
            z = np.log(np.clip(y_hat, 1e-9, None)) if not is_elementwise(act) else \
                np.log(np.clip(y_hat, 1e-9, 1 - 1e-9) / (1 - np.clip(y_hat, 1e-9, 1 - 1e-9)))
            a = np.asarray(act.forward(z.copy()))
            a0, z0 = a.copy(), z.copy()
            f(y, a, z, np.empty_like(y_hat))
            if not unchanged(a0, a):
                raise Violation(f"the fused delta for {act.name!r} modified y_hat")
            y_ok = unchanged(y0, y)
            if not y_ok or not unchanged(z0, z):
                raise Violation(f"the fused delta for {act.name!r} modified its inputs "
                                f"(y or z)\n{describe(example)}")

    ctx.search(body, examples(loss), describe=describe)


# ---------------------------------------------------------------- dtype
@law("loss.dtype")
def dtype(loss, ctx):
    """float32 y and ŷ give a float32 gradient of ŷ's shape (also through out= and
    value_and_gradient) and a finite value within 1e-4 relative (+1e-5) of the
    float64 value; the float32 gradient agrees with the float64 one to 1e-3
    relative (+1e-4).
    """
    rng = ctx.rng("loss.dtype")
    vg = getattr(loss, "value_and_gradient", None)
    for n, k in ((1, 1), (5, 3), (7, 1), (2, 4)):
        y, y_hat = random_pair(loss, rng, n, k)
        y32, p32 = y.astype(np.float32), y_hat.astype(np.float32)
        y64, p64 = y32.astype(np.float64), p32.astype(np.float64)
        v64 = loss_value(loss, y64, p64)
        g64 = np.asarray(loss.gradient(y64, p64), dtype=np.float64)
        v32 = loss_value(loss, y32, p32)
        outs = [("gradient(y, y_hat)", loss.gradient(y32.copy(), p32.copy()))]
        if accepts_out(loss.gradient):
            buf = np.empty_like(p32)
            ret = loss.gradient(y32.copy(), p32.copy(), out=buf)
            outs.append(("gradient(..., out=float32 buf)", buf if ret is None else ret))
        if callable(vg):
            outs.append(("value_and_gradient(y, y_hat)", vg(y32.copy(), p32.copy())[1]))
        for what, g in outs:
            g = np.asarray(g)
            if g.dtype != np.float32 or g.shape != p32.shape:
                raise Violation(f"{what} with float32 inputs of shape {p32.shape} returned "
                                f"dtype {g.dtype.name}, shape {g.shape}; it must keep both")
            expect_close(f"{what} in float32 vs float64", g, g64,
                         1e-4 + 1e-3 * np.abs(g64), inputs={"y_hat": p64})
        if not (math.isfinite(v32) and abs(v32 - v64) <= 1e-5 + 1e-4 * abs(v64)):
            raise Violation(f"value in float32 = {v32!r}, in float64 = {v64!r}\n"
                            f"{describe((y64, p64))}")


# ---------------------------------------------------------------- reduction
@law("loss.reduction")
def reduction(loss, ctx):
    """The declared reduction holds (the loop weighs mini-batch losses by it):
    "sum" (the default) adds samples — value(y, ŷ) = value(first rows) + value(the
    rest), and each row's gradient does not depend on the others; "mean" averages
    them — value = (n₁ value₁ + n₂ value₂)/n and each row's gradient is n_part/n
    times its part's.  To 1e-12 relative.
    """
    declared = getattr(loss, "reduction", "sum")
    if declared not in ("sum", "mean"):
        raise Violation(f"declares reduction={declared!r}; expected 'sum' or 'mean'")
    rng = ctx.rng("loss.reduction")
    for n, k in ((2, 1), (5, 3), (9, 2), (4, 4), (3, 1)):
        y, y_hat = random_pair(loss, rng, n, k)
        for cut in sorted({1, n // 2, n - 1}):
            parts = [(y[:cut], y_hat[:cut]), (y[cut:], y_hat[cut:])]
            whole = loss_value(loss, y, y_hat)
            vals = [loss_value(loss, a, b) for a, b in parts]
            grads = [np.asarray(loss.gradient(a, b), dtype=np.float64) for a, b in parts]
            g = np.asarray(loss.gradient(y, y_hat), dtype=np.float64)
            if declared == "sum":
                expected = vals[0] + vals[1]
                g_expected = np.concatenate(grads)
            else:
                expected = (cut * vals[0] + (n - cut) * vals[1]) / n
                g_expected = np.concatenate([grads[0] * cut / n, grads[1] * (n - cut) / n])
            scale = abs(vals[0]) + abs(vals[1]) + abs(whole)
            if not abs(whole - expected) <= 1e-12 * scale + 1e-300:
                raise Violation(
                    f"reduction={declared!r}: value of {n} rows = {whole!r}, but its parts "
                    f"(rows [:{cut}] and [{cut}:]) give {vals[0]!r} and {vals[1]!r}, so "
                    f"{expected!r}\n{describe((y, y_hat))}")
            expect_close(f"reduction={declared!r}: gradient of {n} rows vs its parts' "
                         f"(rows [:{cut}], [{cut}:])", g, g_expected,
                         1e-300 + 1e-12 * np.abs(g_expected))


def _takes_weights(loss):
    import inspect

    try:
        params = inspect.signature(loss.value).parameters
    except (TypeError, ValueError):
        return "its value() has no inspectable signature"
    return None if "weights" in params else "its value() takes no weights (sample weights)"


@law("loss.sample-weights", applies=_takes_weights)
def sample_weights(loss, ctx):
    """A loss that takes sample weights, ``value(y, ŷ, weights=w)``, weighs each
    row's loss ``L_i``: ``Σ w_i L_i`` ("sum") or ``Σ w_i L_i / Σ w_i`` ("mean").
    So whole-number weights are repeated rows (``value(np.repeat(y, w),
    np.repeat(ŷ, w))``, a weight of 0 drops the row) and weights of 1 change
    nothing; for both reductions when the loss has a ``reduction`` option.  To
    1e-12 relative.
    """
    rng = ctx.rng("loss.sample-weights")
    variants = [loss]
    options = loss.options() if callable(getattr(loss, "options", None)) else {}
    if options.get("reduction") in ("sum", "mean"):
        other = "mean" if options["reduction"] == "sum" else "sum"
        variants.append(type(loss)(**{**options, "reduction": other}))
    for variant, (n, k) in itertools.product(variants, ((5, 1), (6, 3), (7, 2))):
        y, y_hat = random_pair(variant, rng, n, k)
        w = rng.integers(0, 4, n)
        w[0] = max(w[0], 1)  # at least one row counts
        red = getattr(variant, "reduction", "sum")
        for weights, (yr, y_hat_r), what in (
                (w.astype(float), (np.repeat(y, w, axis=0), np.repeat(y_hat, w, axis=0)),
                 f"weights {w.tolist()} vs the rows repeated that often"),
                (np.ones(n), (y, y_hat), "weights of 1 vs no weights")):
            got = float(variant.value(y, y_hat.copy(), weights=weights))
            want = loss_value(variant, yr, y_hat_r.copy())
            if not math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300):
                raise Violation(f"reduction={red!r}, {what}: value(y, ŷ, weights) = {got!r}, "
                                f"expected {want!r}\n{describe((y, y_hat))}")


# ---------------------------------------------------------------- fused delta
@law("loss.fused-delta")
def fused_delta(loss, ctx):
    """A fused delta fused_delta(activation)(y, ŷ, z, out) -> L writes δ = ∂L/∂z
    into out and returns L, equal to the general path — value(y, f(z)) and
    gradient(y, f(z)) ⊙ f'(z) (or vjp) — to 1e-9 relative (+1e-12), for every
    activation of the catalogue it fuses with, both reductions where the loss has
    that option; and stays finite where f(z) saturates (|z| up to 40).
    """
    cases = fused_pairs(loss, ctx.registry)
    if not cases:
        raise Skip("fuses with no activation of the catalogue (no fused_delta)")
    variants = [loss]
    if "reduction" in option_names(loss):
        other = "sum" if getattr(loss, "reduction", "sum") == "mean" else "mean"
        variants.append(configure(loss, reduction=other))
    rng = ctx.rng("loss.fused-delta")
    for comp in variants:
        for act, _ in cases:
            f = comp.fused_delta(act)
            for n, k, scale in ((1, 2, 3.0), (6, 3, 3.0), (4, 1, 6.0), (5, 4, 40.0)):
                y, _ = random_pair(comp, rng, n, k)
                k = y.shape[1]
                z = rng.uniform(-scale, scale, (n, k))
                a = np.asarray(act.forward(z.copy()), dtype=np.float64)
                out = np.full(z.shape, np.nan)
                L = f(y.copy(), a.copy(), z.copy(), out)
                what = f"{comp!r} fused with {act.name!r}"
                if not (math.isfinite(float(L)) and np.isfinite(out).all()):
                    raise Violation(f"{what}: L = {L!r}, δ = {fmt(out)} not finite\n"
                                    f"  z = {fmt(z)}\n  y = {fmt(y)}")
                if scale > 10:
                    continue  # the general path clips there: nothing exact to compare
                L_ref = loss_value(comp, y, a)
                g = np.asarray(comp.gradient(y, a), dtype=np.float64)
                delta = (g * np.asarray(act.derivative(z, a)) if is_elementwise(act)
                         else np.asarray(act.vjp(z, a, g), dtype=np.float64))
                if not abs(float(L) - L_ref) <= 1e-12 + 1e-9 * abs(L_ref):
                    raise Violation(f"{what}: the fused loss {float(L)!r} differs from "
                                    f"value(y, f(z)) = {L_ref!r}\n  z = {fmt(z)}\n"
                                    f"  y = {fmt(y)}")
                expect_close(f"{what}: fused δ vs gradient ⊙ f'(z)", out, delta,
                             1e-12 + 1e-9 * np.abs(delta), inputs={"z": z, "y": y})


# ---------------------------------------------------------------- textbook
def _bce(y, y_hat, o, dt):
    eps = max(o.get("eps", 1e-12), float(np.finfo(dt).eps))
    # the clipping bounds as the dtype holds them (1 − ε′ rounds in float32)
    lo, hi = dt(eps), dt(1.0) - dt(eps)
    p = np.clip(y_hat, lo, hi).astype(np.float64)
    value = -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    return value, (p - y) / (p * (1 - p))


def _ce(y, y_hat, o, dt):
    p = np.maximum(y_hat.astype(np.float64), float(np.finfo(dt).tiny))
    return -np.sum(y * np.log(p)), -y / p


def _mse(y, y_hat, o, dt):
    d = y_hat.astype(np.float64) - y
    return 0.5 * np.sum(d * d), d


def _bce_fused(y, z):
    """Σ softplus(z) − y z and δ = σ(z) − y, from z (stable at any z)."""
    softplus = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))
    with np.errstate(over="ignore"):
        sig = 1.0 / (1.0 + np.exp(-z))
    return np.sum(softplus - y * z), sig - y


def _ce_fused(y, z):
    """Σ_i [(Σ_k y_ik) logsumexp(z_i) − Σ_k y_ik z_ik] and δ = softmax(z) − y."""
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    lse = (m + np.log(e.sum(axis=1, keepdims=True)))[:, 0]
    return np.sum(y.sum(axis=1) * lse) - np.sum(y * z), e / e.sum(axis=1, keepdims=True) - y


# the fused (output activation, textbook from z) of the bundled losses that have one
FUSED = {"binary_cross_entropy": ("sigmoid", _bce_fused),
         "cross_entropy": ("softmax", _ce_fused)}

# name -> (default reduction, option sets, (y, ŷ, options, dtype) -> (summed L, ∂L/∂ŷ
#          summed), declared (minimum, targets, predictions))
TEXTBOOK = {
    "mse": ("sum", [{}], _mse, (0.0, "real", "real")),
    "binary_cross_entropy": ("mean", [{}, {"eps": 1e-3}], _bce, (0.0, "binary", "unit")),
    "cross_entropy": ("mean", [{}], _ce, (0.0, "one_hot", "simplex")),
}


def _textbook(loss):
    return None if loss.name in TEXTBOOK else (
        f"no textbook formula for {loss.name!r} (this law pins the bundled losses: "
        f"{', '.join(TEXTBOOK)})")


@law("loss.textbook", applies=_textbook)
def textbook(loss, ctx):
    """A component named like a bundled loss computes its textbook value and
    gradient, written out here, for both reductions ("mean" divides by n_samples)
    and its options, in float64 (to 1e-12 relative) and float32 (to 1e-5), at the
    clipping edges too; and declares the documented reduction default, minimum,
    targets and predictions.

    mse ½ ΣΣ (ŷ − y)², gradient ŷ − y, default "sum"; binary_cross_entropy
    −ΣΣ [y log p + (1 − y) log(1 − p)], p = clip(ŷ, ε′, 1 − ε′), ε′ = max(eps,
    machine ε of the dtype), gradient (p − y)/(p(1 − p)), default "mean";
    cross_entropy −ΣΣ y log max(ŷ, tiny), gradient −y / max(ŷ, tiny), default
    "mean".  The fused forms, from z exactly (|z| up to 800): binary_cross_entropy
    with sigmoid Σ softplus(z) − y z, δ = σ(z) − y; cross_entropy with softmax
    Σ_i [(Σ_k y_ik) logsumexp(z_i) − Σ_k y_ik z_ik], δ = softmax(z) − y (÷ n for
    "mean").
    """
    default, option_sets, formula, (mn, tg, pr) = TEXTBOOK[loss.name]
    declared = (float(getattr(loss, "minimum", 0.0)), getattr(loss, "targets", "real"),
                getattr(loss, "predictions", "real"))
    if declared != (mn, tg, pr):
        raise Violation(f"declares (minimum, targets, predictions) = {declared!r}; "
                        f"{loss.name} is {(mn, tg, pr)!r}")
    if getattr(loss, "reduction", "sum") != default:
        raise Violation(f"default reduction is {getattr(loss, 'reduction', 'sum')!r}; "
                        f"{loss.name}'s is {default!r}")
    rng = ctx.rng("loss.textbook")
    reductions = ["sum", "mean"] if "reduction" in option_names(loss) else [default]
    for opts in option_sets:
        if opts and not set(opts) <= option_names(loss):
            continue
        for red in reductions:
            comp = configure(loss, **opts, reduction=red) if "reduction" in option_names(
                loss) else loss
            for n, k in ((1, 1), (4, 3), (6, 2), (3, 5)):
                y, y_hat = random_pair(loss, rng, n, k)
                if pr == "unit":  # the clipping edges: exactly 0 and 1, and inside ε
                    y_hat.flat[0], y_hat.flat[-1] = 0.0, 1.0
                    if y_hat.size > 2:
                        y_hat.flat[1] = 1e-15
                if pr == "simplex" and n > 1:
                    y_hat[0] = np.eye(y_hat.shape[1])[0]  # ŷ entries exactly 0
                for dt, rtol in ((np.float64, 1e-12), (np.float32, 1e-5)):
                    yd, pd = y.astype(dt), y_hat.astype(dt)
                    v_ref, g_ref = formula(yd.astype(np.float64), pd, opts, dt)
                    div = n if red == "mean" else 1
                    v_ref, g_ref = v_ref / div, g_ref / div
                    v = loss_value(comp, yd.copy(), pd.copy())
                    g = np.asarray(comp.gradient(yd.copy(), pd.copy()), dtype=np.float64)
                    what = f"{loss.name}(reduction={red!r}{', ' if opts else ''}" \
                           f"{', '.join(f'{a}={b!r}' for a, b in opts.items())}) in " \
                           f"{np.dtype(dt).name}"
                    if not abs(v - v_ref) <= 1e-300 + rtol * abs(v_ref):
                        raise Violation(f"{what}: value = {v!r}, textbook {float(v_ref)!r}\n"
                                        f"{describe((yd, pd))}")
                    expect_close(f"{what}: gradient vs the textbook", g, g_ref,
                                 1e-300 + rtol * np.abs(g_ref),
                                 inputs={"y": yd, "y_hat": pd})
                    vg = getattr(comp, "value_and_gradient", None)
                    forms = [] if not callable(vg) else [
                        ("value_and_gradient", lambda: vg(yd.copy(), pd.copy()))]
                    if callable(vg) and accepts_out(vg):
                        forms.append(("value_and_gradient(out=)", lambda: vg(
                            yd.copy(), pd.copy(), out=np.empty_like(pd))))
                    for form, call in forms:
                        v2, g2 = call()
                        if not abs(float(v2) - v_ref) <= 1e-300 + rtol * abs(v_ref):
                            raise Violation(f"{what}: {form} value = {float(v2)!r}, "
                                            f"textbook {float(v_ref)!r}")
                        expect_close(f"{what}: {form} gradient vs the textbook",
                                     np.asarray(g2, dtype=np.float64), g_ref,
                                     1e-300 + rtol * np.abs(g_ref))
            if loss.name in FUSED and ctx.registry is not None:
                act_name, exact = FUSED[loss.name]
                act = ctx.registry.catalogue().get("activations", act_name)
                f = comp.fused_delta(act) if callable(getattr(comp, "fused_delta", None)) \
                    else None
                if f is None:
                    raise Violation(f"{loss.name} has no fused delta for {act_name}; the "
                                    "bundled one fuses with it")
                for scale in (3.0, 50.0, 800.0):
                    y, _ = random_pair(loss, rng, 5, 3)
                    z = rng.uniform(-scale, scale, y.shape)
                    with np.errstate(over="ignore", under="ignore"):
                        a = np.asarray(act.forward(z.copy()))
                        out = np.empty_like(z)
                        L = float(f(y.copy(), a.copy(), z.copy(), out))
                    L_ref, d_ref = exact(y, z)
                    div = len(y) if red == "mean" else 1
                    what = f"{loss.name}(reduction={red!r}) fused with {act_name}, " \
                           f"|z| ≤ {scale:g}"
                    if not abs(L - L_ref / div) <= 1e-12 * abs(L_ref / div) + 1e-300:
                        raise Violation(f"{what}: L = {L!r}, from z exactly "
                                        f"{float(L_ref / div)!r}\n  z = {fmt(z)}")
                    expect_close(f"{what}: δ vs the textbook", out, d_ref / div,
                                 1e-15 + 1e-12 * np.abs(d_ref / div), inputs={"z": z})


# ---------------------------------------------------------------- options
@law("loss.options", applies=lambda c: None if callable(getattr(c, "options", None))
     else "no options() (a component without hyper-parameters need not have one)")
def options(loss, ctx):
    """options() describes the loss: a JSON-serialisable dict, and rebuilding the loss
    from it — as (name, options) does — gives the same values and gradients bit for
    bit.
    """
    import json

    opts = loss.options()
    if not isinstance(opts, dict):
        raise Violation(f"options() returned {opts!r}, not a dict")
    try:
        json.dumps(opts)
        twin = configure(loss, **opts)
    except Exception as exc:
        raise Violation(f"options() = {opts!r} cannot be recorded or rebuilt from: "
                        f"{type(exc).__name__}: {exc}") from None
    rng = ctx.rng("loss.options")
    for n, k in ((1, 1), (5, 3)):
        y, y_hat = random_pair(loss, rng, n, k)
        if loss_value(loss, y, y_hat) != loss_value(twin, y, y_hat) or not np.array_equal(
                loss.gradient(y, y_hat), twin.gradient(y, y_hat)):
            raise Violation(f"rebuilt from options() = {opts!r}, the loss gives other "
                            f"values or gradients\n{describe((y, y_hat))}")

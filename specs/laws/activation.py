"""Laws of activations: ``forward(z) -> a`` with ``derivative(z, a)`` (element-wise)
or ``vjp(z, a, g)`` (row-wise, e.g. softmax); arrays ``(n_samples, n_units)``.

Dense and deterministic first: the element-wise laws evaluate each method once
on a grid of 4 000+ points spanning the declared ``domain`` (one vectorised
call), then let hypothesis vary shapes and mix in edge values.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deltarule.protocols import uses_vjp
from deltarule.specs.protocol import (
    accepts_out,
    configure,
    domain,
    is_elementwise,
    kinks,
    near_kink,
    option_names,
)
from deltarule.specs.registry import law
from deltarule.specs.search import (
    EPS,
    FIFTH_EPS,
    Violation,
    central4_estimate,
    complex_step,
    edge_matrices,
    expect_close,
    floats,
    fmt,
    guarded,
    matrices,
    num,
    sweep,
    unchanged,
)

# derivative vs its numeric reference: |analytic − numeric| ≤ ATOL + RTOL·|numeric| (+ round-off)
ATOL, RTOL = 1e-9, 1e-7
# complex step is exact to rounding: a far tighter tolerance
CS_ATOL, CS_RTOL = 1e-12, 1e-9


def _elementwise(act):
    return None if is_elementwise(act) else "not element-wise (it has vjp(); see activation.vjp)"


def _has_vjp(act):
    if callable(getattr(act, "vjp", None)):
        return None
    if is_elementwise(act):
        return "element-wise (derivative() is checked by activation.derivative; no vjp())"
    return "has neither derivative() nor vjp()"


def _backward(act, z, a, g=None):
    """``derivative(z, a)`` or ``vjp(z, a, g)``: the one the loop calls
    (``protocols.uses_vjp``)."""
    if uses_vjp(act):
        return act.vjp(z, a, np.ones_like(z) if g is None else g)
    return act.derivative(z, a)


# ---------------------------------------------------------------- forward
@law("activation.forward")
def forward(act, ctx):
    """forward(z) is finite on the declared domain, has z's shape, lies inside the
    declared output_range (±1e-12), and returns a new array (never z or a view of it).

    Checked on a dense grid over the domain, then on hypothesis-drawn shapes
    mixing ordinary and edge values (the domain's ends, 0).
    """
    lo, hi = domain(act)
    rng_decl = getattr(act, "output_range", None)

    def body(z):
        a = np.asarray(act.forward(z))
        if a.shape != z.shape:
            raise Violation(f"forward(z) returned shape {a.shape} for z of shape {z.shape}"
                            f"\n  z = {fmt(z)}")
        if np.shares_memory(a, z):
            raise Violation("forward(z) returned z itself (or a view of it); without out= "
                            f"it must return a new array\n  z = {fmt(z)}")
        if not np.isfinite(a).all():
            i = tuple(int(k) for k in np.argwhere(~np.isfinite(a))[0])
            raise Violation(f"forward(z) is not finite at index {list(i)}: z = {num(z[i])}, "
                            f"a = {num(a[i])}")
        if rng_decl is not None:
            r_lo, r_hi = float(rng_decl[0]), float(rng_decl[1])
            slack = 1e-12 * max(1.0, abs(r_lo) if math.isfinite(r_lo) else 1.0,
                                abs(r_hi) if math.isfinite(r_hi) else 1.0)
            out = (a < r_lo - slack) | (a > r_hi + slack)
            if out.any():
                i = tuple(int(k) for k in np.argwhere(out)[0])
                raise Violation(f"forward(z) = {num(a[i])} at z = {num(z[i])} (index "
                                f"{list(i)}) lies outside the declared output_range "
                                f"{tuple(rng_decl)!r}")

    grid = sweep(lo, hi)
    guarded(lambda: body(grid), f"the dense grid over the domain [{lo}, {hi}]")
    ctx.search(body, edge_matrices(lo, hi), describe=lambda z: f"z = {fmt(z)}")


# ---------------------------------------------------------------- inputs untouched
def _calls(act, z, g):
    """Every ``(description, method, args, kwargs)`` the loop may make."""
    a = np.asarray(act.forward(z.copy()))
    methods = [("forward", act.forward, (z,))]
    if is_elementwise(act):
        methods.append(("derivative", act.derivative, (z, a)))
    if callable(getattr(act, "vjp", None)):  # also beside derivative: the loop calls it
        methods.append(("vjp", act.vjp, (z, a, g)))
    calls = []
    for name, fn, args in methods:
        calls.append((f"{name}(...)", fn, args, {}))
        if accepts_out(fn):
            calls.append((f"{name}(..., out=buf)", fn, args,
                          {"out": np.empty(z.shape, dtype=z.dtype)}))
    return calls


@law("activation.inputs-untouched")
def inputs_untouched(act, ctx):
    """No method modifies its inputs: forward(z), derivative(z, a) and vjp(z, a, g),
    with or without out=, leave z, a and g exactly as they were (values, shape, dtype).

    The loop passes its own buffers; a method writing into them corrupts the
    backward pass.
    """
    lo, hi = domain(act)
    strategy = matrices(floats(lo, hi)).flatmap(
        lambda z: st.tuples(st.just(z), hnp.arrays(np.float64, z.shape,
                                                   elements=floats(-1, 1))))

    def body(example):
        z, g = example
        for what, fn, args, kwargs in _calls(act, z, g):
            before = [x.copy() for x in args]
            fn(*args, **kwargs)
            for name, b, x in zip(("z", "a", "g"), before, args):
                if not unchanged(b, x):
                    raise Violation(f"{what} modified its argument {name}:\n  before "
                                    f"{fmt(b)}\n  after  {fmt(x)}")

    grid = sweep(lo, hi, 801)
    guarded(lambda: body((grid, np.linspace(-1, 1, grid.size).reshape(grid.shape))),
            "the dense grid")
    ctx.search(body, strategy, describe=lambda e: f"z = {fmt(e[0])}\ng = {fmt(e[1])}")


# ---------------------------------------------------------------- dtype and shape
@law("activation.dtype")
def dtype(act, ctx):
    """Every method keeps the input's dtype and shape: float32 in, float32 out
    (float64 in, float64 out), for forward, derivative / vjp and their out= forms;
    the float32 results agree with float64 ones to 1e-5 relative (+1e-6).

    A float32 run whose activation silently returns float64 doubles its cost.
    """
    lo, hi = domain(act)
    # the grid as float32 values, so both precisions see the same z
    grid = sweep(lo, hi, 1001).astype(np.float32).astype(np.float64)
    away = ~near_kink(grid, kinks(act), 1e-3 * np.maximum(1.0, np.abs(grid)))
    for shape in (grid.shape, (grid.size, 1), (1, grid.size)):
        z64 = grid.reshape(shape)
        a64 = np.asarray(act.forward(z64.copy()), dtype=np.float64)
        b64 = np.asarray(_backward(act, z64.copy(), a64.copy(), np.ones(shape)),
                         dtype=np.float64)
        for dt in (np.float32, np.float64):
            z = z64.astype(dt)
            a = np.asarray(act.forward(z.copy()))
            g = np.ones(shape, dtype=dt)
            back = np.asarray(_backward(act, z.copy(), a.copy(), g))
            name = "vjp(z, a, g)" if uses_vjp(act) else "derivative(z, a)"
            for what, out in (("forward(z)", a), (name, back)):
                if out.dtype != np.dtype(dt) or out.shape != z.shape:
                    raise Violation(f"{what} with z of dtype {np.dtype(dt).name}, shape "
                                    f"{z.shape} returned dtype {out.dtype.name}, shape "
                                    f"{out.shape}; it must keep both")
            for what, fn, args, kwargs in _calls(act, z, g):
                if "out" in kwargs:
                    ret = fn(*[x.copy() for x in args], **kwargs)
                    if ret is not None and np.asarray(ret).dtype != np.dtype(dt):
                        raise Violation(f"{what} with {np.dtype(dt).name} buffers returned "
                                        f"dtype {np.asarray(ret).dtype.name}")
            if dt is np.float32:
                expect_close("forward(z) in float32 vs float64", a, a64,
                             1e-6 * (1 + np.abs(a64)) + 1e-5 * np.abs(a64),
                             inputs={"z": z64})
                ok = away.reshape(shape)
                expect_close(f"{name} in float32 vs float64", np.where(ok, back, b64), b64,
                             1e-6 * (1 + np.abs(a64)) + 1e-5 * np.abs(b64),
                             inputs={"z": z64}, note=" (kinks excluded)" if
                             kinks(act).size else "")


# ---------------------------------------------------------------- derivative
def _reference(act, z, ks):
    """``(numeric f'(z), tolerance, method)``: complex step where forward is analytic
    in its implementation (agreeing with central differences), else 4th-order
    central differences."""
    h = FIFTH_EPS * np.maximum(1.0, np.abs(z))
    c4, err = central4_estimate(act.forward, z, h)
    with np.errstate(all="ignore"):
        f = np.abs(np.asarray(act.forward(z), dtype=np.float64))
    tol4 = ATOL + RTOL * np.abs(c4) + 40 * EPS * (1.0 + f) / h + err
    away = ~near_kink(z, ks, 3 * h)
    cs = complex_step(act.forward, z)
    if cs is not None and np.isfinite(cs[away]).all() and (
            np.abs(cs - c4)[away] <= tol4[away]).all():
        return cs, CS_ATOL + CS_RTOL * np.abs(cs), "complex step", away
    return c4, tol4, "4th-order central difference", away


def _explain(act, z, d, numeric, tol, method, i, ks):
    hint = ""
    if not np.isfinite(d[i]):
        hint = " (not finite)"
    elif abs(numeric[i] - d[i]) > 0.25 and not ks.size:
        hint = ("\n  (if the derivative is undefined at this z, declare it: "
                f"kinks = ({float(z[i])!r},))")
    return (f"at z = {num(z[i])} (index {list(i)} of z, shape {z.shape}):\n"
            f"  derivative(z, a) = {num(d[i])}{hint}\n"
            f"  {method} = {num(numeric[i])}\n"
            f"  |difference| = {abs(d[i] - numeric[i]):.3g} > tolerance {tol[i]:.3g}")


def _check_derivative(act, z, ks):
    from deltarule.specs.search import worst

    a = np.asarray(act.forward(z.copy()))
    d = np.asarray(act.derivative(z.copy(), a.copy()), dtype=np.float64)
    if d.shape != z.shape:
        raise Violation(f"derivative(z, a) returned shape {d.shape} for z of shape {z.shape}")
    numeric, tol, method, away = _reference(act, z, ks)
    i = worst(np.where(away, d, 0.0), np.where(away, numeric, 0.0), tol)
    if i is not None:
        bad = int(np.count_nonzero(away & ~(np.abs(d - numeric) <= tol)))
        raise Violation(_explain(act, z, d, numeric, tol, method, i, ks)
                        + (f"\n  ({bad} of {z.size} points out of tolerance)" if bad > 1
                           else ""))


@law("activation.derivative", applies=_elementwise)
def derivative(act, ctx):
    """derivative(z, a) equals df/dz element by element: against complex-step
    differentiation Im f(z + ih)/h where forward accepts complex input (to
    1e-12 + 1e-9·|f'|), else 4th-order central differences with
    h = ε^(1/5)·max(1, |z|) (to 1e-9 + 1e-7·|f'| + 20 ε (1 + |f|)/h);
    points within 3h of a declared kink are not compared.

    One vectorised call on a dense grid of 4 000+ points over the declared
    domain, then hypothesis-drawn shapes and edge values.
    """
    lo, hi = domain(act)
    ks = kinks(act)
    grid = sweep(lo, hi)
    guarded(lambda: _check_derivative(act, grid, ks),
            f"the dense grid over the domain [{lo}, {hi}]")
    ctx.search(lambda z: _check_derivative(act, z, ks), edge_matrices(lo, hi),
               describe=lambda z: f"z = {fmt(z)}", scale=0.5)


# ---------------------------------------------------------------- vjp
def _check_vjp(act, z, g, ks):
    from deltarule.specs.search import worst

    a = np.asarray(act.forward(z.copy()))
    v = np.asarray(act.vjp(z.copy(), a.copy(), g.copy()), dtype=np.float64)
    if v.shape != z.shape:
        raise Violation(f"vjp(z, a, g) returned shape {v.shape} for z of shape {z.shape}")
    numeric = np.empty_like(z)
    tol = np.empty_like(z)
    for idx in np.ndindex(z.shape):
        h = FIFTH_EPS * max(1.0, abs(z[idx]))
        e = np.zeros_like(z)
        e[idx] = 1.0
        f = lambda t: np.vdot(g, np.asarray(act.forward(z + t * e), dtype=np.float64))  # noqa
        d = [(-f(2 * s) + 8 * f(s) - 8 * f(-s) + f(-2 * s)) / (12 * s) for s in (h, h / 2)]
        numeric[idx] = d[1]
        err = min(4 * abs(d[0] - d[1]), 1e-2 * (1 + abs(d[1])))
        scale = float(np.abs(g).sum())
        tol[idx] = ATOL * (1 + z.shape[-1]) + RTOL * abs(numeric[idx]) + 40 * EPS * (
            1 + scale) / h + err
    hs = FIFTH_EPS * np.maximum(1.0, np.abs(z))
    away = ~near_kink(z, ks, 3 * hs)
    i = worst(np.where(away, v, 0.0), np.where(away, numeric, 0.0), tol)
    if i is not None:
        raise Violation(
            f"at entry {list(i)} (z = {num(z[i])}, g = {num(g[i])}):\n"
            f"  vjp(z, a, g) = {num(v[i])}\n"
            f"  4th-order central difference of Σ g ⊙ forward(z) = {num(numeric[i])}\n"
            f"  |difference| = {abs(v[i] - numeric[i]):.3g} > tolerance {tol[i]:.3g}\n"
            f"  z = {fmt(z)}\n  g = {fmt(g)}")


@law("activation.vjp", applies=_has_vjp)
def vjp(act, ctx):
    """(Activations with vjp: those that are not element-wise, and element-wise ones
    offering the fused g ⊙ f'(z), which the loop then calls) vjp(z, a, g) equals the gradient of
    Σ g ⊙ forward(z) with respect to z, entry by entry, against 4th-order central
    differences (to 1e-9·(1 + n_units) + 1e-7·|numeric| + round-off).

    Twelve fixed random (z, g) of shape 6 × 5 over the domain, then
    hypothesis-drawn shapes.
    """
    lo, hi = domain(act)
    ks = kinks(act)
    rng = ctx.rng("activation.vjp")
    for k in range(12):
        z = rng.uniform(lo, hi, (6, 5)) * (0.3 if k % 2 else 1.0)
        g = rng.uniform(-1, 1, (6, 5))
        guarded(lambda: _check_vjp(act, z, g, ks), lambda: f"z = {fmt(z)}\ng = {fmt(g)}")
    strategy = st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
        lambda s: st.tuples(hnp.arrays(np.float64, s, elements=floats(lo, hi)),
                            hnp.arrays(np.float64, s, elements=floats(-1, 1))))
    ctx.search(lambda e: _check_vjp(act, e[0], e[1], ks), strategy,
               describe=lambda e: f"z = {fmt(e[0])}\ng = {fmt(e[1])}", scale=0.5)


# ---------------------------------------------------------------- out buffers
@law("activation.out-buffer")
def out_buffer(act, ctx):
    """A method taking out= writes into the buffer exactly what it returns without
    out= (to 1e-12 relative), and returns the buffer or None.

    Methods without out= are allowed (the loop copies their result); then the
    law is skipped.
    """
    from deltarule.specs.search import Skip

    lo, hi = domain(act)
    methods = [m for m in ("forward", "derivative", "vjp")
               if callable(getattr(act, m, None)) and accepts_out(getattr(act, m))]
    if not methods:
        raise Skip("no method takes out=; the loop then copies results (allowed)")

    def body(example):
        z, g = example
        a = np.asarray(act.forward(z.copy()), dtype=np.float64)
        for m in methods:
            fn = getattr(act, m)
            args = {"forward": (z,), "derivative": (z, a), "vjp": (z, a, g)}[m]
            plain = np.asarray(fn(*[x.copy() for x in args]), dtype=np.float64)
            buf = np.full(z.shape, np.nan)
            ret = fn(*[x.copy() for x in args], out=buf)
            expect_close(f"{m}(..., out=buf) wrote into buf vs {m}(...) returned", buf,
                         plain, 1e-300 + 1e-12 * np.abs(plain), inputs={"z": z})
            if ret is not None and ret is not buf and not np.allclose(
                    np.asarray(ret), plain, rtol=1e-12, atol=1e-300):
                raise Violation(f"{m}(..., out=buf) returned {fmt(ret)} but "
                                f"{m}(...) returns {fmt(plain)}")

    grid = sweep(lo, hi, 801)
    guarded(lambda: body((grid, np.linspace(-1, 1, grid.size).reshape(grid.shape))),
            "the dense grid")
    strategy = matrices(floats(lo, hi)).flatmap(
        lambda z: st.tuples(st.just(z), hnp.arrays(np.float64, z.shape,
                                                   elements=floats(-1, 1))))
    ctx.search(body, strategy, describe=lambda e: f"z = {fmt(e[0])}")


# ---------------------------------------------------------------- independence
@law("activation.rows-independent")
def rows_independent(act, ctx):
    """Samples do not interact: an element-wise activation gives every entry the
    value it gives that entry alone, and a row-wise one (vjp) every row the value it
    gives that row alone; so permuting rows (and, element-wise, columns) permutes
    the outputs.  Forward and derivative / vjp, to 1e-13 relative.

    Mini-batches rely on it: a batch must not change a sample's output.
    """
    lo, hi = domain(act)
    rng = ctx.rng("activation.rows-independent")
    z = rng.uniform(lo, hi, (17, 5))
    g = rng.uniform(-1, 1, z.shape)
    a = np.asarray(act.forward(z.copy()), dtype=np.float64)
    b = np.asarray(_backward(act, z.copy(), a.copy(), g.copy()), dtype=np.float64)
    rows = rng.permutation(z.shape[0])
    cols = rng.permutation(z.shape[1]) if is_elementwise(act) else np.arange(z.shape[1])
    zp, gp = z[rows][:, cols], g[rows][:, cols]
    ap = np.asarray(act.forward(zp.copy()), dtype=np.float64)
    bp = np.asarray(_backward(act, zp.copy(), ap.copy(), gp.copy()), dtype=np.float64)
    what = "entries" if is_elementwise(act) else "rows"
    expect_close(f"forward of the permuted {what} vs the permuted forward", ap,
                 a[rows][:, cols], 1e-300 + 1e-13 * np.abs(a[rows][:, cols]))
    expect_close(f"derivative/vjp of the permuted {what} vs the permuted result", bp,
                 b[rows][:, cols], 1e-300 + 1e-13 * np.abs(b[rows][:, cols]))
    for i in range(z.shape[0]):
        if is_elementwise(act):
            zi, gi = z[i].reshape(-1, 1), g[i].reshape(-1, 1)
        else:
            zi, gi = z[i:i + 1], g[i:i + 1]
        ai = np.asarray(act.forward(zi.copy()), dtype=np.float64).reshape(-1)
        bi = np.asarray(_backward(act, zi.copy(), ai.reshape(zi.shape).copy(), gi.copy()),
                        dtype=np.float64).reshape(-1)
        expect_close(f"forward of row {i} alone vs within the batch", ai, a[i],
                     1e-300 + 1e-13 * np.abs(a[i]))
        expect_close(f"derivative/vjp of row {i} alone vs within the batch", bi, b[i],
                     1e-300 + 1e-13 * np.abs(b[i]))


# ---------------------------------------------------------------- textbook
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _softplus(z):
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


# name -> (options to try, forward(z, opts), derivative(z, opts) or None,
#          vjp(z, g, opts) or None, output_range, kinks)
TEXTBOOK = {
    "sigmoid": ([{}], lambda z, o: _sigmoid(z),
                lambda z, o: _sigmoid(z) * (1 - _sigmoid(z)), None, (0.0, 1.0), ()),
    "tanh": ([{}], lambda z, o: np.tanh(z), lambda z, o: 1 - np.tanh(z) ** 2, None,
             (-1.0, 1.0), ()),
    "relu": ([{}], lambda z, o: np.where(z > 0, z, 0.0),
             lambda z, o: np.where(z > 0, 1.0, 0.0), None, (0.0, math.inf), (0.0,)),
    "leaky_relu": ([{}, {"slope": 0.2}, {"slope": 0.0}, {"slope": 1.0}],
                   lambda z, o: np.where(z > 0, z, o.get("slope", 0.01) * z),
                   lambda z, o: np.where(z > 0, 1.0, o.get("slope", 0.01)), None,
                   (-math.inf, math.inf), (0.0,)),
    "softplus": ([{}], lambda z, o: _softplus(z), lambda z, o: _sigmoid(z), None,
                 (0.0, math.inf), ()),
    "identity": ([{}], lambda z, o: z.copy(), lambda z, o: np.ones_like(z), None,
                 (-math.inf, math.inf), ()),
    "softmax": ([{}], None, None, None, (0.0, 1.0), ()),
}


def _softmax_rows(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _textbook(act):
    return None if act.name in TEXTBOOK else (
        f"no textbook formula for {act.name!r} (this law pins the bundled activations: "
        f"{', '.join(TEXTBOOK)})")


@law("activation.textbook", applies=_textbook)
def textbook(act, ctx):
    """A component named like a bundled activation computes its textbook formula,
    written out independently here, on a dense grid over [−10, 10] (to 4 ε
    relative), including the kink conventions (relu'(0) = 0, leaky_relu'(0) =
    slope), for the default and other options; and declares the documented
    output_range and kinks.  Forward also on 2¹⁷ + 8 and 2¹⁹ + 8 elements at once, and softmax
    on tall, wide and short batches (implementations may switch strategy on size).
    An element-wise vjp, where there is one, is g ⊙ the textbook derivative (kinks
    included), on the grid and on 2¹⁷ + 8 elements.

    sigmoid 1/(1 + e^−z), σ(1 − σ); tanh, 1 − tanh²; relu max(z, 0), [z > 0];
    leaky_relu z or slope·z, 1 or slope; softplus log(1 + e^z), σ; identity z, 1;
    softmax e^z_k / Σ_j e^z_j row-wise, vjp a ⊙ (g − Σ_k g_k a_k).
    """
    options, f, df, _, out_range, ks = TEXTBOOK[act.name]
    declared = tuple(float(v) for v in (getattr(act, "output_range", None) or ()))
    if declared != tuple(out_range):
        raise Violation(f"declares output_range {getattr(act, 'output_range', None)!r}; "
                        f"{act.name} maps onto {out_range!r}")
    if tuple(float(k) for k in kinks(act)) != tuple(ks):
        raise Violation(f"declares kinks {getattr(act, 'kinks', ())!r}; {act.name}'s "
                        f"derivative is undefined exactly at {ks!r}")
    z = np.concatenate([sweep(-10.0, 10.0).ravel(), [0.0, -0.0, 1e-300, -1e-300]])
    tol = lambda ref: 1e-300 + 4 * EPS * np.abs(ref)  # noqa: E731
    if act.name == "softmax":
        rng = ctx.rng("activation.textbook")
        # tall, wide and short batches: implementations may switch strategy on shape
        for shape in ((200, 4), (20, 100), (3, 7)):
            Z = rng.uniform(-10, 10, shape)
            G = rng.uniform(-1, 1, Z.shape)
            A = _softmax_rows(Z)
            expect_close(f"softmax forward {shape}", act.forward(Z.copy()), A,
                         1e-300 + 8 * EPS * A)
            ref = A * (G - (G * A).sum(axis=1, keepdims=True))
            expect_close(f"softmax vjp {shape}", act.vjp(Z.copy(), A.copy(), G.copy()), ref,
                         1e-15 + 16 * EPS * np.abs(ref))
        return
    z = z.reshape(-1, 4)
    # large arrays too (2¹⁷ + 8 and 2¹⁹ + 8 elements): implementations may switch
    # strategy on size
    bigs = [np.concatenate([np.tile(z.ravel(), 1 + size // z.size)[:size],
                            z.ravel()[:8]]).reshape(-1, 8) for size in (1 << 17, 1 << 19)]
    for opts in options:
        if opts and not set(opts) <= option_names(act):
            continue
        comp = configure(act, **opts) if opts else act
        a = np.asarray(comp.forward(z.copy()), dtype=np.float64)
        ref = f(z, opts)
        expect_close(f"forward{opts or ''} vs the textbook", a, ref, tol(ref),
                     inputs={"z": z})
        d = np.asarray(comp.derivative(z.copy(), a.copy()), dtype=np.float64)
        ref = df(z, opts)
        expect_close(f"derivative{opts or ''} vs the textbook", d, ref,
                     1e-300 + 8 * EPS * np.abs(ref), inputs={"z": z})
        if callable(getattr(comp, "vjp", None)):
            # the loop calls vjp when there is one: g ⊙ the derivative, kinks included
            rng = ctx.rng("activation.textbook")
            for zz in (z, bigs[0]):
                g = rng.uniform(-2.0, 2.0, zz.shape)
                aa = np.asarray(comp.forward(zz.copy()), dtype=np.float64)
                ref = g * df(zz, opts)
                expect_close(f"vjp{opts or ''} of {zz.size} elements vs g ⊙ the textbook "
                             "derivative", comp.vjp(zz.copy(), aa, g.copy()), ref,
                             1e-300 + 8 * EPS * np.abs(ref), inputs={"z": zz, "g": g})
        for big in bigs:
            ref = f(big, opts)
            expect_close(f"forward{opts or ''} of {big.size} elements vs the textbook",
                         np.asarray(comp.forward(big.copy()), dtype=np.float64), ref,
                         tol(ref))


# ---------------------------------------------------------------- options
def _has_options(comp):
    return None if callable(getattr(comp, "options", None)) else (
        "no options() (a component without hyper-parameters need not have one)")


@law("activation.options", applies=_has_options)
def options(act, ctx):
    """options() describes the activation: it is a JSON-serialisable dict (model files
    record it), and rebuilding the component from it — as (name, options) does —
    gives the same outputs bit for bit (forward and derivative / vjp on the dense
    grid).
    """
    import json

    opts = act.options()
    if not isinstance(opts, dict):
        raise Violation(f"options() returned {opts!r}, not a dict")
    try:
        json.dumps(opts)
    except (TypeError, ValueError) as exc:
        raise Violation(f"options() = {opts!r} is not JSON-serialisable: {exc}") from None
    try:
        twin = configure(act, **opts)
    except Exception as exc:
        raise Violation(f"rebuilding from options() = {opts!r} failed: "
                        f"{type(exc).__name__}: {exc}") from None
    lo, hi = domain(act)
    z = sweep(lo, hi, 801)
    g = np.linspace(-1, 1, z.size).reshape(z.shape)
    for what, mine, theirs in (
            ("forward", act.forward(z.copy()), twin.forward(z.copy())),
            ("derivative/vjp", _backward(act, z.copy(), np.asarray(act.forward(z.copy())), g),
             _backward(twin, z.copy(), np.asarray(twin.forward(z.copy())), g))):
        if not np.array_equal(np.asarray(mine), np.asarray(theirs)):
            raise Violation(f"rebuilt from options() = {opts!r}, {what} differs from the "
                            "original's")

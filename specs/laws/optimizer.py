"""Laws of optimizers: a factory ``factory(lr=..., **options)`` building a per-run
object whose ``step(params, grads)`` updates the parameter arrays in place.

Declarations: ``spec_options`` (hyper-parameters these laws build it with,
default ``{"lr": 0.1}``) and ``spec_steps`` (steps allowed on the convex
quadratic, default 500).
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from deltarule.specs.registry import law
from deltarule.specs.search import Violation, expect_close, expect_raises, fmt, guarded

QUADRATIC_TARGET = 0.1


def spec_options(factory) -> dict:
    return dict(getattr(factory, "spec_options", None) or {"lr": 0.1})


def build(factory, **override):
    options = {**spec_options(factory), **override}
    try:
        opt = factory(**options)
    except Exception as exc:
        raise Violation(f"could not build the optimizer with options {options!r}: "
                        f"{type(exc).__name__}: {exc}") from None
    if not callable(getattr(opt, "step", None)):
        raise Violation(f"{factory!r}(**{options!r}) built {opt!r}, which has no step()")
    return opt


def quadratic(seed: int, d: int):
    """``(A, θ*, θ0)``: A symmetric with eigenvalues in [0.5, 2], ‖θ0 − θ*‖ ∈ [1, 3]."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = rng.uniform(0.5, 2.0, d)
    A = (Q * lam) @ Q.T
    A = (A + A.T) / 2
    star = rng.uniform(-2, 2, d)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    return A, star, star + rng.uniform(1, 3) * u


def _f(A, star, theta):
    r = theta - star
    return 0.5 * float(r @ A @ r)


def descend(opt, A, star, theta0, steps):
    """Step like the loop: one flat parameter vector and one reused gradient buffer."""
    theta = theta0.copy()
    grad = np.empty_like(theta)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            np.dot(A, theta - star, out=grad)
            opt.step([theta], [grad])
    return theta


QUAD = st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 8))


def describe_quad(e):
    A, star, theta0 = quadratic(*e)
    return (f"quadratic seed {e[0]}, dimension {e[1]}:\n  A = {fmt(A)}\n"
            f"  θ* = {fmt(star)}\n  θ0 = {fmt(theta0)}")


def _run_grads(opt, theta0, grads):
    """The trajectory ``[θ_1, θ_2, ...]`` under a fixed gradient sequence."""
    theta = theta0.copy()
    out = []
    g = np.empty_like(theta)
    for gt in grads:
        np.copyto(g, gt)
        opt.step([theta], [g])
        out.append(theta.copy())
    return out


# ---------------------------------------------------------------- convergence
@law("optimizer.convex-quadratic")
def convex_quadratic(factory, ctx):
    """On random convex quadratics ½(θ−θ*)ᵀA(θ−θ*) (dimension 1–8, eigenvalues in
    [0.5, 2], start 1–3 away) the loss falls to ≤ 10 % of its start within
    spec_steps (default 500) steps built with spec_options (default {"lr": 0.1}),
    stepping one flat vector with one reused gradient buffer as the loop does.
    """
    steps = int(getattr(factory, "spec_steps", None) or 500)
    options = spec_options(factory)

    def body(example):
        A, star, theta0 = quadratic(*example)
        f0 = _f(A, star, theta0)
        theta = descend(build(factory), A, star, theta0, steps)
        f1 = _f(A, star, theta) if np.isfinite(theta).all() else math.inf
        if not f1 <= QUADRATIC_TARGET * f0:
            raise Violation(
                f"after {steps} steps with {options!r} the loss is {f1!r}, "
                f"{f1 / f0 if f0 else math.inf:.3g} × its start {f0!r} (needs ≤ "
                f"{QUADRATIC_TARGET}); declare spec_options / spec_steps if other "
                f"hyper-parameters suit it\n{describe_quad(example)}\n  θ end = {fmt(theta)}")

    ctx.search(body, QUAD, describe=describe_quad, shrink=False, scale=0.5)


# ---------------------------------------------------------------- first-order laws
@law("optimizer.descent-direction")
def descent_direction(factory, ctx):
    """The first step from a fresh state moves against the gradient:
    ⟨θ₁ − θ₀, g⟩ < 0 for any non-zero g (random θ₀, g of 1–40 entries, twenty
    fixed draws and hypothesis-drawn ones).
    """
    def body(seed):
        rng = np.random.default_rng(seed)
        d = int(rng.integers(1, 41))
        theta0 = rng.normal(0, 2, d)
        g = rng.normal(0, 1, d) * rng.choice([1e-3, 1.0, 1e3])
        (theta1,) = _run_grads(build(factory), theta0, [g])
        move = float(np.dot(theta1 - theta0, g))
        if not move < 0:
            raise Violation(f"the first step moved by Δθ = {fmt(theta1 - theta0)} for "
                            f"gradient g = {fmt(g)}: ⟨Δθ, g⟩ = {move!r} is not < 0")

    for s in ctx.seeds("optimizer.descent-direction", 20):
        guarded(lambda: body(s), f"draw seed {s}")
    ctx.search(body, st.integers(0, 2**32 - 1), describe=lambda s: f"draw seed {s}",
               scale=0.5)


@law("optimizer.lr-scaling")
def lr_scaling(factory, ctx):
    """The update scales with the learning rate: under one gradient sequence (not
    depending on θ), building with c·lr moves θ by exactly c times as much at every
    step (c = 0.1 and 2.5, twelve steps, to 1e-12 relative).
    """
    lr = float(spec_options(factory).get("lr", 0.1))
    rng = ctx.rng("optimizer.lr-scaling")
    for trial in range(3):
        d = int(rng.integers(1, 12))
        theta0 = rng.normal(0, 1, d)
        grads = [rng.normal(0, 1, d) for _ in range(12)]
        base = _run_grads(build(factory, lr=lr), theta0, grads)
        for c in (0.1, 2.5):
            scaled = _run_grads(build(factory, lr=c * lr), theta0, grads)
            for t, (b, s) in enumerate(zip(base, scaled), 1):
                expected = c * (b - theta0)
                expect_close(f"step {t}: displacement with lr = {c} × {lr} vs {c} × the "
                             f"displacement with lr = {lr}", s - theta0, expected,
                             1e-300 + 1e-12 * (np.abs(expected) + c * np.abs(theta0)),
                             inputs={"θ0": theta0})


@law("optimizer.zero-gradient")
def zero_gradient(factory, ctx):
    """A zero gradient from a fresh state does not move the parameters (ten steps,
    exactly).
    """
    rng = ctx.rng("optimizer.zero-gradient")
    for d in (1, 5, 30):
        theta0 = rng.normal(0, 1, d)
        traj = _run_grads(build(factory), theta0, [np.zeros(d)] * 10)
        for t, theta in enumerate(traj, 1):
            if not np.array_equal(theta, theta0):
                raise Violation(f"after {t} steps with zero gradient θ moved from "
                                f"{fmt(theta0)} to {fmt(theta)}")


@law("optimizer.elementwise")
def elementwise(factory, ctx):
    """Updates are element-wise: the flat layout (one vector) and a per-array layout
    (the same values split into a matrix and vectors) follow the same trajectory,
    and permuting the parameters (with their gradients) permutes the update
    (eight steps on a quadratic, to 1e-13 relative).
    """
    rng = ctx.rng("optimizer.elementwise")
    for seed in ctx.seeds("optimizer.elementwise", 3):
        A, star, theta0 = quadratic(seed, 12)
        flat = _trajectory(build(factory), A, star, theta0, 8)
        # per-array: a 3 × 2 matrix, a 4-vector and a 2-vector, viewing nothing shared
        opt = build(factory)
        arrays = [theta0[:6].reshape(3, 2).copy(), theta0[6:10].copy(), theta0[10:].copy()]
        grads = [np.empty_like(a) for a in arrays]
        for t in range(8):
            theta = np.concatenate([a.ravel() for a in arrays])
            g = A @ (theta - star)
            grads[0][...] = g[:6].reshape(3, 2)
            grads[1][...] = g[6:10]
            grads[2][...] = g[10:]
            opt.step(arrays, grads)
            theta = np.concatenate([a.ravel() for a in arrays])
            expect_close(f"step {t + 1}: per-array layout vs flat layout", theta, flat[t],
                         1e-300 + 1e-13 * np.abs(flat[t]))
        perm = rng.permutation(12)
        Ap = A[np.ix_(perm, perm)]
        permuted = _trajectory(build(factory), Ap, star[perm], theta0[perm], 8)
        for t in range(8):
            expect_close(f"step {t + 1}: the permuted problem vs the permuted trajectory",
                         permuted[t], flat[t][perm], 1e-300 + 1e-13 * np.abs(flat[t][perm]))


def _trajectory(opt, A, star, theta0, steps):
    theta = theta0.copy()
    grad = np.empty_like(theta)
    out = []
    for _ in range(steps):
        np.dot(A, theta - star, out=grad)
        opt.step([theta], [grad])
        out.append(theta.copy())
    return out


@law("optimizer.independent-runs")
def independent_runs(factory, ctx):
    """Runs are independent and deterministic: two optimizers from one factory,
    stepped interleaved on different problems, follow exactly the trajectories they
    follow alone, and a fresh one built after other runs repeats the first run bit
    for bit.
    """
    def body(example):
        seed, d = example
        P = quadratic(seed, d)
        P2 = quadratic(seed + 1, d)
        steps = 25
        alone = descend(build(factory), *P, steps)
        b, c = build(factory), build(factory)
        if b is c:
            raise Violation("the factory returned the same object twice; each run needs "
                            "a fresh optimizer")
        tb, tc = P[2].copy(), P2[2].copy()
        gb, gc = np.empty_like(tb), np.empty_like(tc)
        with np.errstate(all="ignore"):
            for _ in range(steps):
                np.dot(P[0], tb - P[1], out=gb)
                b.step([tb], [gb])
                np.dot(P2[0], tc - P2[1], out=gc)
                c.step([tc], [gc])
        if not np.array_equal(alone, tb, equal_nan=True):
            raise Violation(
                f"two optimizers stepped interleaved on different problems: after {steps} "
                f"steps one is at {fmt(tb)}, but alone it reaches {fmt(alone)}; the runs "
                f"share state (class attributes? module globals?)\n{describe_quad(example)}")
        again = descend(build(factory), *P, steps)
        if not np.array_equal(alone, again, equal_nan=True):
            raise Violation(
                f"a fresh optimizer built after other runs reaches {fmt(again)}, the first "
                f"one reached {fmt(alone)}: state leaks from run to run, or the run is not "
                f"deterministic\n{describe_quad(example)}")

    ctx.search(body, QUAD, describe=describe_quad, shrink=False, scale=0.5)


@law("optimizer.step-contract")
def step_contract(factory, ctx):
    """step(params, grads) updates params in place (the same arrays, their dtype
    kept: float32 stays float32) and never modifies grads; float32 steps follow the
    float64 trajectory to 1e-4 relative (+1e-5) over five steps.
    """
    def body(example):
        A, star, theta0 = quadratic(*example)
        opt = build(factory)
        theta = theta0.copy()
        grad = A @ (theta - star)
        g0 = grad.copy()
        ret = opt.step([theta], [grad])
        if not np.array_equal(grad, g0):
            raise Violation(f"step(params, grads) modified grads: {fmt(g0)} became "
                            f"{fmt(grad)}")
        if np.array_equal(theta, theta0):
            hint = (" (it returned new arrays; update params in place)"
                    if ret is not None else "")
            raise Violation(f"step(params, grads) left params unchanged for gradient "
                            f"{fmt(grad)}{hint}")
        t64 = descend(build(factory), A, star, theta0, 5)
        opt32 = build(factory)
        t32 = theta0.astype(np.float32)
        g32 = np.empty_like(t32)
        for _ in range(5):
            np.copyto(g32, (A @ (t32.astype(np.float64) - star)).astype(np.float32))
            opt32.step([t32], [g32])
        if t32.dtype != np.float32:
            raise Violation(f"float32 parameters became {t32.dtype.name}")
        expect_close("float32 trajectory (5 steps) vs float64", t32, t64,
                     1e-5 + 1e-4 * np.abs(t64))

    ctx.search(body, QUAD, describe=describe_quad, shrink=False, scale=0.5)


# ---------------------------------------------------------------- textbook
def _factor(o, t):
    """The documented schedule factor at the 0-based step ``t``."""
    kind = o.get("schedule")
    r, s = o.get("decay_rate", 0.5), o.get("decay_steps", 1000)
    if kind is None or kind == "constant":
        return 1.0
    if callable(kind):
        return kind(t)
    if kind == "step":
        return r ** math.floor(t / s)
    if kind == "exponential":
        return r ** (t / s)
    if kind == "inverse_time":
        return 1.0 / (1.0 + r * t / s)
    raise ValueError(kind)


def reference(name, o, theta0, gradient, steps):
    """The textbook trajectory of optimizer ``name`` with options ``o``.

    ``gradient(θ)`` is the objective's gradient; weight decay λ adds λθ.
    """
    lr, wd = o["lr"], o.get("weight_decay", 0.0)
    mu = o.get("momentum", 0.9)
    theta = theta0.astype(np.float64).copy()
    v = np.zeros_like(theta)       # velocity, or Adam's second moment
    m = np.zeros_like(theta)       # Adam's first moment
    sq = np.zeros_like(theta)      # RMSprop's mean square
    out = []
    for t in range(steps):
        g = gradient(theta) + wd * theta
        eta = lr * _factor(o, t)
        if name == "sgd":
            theta = theta - eta * g
        elif name == "momentum" and o.get("form") == "step":
            v = mu * v - eta * g
            theta = theta + v
        elif name == "momentum":
            v = mu * v + g
            theta = theta - eta * v
        elif name == "nesterov" and o.get("form") == "step":
            v = mu * v - eta * g
            theta = theta + mu * v - eta * g
        elif name == "nesterov":
            v = mu * v + g
            theta = theta - eta * (g + mu * v)
        elif name == "rmsprop":
            rho, eps = o.get("rho", 0.9), o.get("eps", 1e-8)
            sq = rho * sq + (1 - rho) * g * g
            theta = theta - eta * g / (np.sqrt(sq) + eps)
        elif name == "adam":
            b1, b2, eps = o.get("beta1", 0.9), o.get("beta2", 0.999), o.get("eps", 1e-8)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            m_hat = m / (1 - b1 ** (t + 1))
            v_hat = v / (1 - b2 ** (t + 1))
            if o.get("eps_hat"):  # ε added to √v before the bias correction
                theta = theta - eta * np.sqrt(1 - b2 ** (t + 1)) / (1 - b1 ** (t + 1)) \
                    * m / (np.sqrt(v) + eps)
            else:
                theta = theta - eta * m_hat / (np.sqrt(v_hat) + eps)
        out.append(theta.copy())
    return out


_SCHEDULES = [
    {"schedule": "step", "decay_rate": 0.5, "decay_steps": 3},
    {"schedule": "exponential", "decay_rate": 0.7, "decay_steps": 4},
    {"schedule": "inverse_time", "decay_rate": 2.0, "decay_steps": 3},
    {"schedule": "constant"},
    {"schedule": lambda t: 1.0 / (1.0 + 0.5 * t)},
]
_COMMON = [{}, {"weight_decay": 0.3}, *_SCHEDULES,
           {"weight_decay": 0.1, "schedule": "step", "decay_rate": 0.8, "decay_steps": 2}]
TEXTBOOK = {
    "sgd": _COMMON,
    "momentum": _COMMON + [{"momentum": 0.5}, {"momentum": 0.0}, {"form": "step"},
                           {"form": "step", "momentum": 0.6, **_SCHEDULES[2]}],
    "nesterov": _COMMON + [{"momentum": 0.7}, {"momentum": 0.0}, {"form": "step"},
                           {"form": "step", "momentum": 0.6, **_SCHEDULES[2]}],
    "rmsprop": _COMMON + [{"rho": 0.6, "eps": 0.05}, {"rho": 0.99, "eps": 1.0}],
    "adam": _COMMON + [{"beta1": 0.5, "beta2": 0.8, "eps": 0.05},
                       {"beta1": 0.0, "beta2": 0.3, "eps": 1.0},
                       {"eps_hat": True, "beta2": 0.8, "eps": 0.05, **_SCHEDULES[1]}],
}


def _textbook(factory):
    name = getattr(factory, "name", None)
    return None if name in TEXTBOOK else (
        f"no textbook formula for {name!r} (this law pins the bundled optimizers: "
        f"{', '.join(TEXTBOOK)})")


@law("optimizer.textbook", applies=_textbook)
def textbook(factory, ctx):
    """A component named like a bundled optimizer follows its textbook update,
    written out here, over 12 steps from random states on random quadratics (so
    weight decay and the state interact), for the documented defaults, weight
    decay, every schedule (step r^⌊t/s⌋, exponential r^(t/s), inverse_time
    1/(1 + r t/s), constant, a callable) and other hyper-parameters; to 1e-12
    relative.

    sgd θ ← θ − η_t g; momentum v ← μv + g, θ ← θ − η_t v; nesterov v ← μv + g,
    θ ← θ − η_t (g + μv); rmsprop s ← ρs + (1−ρ)g², θ ← θ − η_t g/(√s + ε); adam
    m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − η_t m̂/(√v̂ + ε) with
    m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ); g includes the weight decay λθ; η_t = lr·factor(t),
    t counting steps from 0.  ``form="step"`` (momentum, nesterov): v ← μv − η_t g,
    θ ← θ + v (nesterov θ ← θ + μv − η_t g); ``eps_hat`` (adam):
    θ ← θ − η_t √(1−β₂ᵗ)/(1−β₁ᵗ) · m/(√v + ε).  A schedule answering anything but
    a finite number ≥ 0 is a ConfigError at the step that asks it, naming the answer.
    """
    name = factory.name
    rng = ctx.rng("optimizer.textbook")
    for k, extra in enumerate(TEXTBOOK[name]):
        opts = {"lr": float(rng.choice([0.05, 0.2])), **extra}
        try:
            opt = factory(**opts)
        except Exception as exc:
            raise Violation(f"could not build {name} with {opts!r}: "
                            f"{type(exc).__name__}: {exc}") from None
        d = int(rng.integers(1, 9))
        A, star, theta0 = quadratic(int(rng.integers(0, 2**31)), d)
        grad_fn = lambda th: A @ (th - star)  # noqa: E731
        expected = reference(name, opts, theta0, grad_fn, 12)
        theta = theta0.copy()
        g = np.empty_like(theta)
        for t in range(12):
            np.dot(A, theta - star, out=g)
            opt.step([theta], [g])
            shown = {a: (b if not callable(b) else "callable") for a, b in opts.items()}
            expect_close(f"{name}{shown}, step {t + 1}: θ vs the textbook update", theta,
                         expected[t], 1e-300 + 1e-12 * (np.abs(expected[t]) + 1.0),
                         inputs={"θ0": theta0})
    # a schedule answering something that is not a factor ≥ 0 is refused when asked
    from deltarule import ConfigError

    for answer in (None, "fast", -1.0, math.nan):
        opt = factory(lr=0.1, schedule=lambda t, answer=answer: answer)
        expect_raises(f"{name}: a schedule returning {answer!r}",
                      lambda: opt.step([np.ones(3)], [np.ones(3)]), ConfigError,
                      repr(answer), "step 0")


# ---------------------------------------------------------------- options
@law("optimizer.options")
def options(factory, ctx):
    """options() of a built optimizer describes it: building again from it gives the
    same trajectory bit for bit (twelve steps on a quadratic); skipped when the
    optimizer has no options().
    """
    from deltarule.specs.search import Skip

    opt = build(factory)
    if not callable(getattr(opt, "options", None)):
        raise Skip("the built optimizer has no options()")
    opts = opt.options()
    try:
        twin = factory(**opts)
    except Exception as exc:
        raise Violation(f"building from options() = {opts!r} failed: "
                        f"{type(exc).__name__}: {exc}") from None
    A, star, theta0 = quadratic(ctx.seeds("optimizer.options", 1)[0], 6)
    a = _trajectory(build(factory), A, star, theta0, 12)
    b = _trajectory(twin, A, star, theta0, 12)
    for t, (p, q) in enumerate(zip(a, b), 1):
        if not np.array_equal(p, q):
            raise Violation(f"rebuilt from options() = {opts!r}, step {t} differs: "
                            f"{fmt(q)} vs {fmt(p)}")

"""The model-axis laws: a component that declares ``model_axis = True`` honours it.

``deltarule.train_many`` stacks networks along a leading model axis and hands
a component that declares ``model_axis = True`` arrays of shape
``(models, n_samples, n_units)`` (optimizers: ``(models, n_params)``), one
call for every model.  The declaration is a promise, checked here per family
on random inputs.  "Equal" is to ``1e-12 · (1 + |value|)`` (the bundled
components agree to the bit).  A component without the declaration is
skipped: it runs through the per-model fallback, which needs no promise.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deltarule.specs.protocol import accepts_out
from deltarule.specs.registry import law
from deltarule.specs.search import Violation

TOL = 1e-12


def _declares(component):
    if getattr(component, "model_axis", False) is not True:
        return "does not declare model_axis = True (it runs once per model)"
    return None


def _close(stacked, per_model, what):
    stacked = np.asarray(stacked, dtype=np.float64)
    per_model = np.asarray(per_model, dtype=np.float64)
    if stacked.shape != per_model.shape:
        raise Violation(f"{what}: the stacked call gave shape {stacked.shape}, the "
                        f"per-model calls {per_model.shape}")
    bad = ~((stacked == per_model) | (np.abs(stacked - per_model)
                                       <= TOL * (1 + np.abs(per_model))))
    bad &= ~(np.isnan(stacked) & np.isnan(per_model))
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise Violation(f"{what}: stacked {stacked[i]!r} but model {i[0]} alone "
                        f"gives {per_model[i]!r} (entry {list(i)})")


def _blocks(lo, hi, units=(1, 4)):
    shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(*units))
    elements = st.floats(lo, hi, allow_nan=False, allow_subnormal=False)
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


def _per_model(fn, *arrays):
    return np.stack([np.asarray(fn(*(a[m] for a in arrays))) for m in range(len(arrays[0]))])


# ---------------------------------------------------------------- activations
@law("activation.model-axis", applies=_declares)
def activation_model_axis(act, ctx):
    """(Activations declaring model_axis = True) forward, derivative / vjp and their
    out= forms on a stack (models, n, k) equal the calls on each model's block
    alone, to 1e-12·(1 + |value|) (models 1–4, and a tall stack of 3 × 130 × 4).
    """
    lo, hi = (float(v) for v in getattr(act, "domain", (-10.0, 10.0)))
    lo, hi = max(lo, -50.0), min(hi, 50.0)

    def body(z):
        a = np.asarray(act.forward(z.copy()))
        _close(a, _per_model(act.forward, z), "forward(z)")
        if accepts_out(act.forward):
            buf = np.empty_like(z)
            act.forward(z, out=buf)
            _close(buf, a, "forward(z, out=buf)")
        g = np.cos(3 * z)  # any upstream gradient
        for name, args in (("derivative", (z, a)), ("vjp", (z, a, g))):
            method = getattr(act, name, None)
            if not callable(method):
                continue
            stacked = np.asarray(method(*(x.copy() for x in args)))
            _close(stacked, _per_model(method, *args), f"{name}(…)")
            if accepts_out(method):
                buf = np.empty_like(z)
                method(*args, out=buf)
                _close(buf, stacked, f"{name}(…, out=buf)")

    ctx.search(body, _blocks(lo, hi), describe=lambda z: f"z of shape {z.shape}")
    # and a tall stack: implementations may switch strategy on the batch's size
    body(ctx.rng("activation.model-axis").uniform(lo, hi, (3, 130, 4)))


# ---------------------------------------------------------------- losses
def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _loss_examples(loss):
    targets = getattr(loss, "targets", "real")
    preds = getattr(loss, "predictions", "real")
    kmin = 2 if (targets == "one_hot" or preds == "simplex") else 1

    def build(shape_and_seed):
        (m, n, k), seed, scale = shape_and_seed
        rng = np.random.default_rng(seed)
        z = rng.uniform(-3, 3, (m, n, k)) * scale  # 300: softmax and sigmoid saturate
        if preds == "unit":
            with np.errstate(over="ignore"):
                y_hat = 1 / (1 + np.exp(-z))
        elif preds == "simplex":
            y_hat = _softmax(z)
        else:
            y_hat = z
        if targets == "binary":
            y = (rng.random((m, n, k)) > 0.5).astype(float)
        elif targets == "one_hot":
            y = np.eye(k)[rng.integers(0, k, (m, n))]
        else:
            y = rng.uniform(-2, 2, (m, n, k)) if preds == "real" else \
                (1 / (1 + np.exp(-rng.uniform(-3, 3, (m, n, k)))))
        return y, y_hat, z

    shapes = st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(kmin, 4))
    return st.tuples(shapes, st.integers(0, 2**32 - 1),
                     st.sampled_from([1.0, 300.0])).map(build)


@law("loss.model-axis", applies=_declares)
def loss_model_axis(loss, ctx):
    """(Losses declaring model_axis = True) value on a stack (models, n, k) returns
    one value per model, that model's alone, with targets shared (2-D) or stacked
    (3-D); gradient, value_and_gradient and the fused deltas (with the bundled
    sigmoid and softmax) likewise, to 1e-12·(1 + |value|).
    """
    from deltarule.plugins.activations import Sigmoid, Softmax

    def body(example):
        y3, y_hat, z = example
        for y, shared in ((y3, False), (y3[0], True)):
            ys = np.broadcast_to(y, y_hat.shape)
            what = "with targets shared by every model" if shared else ""
            v = np.asarray(loss.value(y, y_hat.copy()))
            if v.shape != (len(y_hat),):
                raise Violation(f"value(y, y_hat) with y_hat {y_hat.shape} returned "
                                f"shape {v.shape}; a model-axis loss returns one value "
                                f"per model, ({len(y_hat)},)")
            _close(v, _per_model(loss.value, ys, y_hat), f"value {what}")
            grad = loss.gradient(y, y_hat.copy())
            _close(grad, _per_model(loss.gradient, ys, y_hat), f"gradient {what}")
            vg = getattr(loss, "value_and_gradient", None)
            if callable(vg):
                value, g = vg(y, y_hat.copy())
                per = [vg(ys[m], y_hat[m]) for m in range(len(y_hat))]
                _close(value, [p[0] for p in per], f"value_and_gradient value {what}")
                _close(g, np.stack([p[1] for p in per]), f"value_and_gradient gradient {what}")
            fused_for = getattr(loss, "fused_delta", None)
            if callable(fused_for):
                for act in (Sigmoid(), Softmax()):
                    fused = fused_for(act)
                    if fused is None:
                        continue
                    out = np.empty_like(y_hat)
                    a = np.asarray(act.forward(z.copy()))
                    value = fused(y, a, z, out)
                    outs = np.empty_like(y_hat)
                    per = [fused(ys[m], a[m], z[m], outs[m]) for m in range(len(z))]
                    _close(value, per, f"fused_delta({act.name}) value {what}")
                    _close(out, outs, f"fused_delta({act.name}) delta {what}")

    def quiet_body(example):
        with np.errstate(all="ignore"):  # saturated outputs: log 0 is expected
            body(example)

    ctx.search(quiet_body, _loss_examples(loss),
               describe=lambda e: f"y_hat of shape {e[1].shape}")


# ---------------------------------------------------------------- optimizers
@law("optimizer.model-axis", applies=_declares)
def optimizer_model_axis(factory, ctx):
    """(Optimizers declaring model_axis = True) step on (models, n_params) moves every
    row as 1-D steps of that row alone would, for several steps; after take(rows)
    the kept rows go on exactly as before (1e-12·(1 + |value|)).
    """
    options = dict(getattr(factory, "spec_options", None) or {"lr": 0.1})

    def body(example):
        m, p, seed = example
        rng = np.random.default_rng(seed)
        theta = rng.standard_normal((m, p))
        grads = [rng.standard_normal((m, p)) for _ in range(6)]
        stacked, alone = factory(**options), [factory(**options) for _ in range(m)]
        rows = [theta[i].copy() for i in range(m)]
        for k in range(4):
            stacked.step([theta], [grads[k]])
            for i in range(m):
                alone[i].step([rows[i]], [grads[k][i].copy()])
            _close(theta, np.stack(rows), f"step {k + 1}")
        keep = np.arange(0, m, 2)
        stacked.take(keep)
        theta = theta[keep].copy()
        for k in range(4, 6):
            stacked.step([theta], [grads[k][keep]])
            for i in keep:
                alone[i].step([rows[i]], [grads[k][i].copy()])
            _close(theta, np.stack([rows[i] for i in keep]), f"step {k + 1} after take")

    strategy = st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(0, 2**32 - 1))
    if not callable(getattr(factory, "take", None)):
        raise Violation("declares model_axis = True but has no take(rows): a stacked run "
                        "cannot drop the models that stopped")
    ctx.search(body, strategy, describe=lambda e: f"{e[0]} models of {e[1]} parameters, "
                                                  f"seed {e[2]}")


# ---------------------------------------------------------------- stop criteria
@law("stop.model-axis", applies=_declares)
def stop_model_axis(plugin, ctx):
    """(Stop criteria declaring model_axis = True) a short train_many run with the
    plugin (XOR, 1–3 seeds × learning rates 0.5 and 1.5; real losses, then scripted
    ones with plateaus and ties) stops every model with the reason and at the epoch
    of the run alone with its seed.
    """
    import deltarule
    from deltarule.datasets import xor

    X, y = xor()

    def body(example):
        seeds, epochs = example
        many = deltarule.train_many(X, y, seeds=seeds, lr=[0.5, 1.5], max_epochs=epochs,
                                    plugins=[plugin], entry_points=False)
        for spec, got in zip(many.specs, many.results):
            alone = deltarule.train(X, y, seed=spec.seed, max_epochs=epochs,
                                    plugins=[plugin], entry_points=False, **spec.settings)
            if (got.stop_reason, got.epochs) != (alone.stop_reason, alone.epochs):
                raise Violation(
                    f"seed {spec.seed}, {spec.settings}: the stacked run stopped with "
                    f"{got.stop_reason!r} at epoch {got.epochs}, the run alone with "
                    f"{alone.stop_reason!r} at epoch {alone.epochs}")

    strategy = st.tuples(st.lists(st.integers(0, 10**6), min_size=1, max_size=3,
                                  unique=True), st.integers(1, 80))
    ctx.search(body, strategy, describe=lambda e: f"seeds {e[0]}, max_epochs {e[1]}",
               scale=5 / max(5, ctx.max_examples), shrink=False)
    # scripted losses with plateaus and ties: every model sees the same trajectory
    from deltarule.specs import harness

    for script, options in (([3.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5], {"patience": 2}),
                            ([3.0, 2.0, 2.5, 2.0, 1.0], {"patience": 1, "target_loss": 1.0}),
                            ([1.0, 1.0, 0.5, 0.5, 0.2], {"target_loss": 0.5}),
                            ([2.0, 1.0, 1.5, 0.9], {"patience": 1, "min_delta": 0.2})):
        opts = dict(options, max_epochs=len(script))
        many = deltarule.train_many(
            X, y, seeds=[0, 1], lr=[0.5, 1.5], loss=harness.ScriptedLoss(script),
            plugins=[plugin], entry_points=False, **opts)
        for spec, got in zip(many.specs, many.results):
            alone = deltarule.train(X, y, seed=spec.seed, loss=harness.ScriptedLoss(script),
                                    plugins=[plugin], entry_points=False, **spec.settings,
                                    **opts)
            if (got.stop_reason, got.epochs) != (alone.stop_reason, alone.epochs):
                raise Violation(
                    f"scripted losses {script}, {opts}, seed {spec.seed}, {spec.settings}: "
                    f"the stacked run stopped with {got.stop_reason!r} at epoch "
                    f"{got.epochs}, the run alone with {alone.stop_reason!r} at epoch "
                    f"{alone.epochs}")



"""Many models: every model of a ``train_many`` run is the single run.

``deltarule.train_many(X, y, seeds=S, **grid, **options)`` stacks one network
per seed and grid setting along a leading model axis (:mod:`deltarule.stacked`)
and must end each exactly as ``deltarule.train(X, y, seed=s, **setting,
**options)`` would: the same parameters (within 1e-12; they agree to the bit
in practice), stop reason, epoch and loss histories — the stacked run
reproduces each single run's random streams (weights, shuffling, held-out
rows).
"""

from __future__ import annotations

import numpy as np

from deltarule.specs.registry import law
from deltarule.specs.search import Violation

PARAM_TOL = 1e-12


def _data(kind, rows=12, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((rows, 3))
    if kind == "regression":
        return X, np.stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 0]], axis=1)
    if kind == "binary":
        return X, np.stack([(X[:, 0] > 0), (X[:, 1] * X[:, 2] > 0)], axis=1).astype(float)
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.3).astype(int)
    return X, np.eye(3)[labels]


def equivalent(X, y, seeds, grid=None, **options):
    """Run ``train_many`` and every single run; compare them model by model."""
    import deltarule

    import warnings

    grid = grid or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        many = deltarule.train_many(X, y, seeds=seeds, **grid, **options,
                                    entry_points=False)
    if many.notes:
        raise Violation(f"a bundled component took the per-model fallback ({options}): "
                        f"{many.notes[0]}")
    want = len(seeds) * int(np.prod([len(v) for v in grid.values()] or [1]))
    if len(many) != want:
        raise Violation(f"train_many gave {len(many)} models; expected {want}")
    for spec, got in zip(many.specs, many.results):
        single = deltarule.train(X, y, seed=spec.seed, entry_points=False,
                                 **spec.settings, **options)
        what = f"model {spec.index} (seed {spec.seed}, {spec.settings}) of {options}"
        if (got.stop_reason, got.epochs) != (single.stop_reason, single.epochs):
            raise Violation(f"{what}: stopped with {got.stop_reason!r} at epoch "
                            f"{got.epochs}; the run alone with {single.stop_reason!r} at "
                            f"epoch {single.epochs}")
        for l, ((W, b), (W1, b1)) in enumerate(zip(got.params, single.params), start=1):
            for name, p, q in ((f"W{l}", W, W1), (f"b{l}", b, b1)):
                if p.shape != q.shape or not np.all(np.abs(p - q) <= PARAM_TOL):
                    raise Violation(f"{what}: {name} differs from the run alone's by "
                                    f"{np.max(np.abs(p - q)) if p.shape == q.shape else p.shape}")
        for name, a, b in (("history", got.history, single.history),
                           ("val_history", got.val_history, single.val_history)):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape or not np.allclose(a, b, rtol=1e-12, atol=0,
                                                      equal_nan=True):
                raise Violation(f"{what}: its {name} differs from the run alone's")
    return many


ACTIVATIONS = ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"]
LOSSES = [
    ("mse", ["tanh", "sigmoid"], "binary"),
    (("mse", {"reduction": "mean"}), ["tanh", "identity"], "regression"),
    ("binary_cross_entropy", ["tanh", "sigmoid"], "binary"),           # fused
    (("binary_cross_entropy", {"reduction": "sum"}), ["tanh", "softmax"], "binary"),
    ("cross_entropy", ["sigmoid", "softmax"], "classes"),              # fused
    (("cross_entropy", {"reduction": "sum"}), ["tanh", "sigmoid"], "classes"),
]
OPTIMIZERS = [
    ("sgd", [0.05, 0.2], None),
    ("momentum", [0.02, 0.05], {"momentum": 0.8}),
    ("nesterov", [0.02, 0.05], None),
    ("rmsprop", [0.005, 0.01], {"schedule": "exponential", "decay_steps": 20}),
    ("adam", [0.01, 0.03], {"weight_decay": 0.01}),
]
INITIALIZERS = ["randn", "xavier", "xavier_normal", "he", "he_normal", "zeros"]


def cases(full: bool):
    """``(label, check)`` of every case; ``full=False`` keeps one dtype and one batch
    setting per component (the mini-batch and float32 paths are still covered) and
    runs the per-component cases for 20 epochs instead of 30–60 (a stacked run that
    departs from the single one does so from its first epochs: every epoch
    runs the same code) and the target_loss / max_epochs grid on 3 seeds with
    shorter runs (still 7 different stops)."""
    from deltarule.datasets import xor

    out = []
    short = (lambda e: e) if full else (lambda e: min(e, 20))
    combos = [(b, d) for b in (None, 5) for d in ("float64", "float32")]
    pick = (lambda k: combos) if full else (lambda k: [combos[k % len(combos)]])
    for k, act in enumerate(ACTIVATIONS):
        for batch, dtype in pick(k):
            out.append((f"activation {act}, batch {batch}, {dtype}", lambda act=act, b=batch,
                        d=dtype: equivalent(*_data("regression"), [0, 1, 2],
                                            activation=[act, "identity"], layers=[3, 4, 2],
                                            lr=0.01, max_epochs=short(60), batch_size=b,
                                            dtype=d)))
    for k, (loss, acts, kind) in enumerate(LOSSES):
        for batch, dtype in pick(k + 1):
            X, y = _data(kind)
            out.append((f"loss {loss}, batch {batch}, {dtype}", lambda X=X, y=y, loss=loss,
                        acts=acts, b=batch, d=dtype: equivalent(
                            X, y, [0, 1, 2], loss=loss, activation=acts,
                            layers=[3, 5, y.shape[1]], lr=0.1, max_epochs=short(60),
                            batch_size=b, dtype=d)))
    for k, (opt, lrs, extra) in enumerate(OPTIMIZERS):
        for batch, dtype in pick(k + 2):
            out.append((f"optimizer {opt}, batch {batch}, {dtype}", lambda opt=opt, lrs=lrs,
                        extra=extra, b=batch, d=dtype: equivalent(
                            *_data("regression"), [3, 4], grid={"lr": lrs}, optimizer=opt,
                            optimizer_options=extra, activation=["tanh", "identity"],
                            layers=[3, 4, 2], max_epochs=short(50), batch_size=b, dtype=d)))
    for init in INITIALIZERS:
        out.append((f"initializer {init}", lambda init=init: equivalent(
            *_data("regression"), [0, 5], init=init, activation=["tanh", "identity"],
            layers=[3, 4, 2], lr=0.05, max_epochs=short(30))))
    X, y = xor()
    seeds, grid = (list(range(6)), {"lr": [0.5, 2.0], "target_loss": [0.05, 0.01],
                                    "max_epochs": [400, 900]}) if full else \
        ([0, 1, 2], {"lr": [2.0, 4.0], "target_loss": [0.05, 0.01], "max_epochs": [100, 250]})
    for k, (batch, dtype) in enumerate(pick(0)):
        out.append((f"target_loss and max_epochs, batch {batch}, {dtype}",
                    lambda b=batch, d=dtype: _stops_differ(equivalent(
                        X, y, seeds, grid=grid, batch_size=None if b is None else 2,
                        dtype=d))))
    for batch in ((None, 5) if full else (5,)):
        for validation in (False, True):
            out.append((f"patience, batch {batch}, validation split {validation}",
                        lambda b=batch, v=validation: _all_patience(equivalent(
                            *_data("regression", rows=20), list(range(5)),
                            grid={"patience": [3, 8]},
                            validation_split=0.25 if v else None, min_delta=0.05,
                            activation=["tanh", "identity"], layers=[3, 6, 2], lr=0.05,
                            max_epochs=300, batch_size=b))))
    # weight decay's scratch follows the stack when models stop at different epochs
    out.append(("weight decay, models stopping at epochs 5, 12 and 25", lambda: _stops_differ(
        equivalent(*_data("regression"), [0, 1], grid={"max_epochs": [5, 12, 25]},
                   optimizer="adam", optimizer_options={"weight_decay": 0.05, "eps_hat": True},
                   activation=["tanh", "identity"], layers=[3, 4, 2], lr=0.05,
                   batch_size=5), at_least=3)))
    # a budget per model (an array in the stacked config) that never runs out
    out.append(("time_budget grid", lambda: equivalent(
        *_data("regression"), [0, 1], grid={"time_budget": [1e6, 2e6]},
        activation=["tanh", "identity"], layers=[3, 4, 2], lr=0.05, max_epochs=6)))
    Xg, yg = _data("regression", rows=16)
    out.append(("gradient_tol with validation data", lambda: equivalent(
        Xg, yg, list(range(4)), grid={"gradient_tol": [0.5, 2.0]},
        validation_data=_data("regression", rows=6, seed=1),
        activation=["tanh", "identity"], layers=[3, 4, 2], lr=0.02, max_epochs=200)))
    for batch in ((None, 5) if full else (None,)):
        out.append((f"divergence of one model, batch {batch}", lambda b=batch: _one_diverges(
            equivalent(*_data("regression"), [0, 1, 2], grid={"lr": [0.01, 3.0]},
                       activation=["relu", "identity"], layers=[3, 8, 2], max_epochs=200,
                       batch_size=b))))
    out.append(("a layers grid", lambda: equivalent(
        *_data("regression"), [0, 1], grid={"layers": [[3, 2, 2], [3, 5, 2], [3, 4, 3, 2]]},
        activation="tanh", lr=0.05, max_epochs=40, validation_split=0.25)))
    return out


def _stops_differ(many, at_least=5):
    if len({(r.stop_reason, r.epochs) for r in many}) < at_least:
        raise Violation("the target_loss / max_epochs grid did not make the models stop "
                        "differently (the case tests nothing)")


def _all_patience(many):
    if {r.stop_reason for r in many} != {"patience"} or len({r.epochs for r in many}) <= 3:
        raise Violation("the patience grid did not stop every model by patience at "
                        "different epochs (the case tests nothing)")


def _one_diverges(many):
    reasons = [r.stop_reason for r in many]
    if "diverged" not in reasons or "max_epochs" not in reasons:
        raise Violation(f"expected some models to diverge and others not: {reasons}")
    for r in many:
        if not all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in r.params):
            raise Violation("a diverged model kept non-finite parameters")


@law("many.equivalence", uses=("activation:tanh", "loss:mse", "optimizer:sgd",
                               "initializer:randn", "stop:max_epochs"))
def equivalence(_, ctx):
    """Every model of a train_many run equals the single run with its seed and
    settings — parameters within 1e-12, the same stop reason at the same epoch, the
    same loss histories — for every bundled activation, loss (fused and general
    paths), optimizer (with a learning-rate grid), initializer and stop criterion
    (max_epochs, target_loss, patience on the training and the validation loss,
    gradient_tol), full batch and mini-batch, float64 and float32, with
    validation_split, validation_data, a layers grid and divergence; and no bundled
    component takes the per-model fallback (each declares the model axis).  The default
    profile runs each component once, alternating batch and dtype; ci and
    thorough run the whole matrix.
    """
    for label, check in cases(full=ctx.profile != "dev"):
        try:
            check()
        except Violation as exc:
            raise Violation(f"{label}: {exc}") from None

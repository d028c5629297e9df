"""Equivalence: every model of a ``train_many`` run is the single run.

For every bundled component (activations, losses, optimizers, initializers,
stop criteria), full batch and mini-batch, float64 and float32: each model
of ``deltarule.train_many(X, y, seeds=S, **grid, **options)`` ends with the
parameters of ``deltarule.train(X, y, seed=s, **setting, **options)`` within
``1e-12`` (they agree to the bit in practice), with the same stop reason at
the same epoch and the same loss history.  The stacked run reproduces the
single run's random streams (weights, shuffling, held-out rows) per model.
"""

import numpy as np
import pytest

import deltarule

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


def assert_equivalent(X, y, seeds, grid=None, **options):
    """Run ``train_many`` and every single run; compare them model by model."""
    grid = grid or {}
    many = deltarule.train_many(X, y, seeds=seeds, **grid, **options, entry_points=False)
    assert len(many) == len(seeds) * int(np.prod([len(v) for v in grid.values()] or [1]))
    for spec, got in zip(many.specs, many.results):
        single = deltarule.train(X, y, seed=spec.seed, entry_points=False,
                                 **spec.settings, **options)
        what = f"model {spec.index} (seed {spec.seed}, {spec.settings})"
        assert got.stop_reason == single.stop_reason, what
        assert got.epochs == single.epochs, what
        for l, ((W, b), (W1, b1)) in enumerate(zip(got.params, single.params), start=1):
            np.testing.assert_allclose(W, W1, rtol=0, atol=PARAM_TOL, err_msg=f"{what} W{l}")
            np.testing.assert_allclose(b, b1, rtol=0, atol=PARAM_TOL, err_msg=f"{what} b{l}")
        np.testing.assert_allclose(got.history, single.history, rtol=1e-12, atol=0,
                                   err_msg=f"{what} history")
        np.testing.assert_allclose(got.val_history, single.val_history, rtol=1e-12,
                                   atol=0, err_msg=f"{what} val_history")
    return many


DTYPES = ["float64", "float32"]
BATCHES = [None, 5]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", BATCHES, ids=["full", "mini"])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu",
                                        "softplus", "identity"])
def test_every_activation(activation, batch_size, dtype):
    X, y = _data("regression")
    assert_equivalent(X, y, [0, 1, 2], activation=[activation, "identity"],
                      layers=[3, 4, 2], lr=0.01, max_epochs=60, batch_size=batch_size,
                      dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", BATCHES, ids=["full", "mini"])
@pytest.mark.parametrize("loss, activation, kind", [
    ("mse", ["tanh", "sigmoid"], "binary"),
    (("mse", {"reduction": "mean"}), ["tanh", "identity"], "regression"),
    ("binary_cross_entropy", ["tanh", "sigmoid"], "binary"),           # fused
    (("binary_cross_entropy", {"reduction": "sum"}), ["tanh", "softmax"], "binary"),
    ("cross_entropy", ["sigmoid", "softmax"], "classes"),              # fused
    (("cross_entropy", {"reduction": "sum"}), ["tanh", "sigmoid"], "classes"),
], ids=["mse", "mse-mean", "bce-fused", "bce-general", "ce-fused", "ce-general"])
def test_every_loss(loss, activation, kind, batch_size, dtype):
    X, y = _data(kind)
    assert_equivalent(X, y, [0, 1, 2], loss=loss, activation=activation,
                      layers=[3, 5, y.shape[1]], lr=0.1, max_epochs=60,
                      batch_size=batch_size, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", BATCHES, ids=["full", "mini"])
@pytest.mark.parametrize("optimizer, lrs, extra", [
    ("sgd", [0.05, 0.2], None),
    ("momentum", [0.02, 0.05], {"momentum": 0.8}),
    ("nesterov", [0.02, 0.05], None),
    ("rmsprop", [0.005, 0.01], {"schedule": "exponential", "decay_steps": 20}),
    ("adam", [0.01, 0.03], {"weight_decay": 0.01}),
])
def test_every_optimizer_with_a_learning_rate_grid(optimizer, lrs, extra, batch_size,
                                                   dtype):
    X, y = _data("regression")
    assert_equivalent(X, y, [3, 4], grid={"lr": lrs}, optimizer=optimizer,
                      optimizer_options=extra, activation=["tanh", "identity"],
                      layers=[3, 4, 2], max_epochs=50, batch_size=batch_size, dtype=dtype)


@pytest.mark.parametrize("init", ["randn", "xavier", "xavier_normal", "he", "he_normal",
                                  "zeros"])
def test_every_initializer(init):
    X, y = _data("regression")
    assert_equivalent(X, y, [0, 5], init=init, activation=["tanh", "identity"],
                      layers=[3, 4, 2], lr=0.05, max_epochs=30)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch_size", BATCHES, ids=["full", "mini"])
def test_models_stop_on_their_own_target_loss_and_max_epochs(batch_size, dtype):
    from deltarule.datasets import xor

    X, y = xor()
    many = assert_equivalent(
        X, y, list(range(6)), grid={"lr": [0.5, 2.0], "target_loss": [0.05, 0.01],
                                    "max_epochs": [400, 900]},
        batch_size=None if batch_size is None else 2, dtype=dtype)
    assert len({(r.stop_reason, r.epochs) for r in many}) > 4  # they really differ


@pytest.mark.parametrize("batch_size", BATCHES, ids=["full", "mini"])
@pytest.mark.parametrize("validation", [False, True], ids=["train-loss", "val-split"])
def test_patience_restores_each_models_best(batch_size, validation):
    X, y = _data("regression", rows=20)
    many = assert_equivalent(X, y, list(range(5)), grid={"patience": [3, 8]},
                             validation_split=0.25 if validation else None, min_delta=1e-3,
                             activation=["tanh", "identity"], layers=[3, 6, 2], lr=0.05,
                             max_epochs=300, batch_size=batch_size)
    assert {r.stop_reason for r in many} == {"patience"}
    assert len({r.epochs for r in many}) > 3


def test_gradient_tolerance_and_validation_data():
    X, y = _data("regression", rows=16)
    Xv, yv = _data("regression", rows=6, seed=1)
    many = assert_equivalent(X, y, list(range(4)), grid={"gradient_tol": [0.5, 2.0]},
                             validation_data=(Xv, yv), activation=["tanh", "identity"],
                             layers=[3, 4, 2], lr=0.02, max_epochs=200)
    assert {r.stop_reason for r in many} == {"gradient_norm", "max_epochs"}


@pytest.mark.parametrize("batch_size", BATCHES, ids=["full", "mini"])
def test_divergence_of_one_model_touches_no_other(batch_size):
    X, y = _data("regression")
    many = assert_equivalent(X, y, [0, 1, 2], grid={"lr": [0.01, 3.0]},
                             activation=["relu", "identity"], layers=[3, 8, 2],
                             max_epochs=200, batch_size=batch_size)
    reasons = [r.stop_reason for r in many]
    assert "diverged" in reasons and "max_epochs" in reasons
    for r in many:
        assert all(np.isfinite(W).all() and np.isfinite(b).all() for W, b in r.params)


def test_a_layers_grid_runs_one_group_per_shape():
    X, y = _data("regression")
    many = assert_equivalent(X, y, [0, 1], grid={"layers": [[3, 2, 2], [3, 5, 2],
                                                            [3, 4, 3, 2]]},
                             activation="tanh", lr=0.05, max_epochs=40,
                             validation_split=0.25)
    assert [r.network.layers for r in many] == [(3, 2, 2)] * 2 + [(3, 5, 2)] * 2 \
        + [(3, 4, 3, 2)] * 2

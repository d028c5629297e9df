"""The training loop with the bundled catalogue: divergence, early stopping,
model files, interleaved and interrupted runs, float32, mini-batches,
warm starts."""

from __future__ import annotations

import numpy as np
import pytest

import deltarule
from deltarule import ModelFileError, Trainer

CAT = deltarule.make_plugin_manager(entry_points=False).catalogue()


@pytest.fixture(scope="module")
def regression():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = np.tanh(X @ np.array([[1.0], [2.0], [-1.0]])) + 0.05 * rng.normal(size=(60, 1))
    Xv = rng.normal(size=(25, 3))
    yv = np.tanh(Xv @ np.array([[1.0], [2.0], [-1.0]])) + 0.3 * rng.normal(size=(25, 1))
    return X, y, Xv, yv


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(1)
    centres = np.array([[0.0, 3.0], [3.0, 0.0], [-3.0, -3.0]])
    labels = rng.integers(0, 3, 90)
    X = centres[labels] + rng.normal(size=(90, 2))
    return X, np.eye(3)[labels], labels


def mse(y, y_hat):
    return CAT.get("losses", "mse").value(y, y_hat)


# -- divergence --------------------------------------------------------------

def test_huge_learning_rate_diverges_and_keeps_finite_parameters(regression):
    X, y, _, _ = regression
    r = deltarule.train(X, 100 * y, layers=[3, 8, 1], activation=["relu", "identity"],
                        init="he", lr=5.0, seed=0, max_epochs=1000)
    assert r.stop_reason == "diverged"
    assert r.epochs < 1000
    assert not np.isfinite(r.history[-1])
    assert all(np.isfinite(h) for h in r.history[:-1])
    assert np.isfinite(r.network.theta).all()
    assert np.isfinite(r.predict(X)).all()


# -- early stopping ------------------------------------------------------------

def test_patience_on_validation_loss_restores_the_best_parameters(regression):
    X, y, Xv, yv = regression
    r = deltarule.train(X, y, layers=[3, 40, 1], activation=["tanh", "identity"],
                        init="xavier", optimizer="adam", lr=0.02, seed=0,
                        max_epochs=3000, patience=10, validation_data=(Xv, yv))
    assert r.stop_reason == "patience"
    best = int(np.argmin(r.val_history))
    assert r.epochs == best + 1 + 10
    assert r.val_history[-1] > r.val_history[best]
    # a summed loss: the validation loss is put on the training set's scale
    scale = len(X) / len(Xv)
    assert scale * mse(yv, r.predict(Xv)) == pytest.approx(r.val_history[best], rel=1e-12)
    assert r.val_loss == pytest.approx(r.val_history[best], rel=1e-12)


def test_patience_on_training_loss_restores_the_parameters_that_scored_best(regression):
    X, y, _, _ = regression
    # min_delta large enough that improvement soon counts as none
    r = deltarule.train(X, y, layers=[3, 6, 1], activation=["tanh", "identity"],
                        init="xavier", lr=0.005, seed=0, max_epochs=5000,
                        patience=3, min_delta=0.05)
    assert r.stop_reason == "patience"
    assert r.epochs < 5000
    # full batch: the loss of epoch k is that of the parameters at its start
    best_loss, best = np.inf, None
    for i, h in enumerate(r.history):
        if h < best_loss - 0.05:
            best_loss, best = h, i
    assert r.epochs == best + 1 + 3
    assert mse(y, r.predict(X)) == pytest.approx(r.history[best], rel=1e-12)
    assert mse(y, r.predict(X)) > min(r.history)  # not the last, better parameters


def test_patience_with_validation_split_and_mini_batches(regression):
    X, y, _, _ = regression
    r = deltarule.train(X, y, layers=[3, 30, 1], activation=["tanh", "identity"],
                        init="xavier", optimizer="adam", lr=0.05, seed=3,
                        max_epochs=2000, patience=5, validation_split=0.3, batch_size=8)
    assert r.stop_reason == "patience"
    assert len(r.val_history) == r.epochs


# -- model files -------------------------------------------------------------

@pytest.mark.parametrize("activation", [
    ["tanh", "identity"],
    [("leaky_relu", {"slope": 0.2}), "softplus"],
    ["sigmoid", "softmax"],
])
def test_save_load_gives_identical_predictions(tmp_path, blobs, activation):
    X, Y, _ = blobs
    loss = "cross_entropy" if activation[-1] == "softmax" else "mse"
    r = deltarule.train(X, Y, layers=[2, 5, 3], activation=activation, loss=loss,
                        init="xavier", optimizer="momentum", lr=0.01, seed=2, max_epochs=30)
    path = tmp_path / "model.npz"
    r.save(path)
    net = deltarule.load(path)
    np.testing.assert_array_equal(net.predict(X), r.predict(X))
    assert [a.name for a in net.activations] == [a.name for a in r.network.activations]
    if isinstance(activation[0], tuple):
        assert net.activations[0].slope == 0.2


def test_pickled_model_file_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, W1=np.array([{"payload": 1}], dtype=object), b1=np.zeros(1))
    with pytest.raises(ModelFileError, match="pickle"):
        deltarule.load(path)


def test_truncated_model_file_is_refused(tmp_path, blobs):
    X, Y, _ = blobs
    r = deltarule.train(X, Y, layers=[2, 4, 3], seed=0, max_epochs=2)
    path = tmp_path / "m.npz"
    r.save(path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        deltarule.load(cut)


# -- interleaved and interrupted runs ---------------------------------------

def test_two_trainers_interleaved_in_one_thread_match_solo_runs(regression, blobs):
    X, y, _, _ = regression
    Xb, Yb, _ = blobs
    opts_a = dict(activation=["tanh", "identity"], optimizer="adam", lr=0.01, seed=4,
                  max_epochs=40, batch_size=16, patience=50)
    opts_b = dict(activation=["relu", "softmax"], loss="cross_entropy", init="he",
                  optimizer="nesterov", lr=0.05, seed=5, max_epochs=60, batch_size=32)
    solo_a = Trainer([3, 7, 1], **opts_a).fit(X, y)
    solo_b = Trainer([2, 6, 3], **opts_b).fit(Xb, Yb)
    ta, tb = Trainer([3, 7, 1], **opts_a), Trainer([2, 6, 3], **opts_b)
    ga, gb = ta.steps(X, y), tb.steps(Xb, Yb)
    done_a = done_b = False
    while not (done_a and done_b):
        if not done_a:
            done_a = next(ga, None) is None
        if not done_b:
            done_b = next(gb, None) is None
    assert ta.result.history == solo_a.history
    assert tb.result.history == solo_b.history
    np.testing.assert_array_equal(ta.result.network.theta, solo_a.network.theta)
    np.testing.assert_array_equal(tb.result.network.theta, solo_b.network.theta)
    assert ta.result.stop_reason == solo_a.stop_reason == "max_epochs"


def test_caller_stopping_steps_keeps_the_parameters_reached(regression):
    X, y, _, _ = regression
    trainer = Trainer([3, 5, 1], activation=["tanh", "identity"], lr=0.001, seed=0,
                      max_epochs=1000)
    seen = None
    for state in trainer.steps(X, y):
        if state.epoch == 7:
            seen = [(W.copy(), b.copy()) for W, b in state.params]
            break
    r = trainer.result
    assert r.stop_reason == "caller"
    assert r.epochs == 7
    for (W, b), (W2, b2) in zip(r.params, seen):
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
    ref = Trainer([3, 5, 1], activation=["tanh", "identity"], lr=0.001, seed=0,
                  max_epochs=7).fit(X, y)
    np.testing.assert_array_equal(ref.network.theta, r.network.theta)


# -- dtype, batches, warm starts -----------------------------------------------

@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_float32_end_to_end(blobs, optimizer):
    X, Y, labels = blobs
    r = deltarule.train(X, Y, layers=[2, 8, 3], activation=["tanh", "softmax"],
                        loss="cross_entropy", init="xavier_normal", optimizer=optimizer,
                        lr=0.05, seed=0, max_epochs=150, batch_size=16, dtype="float32")
    assert r.network.theta.dtype == np.float32
    assert all(W.dtype == np.float32 and b.dtype == np.float32 for W, b in r.params)
    pred = r.predict(X)
    assert pred.dtype == np.float32
    assert np.isfinite(r.history).all() and r.loss < r.history[0]
    assert (pred.argmax(1) == labels).mean() > 0.9


def test_mini_batch_shuffling_reproducible_from_seed(regression):
    X, y, _, _ = regression
    opts = dict(layers=[3, 5, 1], activation=["tanh", "identity"], lr=0.01,
                max_epochs=20, batch_size=7)
    a = deltarule.train(X, y, seed=11, **opts)
    b = deltarule.train(X, y, seed=11, **opts)
    c = deltarule.train(X, y, seed=12, **opts)
    assert a.history == b.history
    np.testing.assert_array_equal(a.network.theta, b.network.theta)
    assert a.history != c.history
    # same initial parameters, only the batch order differs
    init = CAT.get("initializers", "randn")([3, 5, 1], np.random.default_rng(11), np.float64)
    d = deltarule.train(X, y, init=init, seed=13, **opts)
    assert d.history[0] != a.history[0]
    unshuffled = [deltarule.train(X, y, init=init, seed=s, shuffle=False, **opts).history
                  for s in (13, 14)]
    assert unshuffled[0] == unshuffled[1]


def test_partial_fit_continues_where_fit_stopped(regression):
    X, y, _, _ = regression
    opts = dict(activation=["tanh", "identity"], optimizer="adam", lr=0.01, seed=6)
    whole = Trainer([3, 6, 1], max_epochs=15, **opts).fit(X, y)
    t = Trainer([3, 6, 1], max_epochs=10, **opts)
    first = t.fit(X, y)
    assert first.epochs == 10
    more = t.partial_fit(X, y, epochs=5)
    assert more.epochs == 5 and more.stop_reason == "max_epochs"
    assert more.history == whole.history[10:]
    np.testing.assert_array_equal(t.network.theta, whole.network.theta)


def test_partial_fit_without_fit_starts_fresh(regression):
    X, y, _, _ = regression
    t = Trainer([3, 4, 1], activation=["tanh", "identity"], lr=0.01, seed=0)
    r = t.partial_fit(X, y, epochs=3)
    ref = Trainer([3, 4, 1], activation=["tanh", "identity"], lr=0.01, seed=0,
                  max_epochs=3).fit(X, y)
    assert r.history == ref.history


def test_components_by_name_pair_and_instance(blobs):
    X, Y, _ = blobs
    from deltarule.plugins.activations import LeakyReLU
    from deltarule.plugins.optimizers import Momentum

    by_pair = deltarule.train(X, Y, layers=[2, 4, 3], seed=0, max_epochs=5,
                              activation=[("leaky_relu", {"slope": 0.1}), "softmax"],
                              loss=("cross_entropy", {"reduction": "sum"}),
                              optimizer=("momentum", {"momentum": 0.5}), init="he")
    by_obj = deltarule.train(X, Y, layers=[2, 4, 3], seed=0, max_epochs=5,
                             activation=[LeakyReLU(0.1), "softmax"],
                             loss=CAT.get("losses", "cross_entropy").__class__("sum"),
                             optimizer=Momentum(lr=0.1, momentum=0.5), init="he")
    by_options = deltarule.train(X, Y, layers=[2, 4, 3], seed=0, max_epochs=5,
                                 activation=[("leaky_relu", {"slope": 0.1}), "softmax"],
                                 loss=("cross_entropy", {"reduction": "sum"}),
                                 optimizer="momentum", optimizer_options={"momentum": 0.5},
                                 init="he")
    assert by_pair.history == by_obj.history == by_options.history


class Unfused:
    """The same loss without ``fused_delta``: forces the loop's general path."""

    def __init__(self, inner):
        self.inner, self.name, self.reduction = inner, "unfused_" + inner.name, inner.reduction

    def value(self, y, y_hat):
        return self.inner.value(y, y_hat)

    def gradient(self, y, y_hat, out=None):
        return self.inner.gradient(y, y_hat, out)


@pytest.mark.parametrize("loss, output, targets", [
    ("cross_entropy", "softmax", "one_hot"),
    ("binary_cross_entropy", "sigmoid", "binary"),
])
@pytest.mark.parametrize("batch_size", [None, 16])
def test_fused_and_general_paths_train_identically(blobs, loss, output, targets, batch_size):
    X, Y, labels = blobs
    if targets == "binary":
        Y = Y[:, :2]
    opts = dict(layers=[2, 5, Y.shape[1]], activation=["tanh", output], init="xavier",
                optimizer="adam", lr=0.01, seed=0, max_epochs=25, batch_size=batch_size)
    fused = deltarule.train(X, Y, loss=loss, **opts)
    general = deltarule.train(X, Y, loss=Unfused(CAT.get("losses", loss)), **opts)
    np.testing.assert_allclose(fused.history, general.history, rtol=1e-9)
    np.testing.assert_allclose(fused.network.theta, general.network.theta, rtol=1e-7,
                               atol=1e-10)


@pytest.mark.parametrize("loss, reduction", [
    ("mse", "sum"), ("mse", "mean"), ("cross_entropy", "mean"), ("cross_entropy", "sum"),
])
def test_mini_batch_epoch_loss_is_the_full_data_loss(blobs, loss, reduction):
    # with a vanishing learning rate the parameters stay put over the epoch, so the
    # batches' losses must add up (sum) or average by rows (mean) to the full loss
    X, Y, _ = blobs
    opts = dict(layers=[2, 4, 3], activation=["tanh", "softmax"], init="xavier",
                loss=(loss, {"reduction": reduction}), lr=1e-300, seed=1, max_epochs=1)
    full = deltarule.train(X, Y, **opts)
    batched = deltarule.train(X, Y, batch_size=32, **opts)  # 90 rows: 32 + 32 + 26
    assert batched.history[0] == pytest.approx(full.history[0], rel=1e-12)


# -- divergence keeps scored parameters; mini-batch partial_fit is one run --

def test_diverged_run_keeps_parameters_with_a_finite_loss(regression):
    X, y, _, _ = regression
    r = deltarule.train(X, 100 * y, layers=[3, 8, 1], activation=["relu", "identity"],
                        init="he", lr=0.1, seed=0, max_epochs=1000)
    assert r.stop_reason == "diverged"
    with np.errstate(all="ignore"):
        assert mse(100 * y, r.predict(X)) == pytest.approx(r.history[-2], rel=1e-9)


def test_mini_batch_partial_fit_continues_like_one_run(regression):
    X, y, _, _ = regression
    opts = dict(activation=["tanh", "identity"], optimizer="adam", lr=0.01, seed=6,
                batch_size=8)
    whole = Trainer([3, 6, 1], max_epochs=6, **opts).fit(X, y)
    t = Trainer([3, 6, 1], max_epochs=3, **opts)
    t.fit(X, y)
    assert t.partial_fit(X, y, epochs=3).history == whole.history[3:]


def test_init_by_name_pair_and_plain_function_agree():
    X, y = np.eye(3), np.eye(3)[:, :1]
    xavier = deltarule.make_plugin_manager(entry_points=False).catalogue().get(
        "initializers", "xavier")
    runs = [
        deltarule.train(X, y, layers=[3, 4, 1], init=spec, seed=7, max_epochs=2)
        for spec in ("xavier", ("xavier", {}), lambda l, rng, dt: xavier(l, rng, dt))
    ]
    for r in runs[1:]:
        for (W, b), (W0, b0) in zip(r.params, runs[0].params):
            np.testing.assert_array_equal(W, W0)
            np.testing.assert_array_equal(b, b0)


def test_a_fresh_fit_takes_its_layers_from_its_own_data():
    t = Trainer(seed=0, max_epochs=2)
    t.fit(np.eye(2), np.eye(2)[:, :1])
    r = t.fit(np.eye(3), np.eye(3)[:, :1])
    assert r.network.layers == (3, 3, 1)


def test_hook_implementations_may_take_no_arguments():
    seen = []

    class Quiet:
        @deltarule.hookimpl
        def deltarule_epoch_end(self):
            seen.append(1)

    deltarule.train(np.eye(2), np.eye(2)[:, :1], max_epochs=3, plugins=[Quiet()])
    assert seen == [1, 1, 1]


def test_steps_body_runs_with_the_callers_numpy_error_settings():
    with np.errstate(divide="raise"):
        for state in Trainer([2, 3, 1], max_epochs=2, seed=0).steps(np.eye(2)[[0, 1, 0, 1]],
                                                                    np.array([[1], [0], [1], [0]])):
            assert np.geterr()["divide"] == "raise"
            with pytest.raises(FloatingPointError):
                np.divide(1.0, np.zeros(1))


def test_final_params_requested_by_a_criterion_that_did_not_stop_are_dropped():
    class Meddler:
        @deltarule.hookimpl
        def deltarule_stop(self, state):
            if state.epoch == 1:
                state.set_final_params([(np.zeros_like(W), np.zeros_like(b))
                                        for W, b in state.params])
            return None

    r = deltarule.train(np.eye(2), np.eye(2)[:, :1], layers=[2, 3, 1], max_epochs=3, seed=0,
                        plugins=[Meddler()])
    assert r.stop_reason == "max_epochs" and np.abs(r.params[0][0]).sum() > 0


def test_a_plugin_that_raises_leaves_a_result_saying_error():
    class Boom:
        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            if state.epoch == 2:
                raise RuntimeError("observer bug")

    t = Trainer([2, 3, 1], max_epochs=5, seed=0, plugins=[Boom()])
    with pytest.raises(deltarule.PluginError, match="in epoch 2: deltarule_epoch_end.*"
                                                    "RuntimeError: observer bug") as info:
        t.fit(np.eye(2), np.eye(2)[:, :1])
    assert isinstance(info.value.__cause__, RuntimeError)
    assert t.result.stop_reason == "error" and t.result.epochs == 2

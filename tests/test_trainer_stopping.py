"""The bundled stop criteria, in runs and called directly on a State."""

from __future__ import annotations

import numpy as np
import pytest

import deltarule
from deltarule.plugins import stopping
from deltarule.loop import RunLog, State
from deltarule.network import Network

CAT = deltarule.make_plugin_manager(entry_points=False).catalogue()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    return X, np.sin(X[:, :1]) + X[:, 1:] ** 2 / 4


def test_bundled_stop_plugins_are_registered():
    reg = deltarule.make_plugin_manager(entry_points=False)
    names = {name for name, origin, _ in reg.plugins() if origin == "builtin"}
    assert {"max_epochs", "target_loss", "patience", "time_budget", "gradient_norm"} <= names


def test_target_loss(data):
    X, y = data
    r = deltarule.train(X, y, layers=[2, 8, 1], activation=["tanh", "identity"], init="xavier",
                        optimizer="adam", lr=0.02, seed=0, max_epochs=5000, target_loss=0.05)
    assert r.stop_reason == "target_loss"
    assert r.loss <= 0.05 < min(r.history[:-1])


def test_time_budget_alone_bounds_the_run(data):
    X, y = data
    r = deltarule.train(X, y, layers=[2, 4, 1], activation=["tanh", "identity"], lr=1e-4,
                        seed=0, max_epochs=None, time_budget=0.1)
    assert r.stop_reason == "time_budget"
    assert 0.1 <= r.elapsed < 2.0
    assert r.epochs > 1


def test_gradient_norm_stops_at_a_stationary_point(data):
    X, y = data
    r = deltarule.train(X, y, layers=[2, 1], activation="identity", init="zeros",
                        loss=("mse", {"reduction": "mean"}), lr=0.1, seed=0,
                        max_epochs=None, gradient_tol=1e-6)
    assert r.stop_reason == "gradient_norm"
    assert np.linalg.norm(r.network.grad) <= 1e-6
    # the least-squares solution of the linear model is reached
    A = np.hstack([X, np.ones((len(X), 1))])
    coef = np.linalg.lstsq(A, y, rcond=None)[0]
    np.testing.assert_allclose(r.params[0][0], coef[:2], atol=1e-5)


def test_min_delta_makes_small_improvements_count_as_none(data):
    X, y = data
    opts = dict(layers=[2, 6, 1], activation=["tanh", "identity"], init="xavier",
                lr=0.01, seed=1, max_epochs=3000, patience=5)
    strict = deltarule.train(X, y, min_delta=0.0, **opts)
    lax = deltarule.train(X, y, min_delta=1e-2, **opts)
    assert lax.stop_reason == "patience"
    assert lax.epochs < strict.epochs


def test_patience_state_lives_in_scratch_not_in_the_plugin(data):
    # a tiny network and a hand-driven State: the plugin keeps nothing itself
    net = Network((2, 1), [CAT.get("activations", "identity")],
                  [(np.zeros((2, 1)), np.zeros(1))])
    log = RunLog()
    state = State(net, {"patience": 2, "min_delta": 0.0}, log=log)
    plugin = stopping.Patience()
    plugin.deltarule_train_start(state=state)
    reasons = []
    for epoch, loss in enumerate([3.0, 2.0, 2.5, 2.0], start=1):
        log.epoch, log.loss = epoch, loss
        net.theta[:] = epoch  # parameters at the end of this epoch
        reasons.append(plugin.deltarule_stop(state=state))
    assert reasons == [None, None, None, "patience"]
    assert vars(plugin) == {}
    book = state.scratch["patience"]
    assert book["best"] == 2.0 and book["best_epoch"] == 2
    # epoch 2's loss belongs to the parameters at its start: those after epoch 1
    restored = log.final_params
    assert restored[0][0].tolist() == [[1.0], [1.0]]


def test_stop_criteria_off_when_their_setting_is_none(data):
    net = Network((2, 1), [CAT.get("activations", "identity")],
                  [(np.zeros((2, 1)), np.zeros(1))])
    config = {k: None for k in ("max_epochs", "target_loss", "patience", "time_budget",
                                "gradient_tol")}
    log = RunLog()
    state = State(net, config, log=log)
    log.epoch, log.loss = 10**6, 0.0
    for plugin in stopping.PLUGINS:
        assert plugin.deltarule_stop(state=state) is None, plugin.name

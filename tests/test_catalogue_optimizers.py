"""The bundled optimizers: their updates worked out by hand, schedules, weight
decay, buffers, validation, and convergence on a convex quadratic."""

from __future__ import annotations

import copy
import math
import tracemalloc

import numpy as np
import pytest

import deltarule
from deltarule import ConfigError
from deltarule.plugins import optimizers as O

CAT = deltarule.make_plugin_manager(entry_points=False).catalogue()
NAMES = ["sgd", "momentum", "nesterov", "rmsprop", "adam"]


def factory(name):
    return CAT.get("optimizers", name)


def reference(name, theta, grads, lr, wd=0.0, factors=None, **h):
    """Textbook updates written independently of the plugin (allocating freely)."""
    theta = theta.copy()
    mu = h.get("momentum", 0.9)
    rho, eps = h.get("rho", 0.9), h.get("eps", 1e-8)
    b1, b2 = h.get("beta1", 0.9), h.get("beta2", 0.999)
    v = np.zeros_like(theta)
    m = np.zeros_like(theta)
    for t, g in enumerate(grads, start=1):
        lr_t = lr * (factors[t - 1] if factors else 1.0)
        g = g + wd * theta
        if name == "sgd":
            theta = theta - lr_t * g
        elif name == "momentum":
            v = mu * v + g
            theta = theta - lr_t * v
        elif name == "nesterov":
            v = mu * v + g
            theta = theta - lr_t * (g + mu * v)
        elif name == "rmsprop":
            v = rho * v + (1 - rho) * g ** 2
            theta = theta - lr_t * g / (np.sqrt(v) + eps)
        elif name == "adam":
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g ** 2
            m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
            theta = theta - lr_t * m_hat / (np.sqrt(v_hat) + eps)
    return theta


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("wd", [0.0, 0.05])
def test_updates_match_the_textbook(name, wd):
    rng = np.random.default_rng(0)
    theta0 = rng.normal(size=10)
    grads = [rng.normal(size=10) for _ in range(6)]
    opt = factory(name)(lr=0.03, weight_decay=wd)
    theta = theta0.copy()
    for g in grads:
        g_before = g.copy()
        opt.step([theta], [g])
        np.testing.assert_array_equal(g, g_before)  # grads never modified
    np.testing.assert_allclose(theta, reference(name, theta0, grads, 0.03, wd),
                               rtol=1e-12, atol=1e-14)
    assert opt.t == 6


def test_sgd_one_step_by_hand():
    theta = np.array([1.0, -2.0])
    factory("sgd")(lr=0.5).step([theta], [np.array([0.2, -0.4])])
    np.testing.assert_array_equal(theta, [0.9, -1.8])


def test_momentum_two_steps_by_hand():
    theta = np.array([1.0])
    opt = factory("momentum")(lr=0.1, momentum=0.5)
    opt.step([theta], [np.array([2.0])])   # v = 2,   θ = 1 − 0.2
    opt.step([theta], [np.array([2.0])])   # v = 3,   θ = 0.8 − 0.3
    assert theta[0] == pytest.approx(0.5)


def test_adam_first_step_has_size_lr():
    # m̂ = g, v̂ = g² on the first step: the update is lr · sign(g)
    theta = np.array([0.0, 0.0])
    factory("adam")(lr=0.01).step([theta], [np.array([3.0, -1e-3])])
    np.testing.assert_allclose(theta, [-0.01, 0.01], rtol=1e-4)


def test_several_parameter_arrays_get_separate_state():
    rng = np.random.default_rng(1)
    a0, b0 = rng.normal(size=(3, 2)), rng.normal(size=4)
    ga, gb = [rng.normal(size=(3, 2)) for _ in range(3)], [rng.normal(size=4) for _ in range(3)]
    a, b = a0.copy(), b0.copy()
    opt = factory("adam")(lr=0.1)
    for x, y in zip(ga, gb):
        opt.step([a, b], [x, y])
    np.testing.assert_allclose(a, reference("adam", a0, ga, 0.1), rtol=1e-12)
    np.testing.assert_allclose(b, reference("adam", b0, gb, 0.1), rtol=1e-12)
    with pytest.raises(ConfigError, match="first called with 2"):
        opt.step([a], [ga[0]])


@pytest.mark.parametrize("schedule, factors", [
    (None, [1, 1, 1, 1, 1]),
    ("constant", [1, 1, 1, 1, 1]),
    ("step", [1, 1, 0.5, 0.5, 0.25]),
    ("exponential", [1, 0.5 ** 0.5, 0.5, 0.5 ** 1.5, 0.25]),
    ("inverse_time", [1, 1 / 1.25, 1 / 1.5, 1 / 1.75, 1 / 2]),
])
def test_named_schedules(schedule, factors):
    opt = factory("sgd")(lr=0.2, schedule=schedule, decay_rate=0.5, decay_steps=2)
    assert [opt.learning_rate(t) for t in range(5)] == pytest.approx([0.2 * f for f in factors])
    theta0 = np.arange(3.0)
    grads = [np.ones(3) * (i + 1) for i in range(5)]
    theta = theta0.copy()
    for g in grads:
        opt.step([theta], [g])
    np.testing.assert_allclose(theta, reference("sgd", theta0, grads, 0.2, factors=factors))


@pytest.mark.parametrize("name", NAMES)
def test_callable_schedule_is_used_per_step(name):
    seen = []

    def halve_each_step(t):
        seen.append(t)
        return 0.5 ** t

    rng = np.random.default_rng(2)
    theta0 = rng.normal(size=5)
    grads = [rng.normal(size=5) for _ in range(4)]
    opt = factory(name)(lr=0.1, schedule=halve_each_step)
    theta = theta0.copy()
    for g in grads:
        opt.step([theta], [g])
    assert seen == [0, 1, 2, 3]
    np.testing.assert_allclose(
        theta, reference(name, theta0, grads, 0.1, factors=[0.5 ** t for t in range(4)]),
        rtol=1e-12)


def test_schedule_returning_garbage_is_refused():
    opt = factory("sgd")(lr=0.1, schedule=lambda t: math.nan)
    with pytest.raises(ConfigError, match="schedule returned"):
        opt.step([np.zeros(2)], [np.ones(2)])
    opt = factory("sgd")(lr=0.1, schedule=lambda t: "fast")
    with pytest.raises(ConfigError, match="finite number"):
        opt.step([np.zeros(2)], [np.ones(2)])


@pytest.mark.parametrize("name, options, match", [
    ("sgd", {"lr": 0}, "lr"),
    ("sgd", {"lr": -1}, "lr"),
    ("sgd", {"lr": math.inf}, "lr"),
    ("sgd", {"lr": "0.1"}, "lr"),
    ("sgd", {"lr": 0.1, "weight_decay": -1}, "weight_decay"),
    ("sgd", {"lr": 0.1, "schedule": "cosine"}, "schedule"),
    ("sgd", {"lr": 0.1, "schedule": "step", "decay_rate": 1.5}, "decay_rate"),
    ("sgd", {"lr": 0.1, "schedule": "step", "decay_steps": 0}, "decay_steps"),
    ("sgd", {"lr": 0.1, "schedule": "inverse_time", "decay_rate": -1}, "decay_rate"),
    ("momentum", {"lr": 0.1, "momentum": 1.0}, "momentum"),
    ("nesterov", {"lr": 0.1, "momentum": -0.1}, "momentum"),
    ("rmsprop", {"lr": 0.1, "rho": 0.0}, "rho"),
    ("rmsprop", {"lr": 0.1, "eps": 0.0}, "eps"),
    ("adam", {"lr": 0.1, "beta1": 1.0}, "beta1"),
    ("adam", {"lr": 0.1, "beta2": 2}, "beta2"),
    ("adam", {"lr": 0.1, "eps": -1e-8}, "eps"),
])
def test_bad_hyper_parameters_raise_clear_errors(name, options, match):
    with pytest.raises(ConfigError, match=match) as info:
        factory(name)(**options)
    assert name in str(info.value)


def test_bad_options_through_a_run_are_config_errors():
    X, y = np.eye(2), np.eye(2)[:, :1]
    with pytest.raises(ConfigError, match="beta1"):
        deltarule.train(X, y, optimizer="adam", optimizer_options={"beta1": 7}, max_epochs=1)
    with pytest.raises(ConfigError, match="optimizer 'sgd' has no option 'beta1'; its "
                                          "options: lr, weight_decay, schedule"):
        deltarule.train(X, y, optimizer="sgd", optimizer_options={"beta1": 0.9}, max_epochs=1)
    # issue 12: scikit-learn's spelling gets a did-you-mean, not a private class's TypeError
    with pytest.raises(ConfigError, match=r"'beta_1' \(did you mean 'beta1'\?\)"):
        deltarule.train(X, y, optimizer="adam", optimizer_options={"beta_1": 0.8},
                        max_epochs=1)


@pytest.mark.parametrize("name", NAMES)
def test_buffers_allocated_once_and_steps_allocate_nothing(name):
    theta = np.zeros(20000)
    g = np.full(20000, 0.01)
    opt = factory(name)(lr=0.01, weight_decay=0.1, schedule="exponential")
    opt.step([theta], [g])
    bufs = [id(b) for group in opt._bufs for b in group]
    tracemalloc.start()
    try:
        for _ in range(5):
            opt.step([theta], [g])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [id(b) for group in opt._bufs for b in group] == bufs
    assert peak < theta.nbytes / 10, f"{name} allocated {peak} bytes per step"


@pytest.mark.parametrize("name", NAMES)
def test_state_is_per_instance(name):
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=4) for _ in range(5)]
    f = factory(name)
    a, b = f(lr=0.05), f(lr=0.05)
    ta, tb = np.ones(4), np.ones(4)
    for g in grads:
        a.step([ta], [g])
    for g in grads:
        b.step([tb], [g])
    np.testing.assert_array_equal(ta, tb)
    c = copy.deepcopy(a)  # a built optimizer handed to a run is deep-copied
    tc = ta.copy()
    a.step([ta], [grads[0]])
    c.step([tc], [grads[0]])
    np.testing.assert_array_equal(ta, tc)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_converges_on_a_convex_quadratic_with_its_spec_options(name, dtype):
    # f(θ) = ½ (θ − c)ᵀ A (θ − c), A symmetric positive definite, eigenvalues in [0.5, 4]
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    A = (Q * np.linspace(0.5, 4, 6)) @ Q.T
    c = rng.normal(size=6)
    f = factory(name)
    options = dict(getattr(f, "spec_options", {"lr": 0.1}))
    opt = f(**options)
    theta = np.zeros(6, dtype=dtype)
    grad = np.empty_like(theta)
    for _ in range(getattr(f, "spec_steps", 500)):
        np.copyto(grad, A @ (theta - c))
        opt.step([theta], [grad])
    assert theta.dtype == dtype
    if dtype == np.float32:
        tol = 1e-4
    else:
        tol = 1e-8 if name in ("sgd", "momentum", "nesterov", "adam") else 1e-3
    np.testing.assert_allclose(theta, c, atol=tol)


@pytest.mark.parametrize("name", NAMES)
def test_options_round_trip(name):
    f = factory(name)
    opt = f(lr=0.02, weight_decay=0.1, schedule="step", decay_rate=0.9, decay_steps=10)
    again = f(**opt.options())
    assert again.options() == opt.options()
    assert name in repr(opt) or type(opt).__name__ in repr(opt)


def test_every_optimizer_trains_a_network_by_name():
    X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], float)
    y = np.array([[1], [1], [0], [0]], float)
    for name in NAMES:
        lr = 0.5 if name == "sgd" else 0.05
        r = deltarule.train(X, y, layers=[2, 4, 1], optimizer=name, lr=lr, seed=0,
                            max_epochs=1500, loss="binary_cross_entropy", init="xavier")
        assert r.loss < r.history[0], name
        assert r.components["optimizer"] == name


def test_sgd_class_is_the_catalogue_entry():
    assert factory("sgd") is O.SGD and factory("adam") is O.Adam


def test_adam_pickled_before_rescaled_moments_continues_the_same():
    """Adam keeps M = m/(1 − β₁), V = v/(1 − β₂); an optimizer pickled with the
    textbook moments (a scikit-learn estimator saved mid-training by an earlier
    version) is rescaled once when loaded, and steps on as the new one does."""
    import pickle

    from deltarule.plugins.optimizers import Adam

    rng = np.random.default_rng(0)
    p, g = rng.standard_normal(50), rng.standard_normal(50)
    new = Adam(lr=0.01, eps_hat=True)
    for _ in range(3):
        new.step([p], [g])
    state = pickle.loads(pickle.dumps(new)).__dict__.copy()
    del state["_moments"]
    M, V, s = new._bufs[0]
    state["_bufs"] = [[M * (1 - 0.9), V * (1 - 0.999), s.copy()]]
    old = Adam.__new__(Adam)
    old.__setstate__(state)
    np.testing.assert_allclose(old._bufs[0][0], M, rtol=1e-14)
    np.testing.assert_allclose(old._bufs[0][1], V, rtol=1e-14)
    q1, q2 = p.copy(), p.copy()
    new.step([q1], [g])
    old.step([q2], [g])
    np.testing.assert_allclose(q2, q1, rtol=1e-12)
    assert pickle.loads(pickle.dumps(new))._moments == "rescaled"

"""The bundled activations, losses and initializers: maths, buffers, names.

Derivatives are checked against central finite differences; the spec suite
(``deltarule.specs``) checks the same contracts more thoroughly, this file
keeps the catalogue honest on its own.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import deltarule
from deltarule import ConfigError
from deltarule.plugins import activations as A
from deltarule.plugins import initializers as I
from deltarule.plugins import losses as Lo

CAT = deltarule.make_plugin_manager(entry_points=False).catalogue()

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "softplus", "identity"]
ALL_ACTS = ELEMENTWISE + ["softmax"]
LOSSES = ["mse", "binary_cross_entropy", "cross_entropy"]
INITS = ["randn", "xavier", "xavier_normal", "he", "he_normal", "zeros"]
NUMERIC = settings(deadline=None, max_examples=40)


def act(name):
    return CAT.get("activations", name)


def away_from_kinks(z, kinks, margin=1e-3):
    z = z.copy()
    for k in kinks:
        near = np.abs(z - k) < margin
        z[near] = k + margin * 2
    return z


def numeric_jacobian_diag(f, z, h=1e-6):
    return (f(z + h) - f(z - h)) / (2 * h)


# -- the catalogue ---------------------------------------------------------

def test_every_bundled_component_is_listed_by_name():
    assert set(ALL_ACTS) <= set(CAT.names("activations"))
    assert set(LOSSES) <= set(CAT.names("losses"))
    assert {"sgd", "momentum", "nesterov", "rmsprop", "adam"} <= set(CAT.names("optimizers"))
    assert set(INITS) <= set(CAT.names("initializers"))


@pytest.mark.parametrize("name", ALL_ACTS)
def test_activation_declarations(name):
    a = act(name)
    lo, hi = a.output_range
    assert lo < hi
    assert a.domain[0] < a.domain[1]
    assert all(isinstance(k, float) for k in a.kinks)


# -- activations -----------------------------------------------------------

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_finite_differences(name):
    a = act(name)
    rng = np.random.default_rng(0)
    z = away_from_kinks(rng.uniform(-6, 6, size=(7, 5)), a.kinks)
    numeric = numeric_jacobian_diag(a.forward, z)
    analytic = a.derivative(z, a.forward(z))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_softmax_vjp_matches_finite_difference_jacobian():
    sm = act("softmax")
    rng = np.random.default_rng(1)
    z = rng.uniform(-4, 4, size=(3, 4))
    g = rng.normal(size=(3, 4))
    a = sm.forward(z)
    got = sm.vjp(z, a, g)
    h = 1e-6
    for i in range(3):
        J = np.empty((4, 4))  # J[k, j] = ∂a_k / ∂z_j
        for j in range(4):
            e = np.zeros(4)
            e[j] = h
            J[:, j] = (sm.forward(z[i:i + 1] + e) - sm.forward(z[i:i + 1] - e))[0] / (2 * h)
        np.testing.assert_allclose(got[i], g[i] @ J, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ALL_ACTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_out_buffer_same_result_no_input_mutation(name, dtype):
    a = act(name)
    rng = np.random.default_rng(2)
    z = rng.uniform(-5, 5, size=(6, 3)).astype(dtype)
    z0 = z.copy()
    fresh = a.forward(z)
    assert fresh.dtype == dtype and fresh is not z
    buf = np.full_like(z, np.nan)
    assert a.forward(z, out=buf) is buf
    np.testing.assert_array_equal(buf, fresh)
    np.testing.assert_array_equal(z, z0)
    a0 = fresh.copy()
    if name == "softmax":
        g = rng.normal(size=z.shape).astype(dtype)
        g0 = g.copy()
        d = a.vjp(z, fresh, g)
        buf2 = np.full_like(z, np.nan)
        assert a.vjp(z, fresh, g, out=buf2) is buf2
        np.testing.assert_array_equal(g, g0)
    else:
        d = a.derivative(z, fresh)
        buf2 = np.full_like(z, np.nan)
        assert a.derivative(z, fresh, out=buf2) is buf2
    assert d.dtype == dtype
    np.testing.assert_array_equal(buf2, d)
    np.testing.assert_array_equal(z, z0)
    np.testing.assert_array_equal(fresh, a0)


@NUMERIC
@given(hnp.arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)))
def test_outputs_finite_and_inside_declared_range(z):
    for name in ALL_ACTS:
        a = act(name)
        with np.errstate(over="ignore"):  # sigmoid's e^{-z} overflows to its limit 0
            out = a.forward(z)
        assert np.isfinite(out).all(), name
        lo, hi = a.output_range
        assert (out >= lo).all() and (out <= hi).all(), name


@NUMERIC
@given(hnp.arrays(np.float64, (3, 5), elements=st.floats(-800, 800)))
def test_softmax_rows_are_distributions_even_for_huge_logits(z):
    a = act("softmax").forward(z)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-12)
    assert (a >= 0).all()


def test_softplus_is_stable_at_the_extremes():
    sp = act("softplus")
    z = np.array([[-800.0, -40.0, 0.0, 40.0, 800.0]])
    out = sp.forward(z)
    np.testing.assert_allclose(out, [[0.0, math.exp(-40), math.log(2), 40.0, 800.0]],
                               rtol=1e-12, atol=0)
    assert out[0, 0] >= 0
    np.testing.assert_allclose(sp.derivative(z, out), [[0, 1 / (1 + math.exp(40)), 0.5, 1, 1]],
                               rtol=1e-12, atol=1e-300)


def test_leaky_relu_slope_option_and_validation():
    lr = act("leaky_relu")
    assert lr.slope == 0.01 and lr.options() == {"slope": 0.01}
    steep = deltarule.catalogue.configure(lr, {"slope": 0.2})
    np.testing.assert_allclose(steep.forward(np.array([[-1.0, 2.0]])), [[-0.2, 2.0]])
    np.testing.assert_allclose(steep.derivative(np.array([[-1.0, 2.0]]), None), [[0.2, 1.0]])
    for bad in (-0.1, 1.5, "x", True, math.nan):
        with pytest.raises(ConfigError, match="slope"):
            A.LeakyReLU(bad)


# -- losses ----------------------------------------------------------------

def loss_data(loss, rng, n=5, k=3):
    if loss.targets == "one_hot":
        y = np.eye(k)[rng.integers(0, k, n)]
    elif loss.targets == "binary":
        y = rng.integers(0, 2, (n, k)).astype(float)
    else:
        y = rng.normal(size=(n, k))
    if loss.predictions == "simplex":
        p = rng.uniform(0.1, 1, (n, k))
        y_hat = p / p.sum(axis=1, keepdims=True)
    elif loss.predictions == "unit":
        y_hat = rng.uniform(0.05, 0.95, (n, k))
    else:
        y_hat = rng.normal(size=(n, k))
    return y, y_hat


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_loss_gradient_matches_finite_differences(name, reduction):
    loss = deltarule.catalogue.configure(CAT.get("losses", name), {"reduction": reduction})
    rng = np.random.default_rng(3)
    y, y_hat = loss_data(loss, rng)
    y0, yh0 = y.copy(), y_hat.copy()
    grad = loss.gradient(y, y_hat)
    h = 1e-6
    numeric = np.empty_like(y_hat)
    for idx in np.ndindex(*y_hat.shape):
        up, down = y_hat.copy(), y_hat.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (loss.value(y, up) - loss.value(y, down)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-8)
    buf = np.empty_like(y_hat)
    assert loss.gradient(y, y_hat, out=buf) is buf
    np.testing.assert_array_equal(buf, grad)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(y_hat, yh0)
    as_sum = deltarule.catalogue.configure(loss, {"reduction": "sum"})
    scale = len(y) if reduction == "mean" else 1
    assert loss.value(y, y_hat) * scale == pytest.approx(as_sum.value(y, y_hat), rel=1e-12)
    np.testing.assert_allclose(grad * scale, as_sum.gradient(y, y_hat), rtol=1e-12)


@pytest.mark.parametrize("name", LOSSES)
def test_loss_minimum_at_perfect_predictions(name):
    loss = CAT.get("losses", name)
    rng = np.random.default_rng(4)
    y, _ = loss_data(loss, rng)
    assert loss.value(y, y.copy()) == pytest.approx(loss.minimum, abs=1e-9)


def test_default_reductions_are_the_documented_ones():
    assert CAT.get("losses", "mse").reduction == "sum"
    assert CAT.get("losses", "binary_cross_entropy").reduction == "mean"
    assert CAT.get("losses", "cross_entropy").reduction == "mean"
    for name in LOSSES:
        with pytest.raises(ConfigError, match="reduction"):
            deltarule.catalogue.configure(CAT.get("losses", name), {"reduction": "avg"})


def test_bce_clips_so_saturated_predictions_stay_finite():
    bce = CAT.get("losses", "binary_cross_entropy")
    y = np.array([[1.0, 0.0]])
    y_hat = np.array([[0.0, 1.0]])
    v = bce.value(y, y_hat)
    assert math.isfinite(v) and v > 20
    assert np.isfinite(bce.gradient(y, y_hat)).all()
    y32, yh32 = y.astype(np.float32), y_hat.astype(np.float32)
    assert math.isfinite(bce.value(y32, yh32))
    assert np.isfinite(bce.gradient(y32, yh32)).all()


def _general_delta(loss, actv, y, z):
    a = actv.forward(z)
    g = loss.gradient(y, a)
    if hasattr(actv, "vjp"):
        return loss.value(y, a), actv.vjp(z, a, g)
    return loss.value(y, a), g * actv.derivative(z, a)


@pytest.mark.parametrize("loss_name, act_name, targets", [
    ("cross_entropy", "softmax", "one_hot"),
    ("binary_cross_entropy", "sigmoid", "binary"),
])
@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_fused_delta_equals_the_general_path(loss_name, act_name, targets, reduction):
    loss = deltarule.catalogue.configure(CAT.get("losses", loss_name), {"reduction": reduction})
    actv = act(act_name)
    rng = np.random.default_rng(5)
    z = rng.uniform(-4, 4, size=(6, 3))
    y = np.eye(3)[rng.integers(0, 3, 6)] if targets == "one_hot" \
        else rng.integers(0, 2, (6, 3)).astype(float)
    fused = loss.fused_delta(actv)
    assert callable(fused)
    out = np.empty_like(z)
    value = fused(y, actv.forward(z), z, out)
    ref_value, ref_delta = _general_delta(loss, actv, y, z)
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(out, ref_delta, rtol=1e-9, atol=1e-12)


def test_fused_delta_only_for_its_own_activation():
    ce, bce = CAT.get("losses", "cross_entropy"), CAT.get("losses", "binary_cross_entropy")
    assert ce.fused_delta(act("sigmoid")) is None
    assert ce.fused_delta(act("tanh")) is None
    assert bce.fused_delta(act("softmax")) is None
    assert bce.fused_delta(act("relu")) is None


def test_fused_cross_entropy_is_exact_where_softmax_underflows():
    ce = CAT.get("losses", "cross_entropy")
    sm = act("softmax")
    z = np.array([[0.0, 800.0, -800.0], [1000.0, 0.0, 0.0]])
    y = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    out = np.empty_like(z)
    value = ce.fused_delta(sm)(y, sm.forward(z), z, out)
    assert value == pytest.approx((800.0 + 1000.0) / 2, rel=1e-12)
    np.testing.assert_allclose(out, (sm.forward(z) - y) / 2, atol=1e-15)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_cross_entropy_fast_path_agrees_with_log_sum_exp(dtype):
    ce = CAT.get("losses", "cross_entropy")
    sm = act("softmax")
    rng = np.random.default_rng(6)
    fused = ce.fused_delta(sm)
    for spread in (1.0, 30.0, 200.0):  # 200: float32 softmax underflows, float64 not
        z = (spread * rng.normal(size=(8, 5))).astype(dtype)
        y = np.eye(5, dtype=dtype)[rng.integers(0, 5, 8)]
        out = np.empty_like(z)
        value = fused(y, sm.forward(z), z, out)
        z64 = z.astype(np.float64)
        lse = z64.max(1) + np.log(np.exp(z64 - z64.max(1, keepdims=True)).sum(1))
        exact = float(np.mean(lse - (y * z64).sum(1)))
        assert value == pytest.approx(exact, rel=1e-5 if dtype == np.float32 else 1e-12)


def test_fused_bce_is_exact_where_sigmoid_saturates():
    bce = CAT.get("losses", "binary_cross_entropy")
    sig = act("sigmoid")
    z = np.array([[-50.0, 50.0]])
    y = np.array([[1.0, 1.0]])
    out = np.empty_like(z)
    value = bce.fused_delta(sig)(y, sig.forward(z), z, out)
    assert value == pytest.approx(50.0 + math.log1p(math.exp(-50)), rel=1e-12)


# -- initializers ----------------------------------------------------------

@pytest.mark.parametrize("name", INITS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initializer_shapes_dtype_and_reproducibility(name, dtype):
    init = CAT.get("initializers", name)
    sizes = [4, 7, 2]
    first = init(sizes, np.random.default_rng(9), dtype)
    again = init(sizes, np.random.default_rng(9), dtype)
    assert [(W.shape, b.shape) for W, b in first] == [((4, 7), (7,)), ((7, 2), (2,))]
    for (W, b), (W2, b2) in zip(first, again):
        assert W.dtype == dtype and b.dtype == dtype
        np.testing.assert_array_equal(W, W2)
        np.testing.assert_array_equal(b, b2)
        if name != "randn":
            assert not b.any()


def test_initializers_never_touch_the_global_random_state():
    state = np.random.get_state()[1].copy()
    for name in INITS:
        CAT.get("initializers", name)([3, 4, 1], np.random.default_rng(0), np.float64)
    np.testing.assert_array_equal(np.random.get_state()[1], state)


@pytest.mark.parametrize("name, variance, bound", [
    ("xavier", 2 / (300 + 200), math.sqrt(6 / 500)),
    ("xavier_normal", 2 / (300 + 200), None),
    ("he", 2 / 300, math.sqrt(6 / 300)),
    ("he_normal", 2 / 300, None),
])
def test_scaled_initializer_statistics(name, variance, bound):
    (W, _), = CAT.get("initializers", name)([300, 200], np.random.default_rng(0), np.float64)
    assert W.var() == pytest.approx(variance, rel=0.03)
    assert abs(W.mean()) < 0.01
    if bound is not None:
        assert np.abs(W).max() <= bound


def test_zeros_initializer_is_all_zero():
    params = CAT.get("initializers", "zeros")([2, 3, 1], np.random.default_rng(0), np.float64)
    assert all(not W.any() and not b.any() for W, b in params)


def test_module_classes_are_the_catalogue_entries():
    assert isinstance(CAT.get("activations", "softmax"), A.Softmax)
    assert isinstance(CAT.get("losses", "cross_entropy"), Lo.CrossEntropy)
    assert isinstance(CAT.get("initializers", "he"), I.He)


def test_unknown_component_options_are_config_errors():
    X, y = np.eye(3), np.eye(3)[:, :1]
    with pytest.raises(ConfigError, match="relu"):
        deltarule.train(X, y, activation=[("relu", {"slope": 0.1}), "sigmoid"], max_epochs=1)
    with pytest.raises(ConfigError, match="eps"):
        deltarule.train(X, y, loss=("binary_cross_entropy", {"eps": 0.7}), max_epochs=1)
    with pytest.raises(ConfigError, match="reduction"):
        deltarule.train(X, y, loss=("mse", {"reduction": "median"}), max_epochs=1)


def test_component_options_round_trip_through_configure():
    for family, name, options in [
        ("activations", "leaky_relu", {"slope": 0.3}),
        ("losses", "mse", {"reduction": "mean"}),
        ("losses", "binary_cross_entropy", {"reduction": "sum", "eps": 1e-9}),
        ("losses", "cross_entropy", {"reduction": "sum"}),
    ]:
        comp = deltarule.catalogue.configure(CAT.get(family, name), options)
        assert comp.options() == options
        assert comp.name == name


def test_one_activation_pair_for_every_layer():
    X, y = np.eye(3), np.eye(3)[:, :1]
    r = deltarule.train(X, y, layers=[3, 4, 1], activation=("leaky_relu", {"slope": 0.1}),
                        max_epochs=1)
    assert [a.slope for a in r.network.activations] == [0.1, 0.1]

"""The spec suite itself: it must FAIL, clearly, on broken components.

A checker that passes everything is worthless, so each law is shown a
deliberately broken component and must name the component, the check and
the offending input with the analytic and numeric values.
"""

import numpy as np
import pytest

import deltarule
from deltarule.plugins.activations import Sigmoid
from deltarule.plugins.losses import MSE
from deltarule.plugins.optimizers import SGD
from deltarule.specs import (
    SpecFailure,
    check_component,
    check_plugin,
    no_global_random_state,
    pair_skip_reason,
)
from deltarule.specs import checks

PROFILE = "ci"


def by_check(report):
    return {r.check: r for r in report}


# ---------------------------------------------------------------- broken components
class WrongDerivative:
    """σ with σ'(z) = a instead of a (1 − a)."""

    name = "wrong_sigmoid"
    output_range = (0.0, 1.0)

    def forward(self, z):
        return 1 / (1 + np.exp(-z))

    def derivative(self, z, a):
        return a.copy()


class HalfGradientMSE:
    """½ Σ (ŷ − y)² with a gradient off by a factor 2."""

    name = "half_mse"

    def value(self, y, y_hat):
        return 0.5 * float(np.sum((y_hat - y) ** 2))

    def gradient(self, y, y_hat):
        return 2.0 * (y_hat - y)


class Climber:
    """Gradient ascent."""

    name = "climber"

    def __init__(self, lr=0.1):
        self.lr = lr

    def step(self, params, grads):
        for p, g in zip(params, grads):
            p += self.lr * g


class SharedMomentum:
    """Momentum whose velocity is a class attribute: runs share it."""

    name = "shared_momentum"
    velocity = {}

    def __init__(self, lr=0.1):
        self.lr = lr

    def step(self, params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            v = SharedMomentum.velocity.get(i, 0.0) * 0.5 - self.lr * g
            SharedMomentum.velocity[i] = v
            p += v


class GlobalStateInit:
    """Draws from np.random.randn, ignoring its Generator."""

    name = "global_init"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        return [(np.random.randn(a, b).astype(dtype), np.zeros(b, dtype))
                for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]


class FixedSeedInit:
    """A private RandomState(0): reproducible, but blind to the Generator."""

    name = "fixed_init"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        r = np.random.RandomState(0)
        return [(r.standard_normal((a, b)).astype(dtype), np.zeros(b, dtype))
                for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]


class WrongShapeInit:
    name = "transposed_init"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        return [(rng.standard_normal((b, a)).astype(dtype), np.zeros(b, dtype))
                for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]


class SwishNoKinkDecl:
    """relu without `kinks = (0.0,)`: the check must say to declare it."""

    name = "undeclared_relu"

    def forward(self, z):
        return np.maximum(z, 0.0)

    def derivative(self, z, a):
        return (z > 0).astype(np.float64)


class InPlaceForward:
    name = "inplace_sigmoid"

    def forward(self, z):
        np.negative(z, z)
        np.exp(z, z)
        z += 1
        return 1 / z

    def derivative(self, z, a):
        return a * (1 - a)


class WrongSoftmaxVJP:
    name = "bad_softmax"

    def forward(self, z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def vjp(self, z, a, g):
        return a * g  # forgets the − Σ g a term


class OffsetLoss:
    """Squared error plus 1: its value at ŷ = y is 1, but it declares no minimum."""

    name = "offset_mse"

    def value(self, y, y_hat):
        return 1.0 + 0.5 * float(np.sum((y_hat - y) ** 2))

    def gradient(self, y, y_hat):
        return y_hat - y


# ---------------------------------------------------------------- the laws fail
def test_wrong_activation_derivative_fails_with_the_input_and_both_values():
    report = check_component(WrongDerivative(), "activation", profile=PROFILE)
    result = by_check(report)["derivative"]
    assert result.failed
    text = str(result)
    assert "wrong_sigmoid" in text and "'derivative'" in text
    assert "at z = " in text and "derivative(z, a) = " in text
    assert "central difference" in text
    assert by_check(report)["forward"].passed
    with pytest.raises(SpecFailure, match="wrong_sigmoid"):
        report.raise_for_failures()


def test_loss_gradient_off_by_a_factor_fails_and_shows_the_ratio():
    result = by_check(check_component(HalfGradientMSE(), "loss", profile=PROFILE))["gradient"]
    assert result.failed
    assert "half_mse" in str(result) and "ratio analytic/numeric = 2" in result.message
    assert "y_hat = " in result.message


def test_climbing_optimizer_fails_the_convex_quadratic():
    report = by_check(check_component(Climber, "optimizer", profile=PROFILE))
    result = report["convex-quadratic"]
    assert result.failed
    assert "climber" in str(result) and "× its start" in result.message
    assert "θ0 = " in result.message


def test_optimizers_sharing_state_fail_independent_runs():
    result = by_check(check_component(SharedMomentum, "optimizer",
                                      profile=PROFILE))["independent-runs"]
    assert result.failed and "share state" in result.message


def test_initializer_using_the_global_random_state_fails():
    state = np.random.get_state()
    try:
        report = by_check(check_component(GlobalStateInit(), "initializer",
                                          profile=PROFILE))
    finally:
        np.random.set_state(state)  # the reproducibility check ran it unguarded
    assert report["no-global-random-state"].failed
    assert "numpy.random.randn" in report["no-global-random-state"].message
    assert report["reproducible"].failed


def test_initializer_ignoring_its_generator_fails():
    report = by_check(check_component(FixedSeedInit(), "initializer", profile=PROFILE))
    assert report["no-global-random-state"].passed  # it is honest about RandomState
    assert report["reproducible"].failed
    assert "ignores its rng" in report["reproducible"].message


def test_initializer_with_wrong_shapes_fails():
    result = by_check(check_component(WrongShapeInit(), "initializer",
                                      profile=PROFILE))["shapes-and-dtypes"]
    assert result.failed and "expected (" in result.message


def test_undeclared_kink_is_reported_with_a_hint():
    result = by_check(check_component(SwishNoKinkDecl(), "activation",
                                      profile=PROFILE))["derivative"]
    assert result.failed and "kinks = (0.0,)" in result.message


def test_declared_kink_is_respected():
    class Relu(SwishNoKinkDecl):
        name = "declared_relu"
        kinks = (0.0,)

    assert by_check(check_component(Relu(), "activation", profile=PROFILE))[
        "derivative"].passed


def test_forward_modifying_its_input_fails():
    result = by_check(check_component(InPlaceForward(), "activation",
                                      profile=PROFILE))["forward"]
    assert result.failed and "modified its argument" in result.message


class ClobberingSigmoid(Sigmoid):
    """A sigmoid whose derivative(..., out=) also zeroes its argument ``a``."""

    name = "clobbering_sigmoid"

    def derivative(self, z, a, out=None):
        out = super().derivative(z, a, out)
        a[...] = 0.0
        return out


class MutatingMSE(MSE):
    """An MSE whose value_and_gradient shifts the targets it is given."""

    name = "mutating_mse"

    def value_and_gradient(self, y, y_hat, out=None):
        result = super().value_and_gradient(y, y_hat, out)
        y += 1.0
        return result


def test_out_path_modifying_its_input_fails():
    report = check_component(ClobberingSigmoid(), "activation", profile=PROFILE)
    failed = [r for r in report if r.failed]
    assert failed and any("modified its input arguments" in r.message for r in failed)


def test_loss_modifying_its_targets_in_value_and_gradient_fails():
    report = check_component(MutatingMSE(), "loss", profile=PROFILE)
    failed = [r for r in report if r.failed]
    assert failed and any("modified y or y_hat" in r.message for r in failed)


class FlippingBCE:
    """Binary cross-entropy whose fused sigmoid delta flips the targets it reads."""

    name = "flipping_bce"
    targets = "binary"
    predictions = "unit"

    def __init__(self):
        from deltarule.plugins.losses import BinaryCrossEntropy

        self._bce = BinaryCrossEntropy(reduction="sum")
        self.value, self.gradient = self._bce.value, self._bce.gradient

    def fused_delta(self, activation):
        fused = self._bce.fused_delta(activation)
        if fused is None:
            return None

        def flipping(y, y_hat, z, out):
            value = fused(y, y_hat, z, out)
            np.subtract(1.0, y, y)
            return value

        return flipping


def test_fused_delta_modifying_the_loops_buffers_fails_the_network_check():
    report = checks.run_pair(Sigmoid(), FlippingBCE(), plugin="test", origin="test",
                             profile=PROFILE)
    assert report.failed, report.message
    assert "modified the loop's buffers" in report.message


def test_wrong_vjp_fails():
    report = by_check(check_component(WrongSoftmaxVJP(), "activation", profile=PROFILE))
    assert report["vjp"].failed and "vjp(z, a, g) = " in report["vjp"].message
    assert report["derivative"].skipped


def test_loss_not_minimal_at_its_declared_minimum_fails():
    result = by_check(check_component(OffsetLoss(), "loss", profile=PROFILE))["minimum"]
    assert result.failed and "declared minimum is 0.0" in result.message

    class Declared(OffsetLoss):
        name = "offset_declared"
        minimum = 1.0

    assert by_check(check_component(Declared(), "loss", profile=PROFILE))["minimum"].passed


def test_crashing_component_is_a_failure_with_its_input():
    class Crash:
        name = "crash"

        def forward(self, z):
            if z.shape[0] > 1:
                raise RuntimeError("boom")
            return z.copy()

        def derivative(self, z, a):
            return np.ones_like(z)

    result = by_check(check_component(Crash(), "activation", profile=PROFILE))["forward"]
    assert result.failed and "RuntimeError: boom" in result.message
    assert "z = " in result.message


def test_network_gradient_of_a_broken_pair_fails():
    result = checks.run_pair(WrongDerivative(), MSE(), profile=PROFILE)
    assert result.failed and result.check == "network-gradient"
    assert "∂L/∂" in result.message and "central difference" in result.message


def test_stop_criterion_returning_a_non_string_fails():
    class Truthy:
        name = "truthy"

        @deltarule.hookimpl
        def deltarule_stop(self, state):
            return True if state.epoch >= 2 else None

    report = check_plugin(Truthy(), profile=PROFILE)
    (result,) = [r for r in report if r.family == "stop"]
    assert result.failed and "True" in result.message


# ---------------------------------------------------------------- and pass good ones
def test_bundled_components_pass_under_another_plugin():
    class Provider:
        @deltarule.hookimpl
        def deltarule_activations(self):
            return [Sigmoid()]

        @deltarule.hookimpl
        def deltarule_losses(self):
            return [MSE()]

        @deltarule.hookimpl
        def deltarule_optimizers(self):
            return [SGD]

    report = check_plugin(Provider(), profile=PROFILE)
    assert report.ok, str(report)
    families = {r.family for r in report}
    assert {"activation", "loss", "optimizer", "network"} <= families
    assert all(r.plugin for r in report)


def test_check_plugin_raises_on_request_and_names_everything():
    class Broken:
        @deltarule.hookimpl
        def deltarule_activations(self):
            return [WrongDerivative()]

    with pytest.raises(SpecFailure) as info:
        check_plugin(Broken(), profile=PROFILE, raise_on_failure=True)
    text = str(info.value)
    assert "wrong_sigmoid" in text and "'derivative'" in text and "Broken" in text
    assert all(r.failed for r in info.value.results)


def test_a_plugin_with_nothing_to_check_is_not_ok():
    class Observer:
        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            pass

    report = check_plugin(Observer(), profile=PROFILE)
    assert len(report) == 0 and not report.ok
    with pytest.raises(SpecFailure, match="nothing"):
        report.raise_for_failures()


def test_trip_wires_are_removed_afterwards():
    original = np.random.randn
    with no_global_random_state():
        with pytest.raises(checks.GlobalRandomStateUsed):
            np.random.randn(2)
    assert np.random.randn is original


def test_pairs_are_skipped_only_when_the_output_cannot_match():
    from deltarule.plugins.activations import Softmax, Tanh
    from deltarule.plugins.losses import BinaryCrossEntropy, CrossEntropy

    assert pair_skip_reason(Sigmoid(), BinaryCrossEntropy()) is None
    assert pair_skip_reason(Softmax(), CrossEntropy()) is None
    assert "output_range" in pair_skip_reason(Tanh(), BinaryCrossEntropy())
    assert "element-wise" in pair_skip_reason(Sigmoid(), CrossEntropy())
    assert pair_skip_reason(Tanh(), MSE()) is None


# ---------------------------------------------------------------- core specs catch bugs
def fixed_networks():
    """A few networks in the shape the delta-rule specs draw, for direct calls."""
    out = []
    for seed, layers in ((0, [2, 3, 1]), (1, [3, 4, 2, 2]), (2, [1, 5, 3, 4, 1])):
        rng = np.random.default_rng(seed)
        params = [(rng.uniform(-1, 1, (a, b)), rng.uniform(-1, 1, b))
                  for a, b in zip(layers[:-1], layers[1:])]
        X = rng.uniform(-2, 2, (5, layers[0]))
        y = rng.uniform(0, 1, (5, layers[-1]))
        out.append((layers, params, X, y, 0.3))
    return out


def test_delta_rule_spec_catches_a_wrong_sigmoid_derivative(monkeypatch):
    from deltarule.specs import spec_delta_rule

    spec = spec_delta_rule.test_gradients_are_the_documents_deltas.hypothesis.inner_test
    for net in fixed_networks():
        spec(net)  # sound as shipped
    monkeypatch.setattr(Sigmoid, "derivative",
                        # honours out= (the loop reads out, and the probe checks it)
                        lambda self, z, a, out=None: np.multiply(a * (1 - a), 1 + 1e-9,
                                                                 out=out))
    with pytest.raises(AssertionError, match="document"):
        spec(fixed_networks()[0])


def test_delta_rule_spec_catches_a_wrong_update(monkeypatch):
    from deltarule.specs import spec_delta_rule

    spec = spec_delta_rule.test_one_sgd_step_is_the_documents_update.hypothesis.inner_test
    for net in fixed_networks():
        spec(net)
    spec_delta_rule.test_one_sgd_step_worked_out_by_hand()
    original = SGD.step

    def sloppy(self, params, grads):
        original(self, params, grads)
        for p in params:
            p *= 1 + 1e-9

    monkeypatch.setattr(SGD, "step", sloppy)
    with pytest.raises(AssertionError, match="after one step"):
        spec(fixed_networks()[0])
    with pytest.raises(AssertionError):
        spec_delta_rule.test_one_sgd_step_worked_out_by_hand()


def test_xor_spec_catches_a_loop_that_is_not_the_documents(monkeypatch):
    from deltarule.specs import spec_xor

    original = SGD.step

    def drifting(self, params, grads):
        original(self, params, grads)
        for p in params:
            p += 1e-12  # tiny, but 10 000 epochs of it are visible

    monkeypatch.setattr(SGD, "step", drifting)
    with pytest.raises(AssertionError):
        spec_xor.test_document_example_is_reproduced([2, 3, 1], 0)


def test_stop_specs_catch_an_off_by_one_max_epochs(monkeypatch):
    from deltarule.plugins import stopping
    from deltarule.specs import spec_stopping

    spec = spec_stopping.test_max_epochs_runs_exactly_that_many_epochs.hypothesis.inner_test
    spec(3)

    def late(self, state):
        limit = state.config.get("max_epochs")
        return "max_epochs" if limit is not None and state.epoch > limit else None

    monkeypatch.setattr(stopping.MaxEpochs, "deltarule_stop", deltarule.hookimpl(late))
    with pytest.raises(AssertionError):
        spec(3)


def test_target_loss_spec_catches_a_strict_comparison(monkeypatch):
    from deltarule.plugins import stopping
    from deltarule.specs import spec_stopping

    spec = spec_stopping.test_target_loss_stops_at_the_first_epoch_at_or_below_it
    spec = spec.hypothesis.inner_test
    spec([1.0, 0.5, 0.5, 0.2], 0.5)

    def strict(self, state):
        target = state.config.get("target_loss")
        return "target_loss" if target is not None and state.loss < target else None

    monkeypatch.setattr(stopping.TargetLoss, "deltarule_stop", deltarule.hookimpl(strict))
    with pytest.raises(AssertionError):
        spec([1.0, 0.5, 0.5, 0.2], 0.5)


class BrokenPatience:
    """Waits for ``config["patience"]`` like the bundled one, then answers 42."""

    name = "broken_patience"

    @deltarule.hookimpl
    def deltarule_stop(self, state):
        patience = state.config.get("patience")
        if patience is not None and state.epoch >= patience:
            return 42
        return None


def test_stop_criterion_that_waits_for_a_setting_is_still_checked():
    report = check_plugin(BrokenPatience(), profile=PROFILE)
    failed = [r for r in report if r.failed]
    assert failed, str(report)
    assert any("deltarule_stop() returned 42" in r.message and "'patience'" in r.message
               for r in failed)

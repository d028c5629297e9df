"""The spec suite itself: every law FAILS, clearly and every time, on a broken component.

A law that passes everything is worthless.  Each law is shown a deliberately
broken component — a third-party-style component (``tests/broken_components.py``)
for the component laws, a broken piece of the library (monkeypatched) for the
core laws — and must fail with a message naming the law and the component, on
every run.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import deltarule
from deltarule.plugins import stopping
from deltarule.plugins.activations import LeakyReLU, Sigmoid, Tanh
from deltarule.plugins.losses import MSE
from deltarule.plugins.optimizers import SGD
from deltarule.specs import (
    LAWS,
    SpecFailure,
    check_component,
    check_plugin,
    no_global_random_state,
    pair_skip_reason,
)
from deltarule.specs.laws.initializer import GlobalRandomStateUsed
from deltarule.specs.runner import Runner, core_subject
from deltarule.specs.search import Context

from tests import broken_components as B

DOCS = Path(__file__).resolve().parent.parent / "docs"


def run_component_law(law_id, family, component):
    if family == "stop" or law_id.startswith("network."):
        report = check_plugin(getattr(B, B.plugin_name(law_id)), laws=[law_id])
    else:
        report = check_component(component, family, laws=[law_id])
    assert report, f"{law_id} did not run on {component!r}"
    return report


def run_core_law(law_id):
    return Runner(Context("dev")).run(LAWS[law_id], core_subject())


def cli(*args) -> tuple[int, str]:
    """``deltarule ARGS`` in this process: (exit status, stdout)."""
    from deltarule.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


# ---------------------------------------------------------------- the register
def test_every_law_states_itself_and_has_a_family():
    assert len(LAWS) >= 50
    for law_id, item in LAWS.items():
        assert re.fullmatch(r"[a-z][a-z-]*\.[a-z0-9-]+", law_id), law_id
        assert item.statement, law_id
        assert item.family in ("activation", "loss", "optimizer", "initializer", "stop",
                               "network", "core")


def documented_law_ids() -> set[str]:
    text = (DOCS / "specs.md").read_text(encoding="utf-8")
    families = "|".join(sorted({i.split(".")[0] for i in LAWS}))
    return set(re.findall(rf"`((?:{families})\.[a-z0-9-]+)`", text))


def test_every_law_is_in_docs_specs_md_and_every_law_named_there_exists():
    documented = documented_law_ids()
    assert not set(LAWS) - documented, f"laws missing from docs/specs.md: " \
                                       f"{sorted(set(LAWS) - documented)}"
    assert not documented - set(LAWS), f"docs/specs.md names no such laws: " \
                                       f"{sorted(documented - set(LAWS))}"


def test_every_law_has_a_broken_component_in_these_tests():
    assert set(B.BROKEN) | set(CORE_BREAKS) == set(LAWS)
    assert not set(B.BROKEN) & set(CORE_BREAKS)


# ---------------------------------------------------------------- component laws fail
@pytest.mark.parametrize("law_id", sorted(B.BROKEN))
def test_component_law_fails_on_its_broken_component(law_id):
    family, component = B.BROKEN[law_id]
    report = run_component_law(law_id, family, component)
    failed = [r for r in report if r.law == law_id and r.failed]
    assert failed, str(report)
    text = str(failed[0])
    assert f"FAILED {law_id}: " in text
    assert repr(component.name) in text
    assert "reproduce: " in text
    assert failed[0].message.strip()


@pytest.mark.parametrize("law_id", sorted(B.BROKEN))
def test_spec_plugin_gives_the_same_verdict_ten_times(law_id):
    """``deltarule spec --plugin X --law L`` on each broken component: ten runs,
    one verdict (the default profile is derandomised, the sweeps are fixed)."""
    path = f"tests.broken_components:{B.plugin_name(law_id)}"
    outcomes = set()
    for _ in range(10):
        code, out = cli("spec", "--plugin", path, "--law", law_id)
        failed = tuple(sorted(line for line in out.splitlines() if line.startswith("FAILED")))
        outcomes.add((code, failed))
    assert len(outcomes) == 1, outcomes
    (code, failed), = outcomes
    assert code == 1 and any(law_id in line for line in failed), failed


# ---------------------------------------------------------------- core laws fail
def loop_module():
    import deltarule.loop as loop

    return loop


def _scaled_sgd(mp, factor):
    mp.setattr(SGD, "learning_rate", lambda self, t: self.lr * factor)


def _sloppy_sgd(mp):
    original = SGD.step

    def sloppy(self, params, grads):
        original(self, params, grads)
        for p in params:
            p *= 1 + 1e-9

    mp.setattr(SGD, "step", sloppy)


def _drifting_sgd(mp):
    original = SGD.step

    def drifting(self, params, grads):
        original(self, params, grads)
        for p in params:
            p += 1e-12  # tiny, but 10 000 epochs of it are visible

    mp.setattr(SGD, "step", drifting)


def _stop(mp, cls, fn):
    mp.setattr(cls, "deltarule_stop", deltarule.hookimpl(fn))


def _late_max_epochs(self, state):
    limit = state.config.get("max_epochs")
    return "max_epochs" if limit is not None and state.epoch > limit else None


def _strict_target(self, state):
    target = state.config.get("target_loss")
    return "target_loss" if target is not None and state.loss < target else None


def _strict_gradient(self, state):
    tol = state.config.get("gradient_tol")
    return "gradient_norm" if tol is not None and state.grad_norm < tol else None


def _reraise(exc):
    raise exc


def _wrap(mp, owner, name, make):
    original = getattr(owner, name)
    mp.setattr(owner, name, make(original))


def _break_batch_full(mp):
    def make(original):
        def plan(net, loss_c, X, y, batch_size, order):
            if batch_size is not None and batch_size >= len(X):
                batch_size = len(X) - 1  # forgets that b ≥ n is full batch
            return original(net, loss_c, X, y, batch_size, order)
        return plan

    _wrap(mp, loop_module(), "batch_plan", make)


def _scaled_minibatch_loss(mp):
    def make(original):
        def epoch_function(net, loss_c, optimizer, X, y, batch_size, shuffle, rng):
            epoch = original(net, loss_c, optimizer, X, y, batch_size, shuffle, rng)
            if batch_size is None or batch_size >= len(X):
                return epoch
            return lambda: epoch() * (1 + 1e-9)  # weighs the batches wrongly
        return epoch_function

    _wrap(mp, loop_module(), "epoch_function", make)


def _unshuffled(mp):
    def make(original):
        def epoch_function(net, loss_c, optimizer, X, y, batch_size, shuffle, rng):
            return original(net, loss_c, optimizer, X, y, batch_size, False, rng)
        return epoch_function

    _wrap(mp, loop_module(), "epoch_function", make)


def _stacked_loss_off(mp):
    from deltarule.stacked import StackedWorkspace

    def make(original):
        def loss_op(self):
            op = original(self)
            return lambda: op() * (1 + 1e-9)
        return loss_op

    _wrap(mp, StackedWorkspace, "_loss_op", make)


def _fresh_optimizer_on_partial_fit(mp):
    def make(original):
        def partial_fit(self, X, y, **kw):
            if self.network is not None:
                self.optimizer = self._build_optimizer()  # forgets the optimizer's state
            return original(self, X, y, **kw)
        return partial_fit

    _wrap(mp, deltarule.Trainer, "partial_fit", make)


def _steps_skipping_the_first(mp):
    def make(original):
        def steps(self, X, y, **kw):
            gen = original(self, X, y, **kw)
            next(gen, None)
            return gen
        return steps

    _wrap(mp, deltarule.Trainer, "steps", make)


def _float64_networks(mp):
    def make(original):
        def new_network(self, layers, rng):
            net = original(self, layers, rng)
            return deltarule.Network(net.layers, net.activations, net.params, np.float64)
        return new_network

    _wrap(mp, deltarule.Trainer, "_new_network", make)


def _writable_views(mp):
    def writable(self):
        return list(zip(self.weights, self.biases))

    mp.setattr(deltarule.Network, "readonly_params", writable)


def _registration_order(mp):
    def make(original):
        def plain_calls(registry, hook_name):
            calls = original(registry, hook_name)
            return None if calls is None else list(reversed(calls))
        return plain_calls

    _wrap(mp, loop_module(), "_plain_calls", make)


def _column_dependent_tanh(mp):
    def derivative(self, z, a, out=None):
        d = 1 - a * a
        d[:, 0] *= 1.01
        if out is not None:
            np.copyto(out, d)
            return out
        return d

    def vjp(self, z, a, g, out=None):  # what the loop calls
        return derivative(self, z, a, out) * g if out is None else \
            np.multiply(derivative(self, z, a, out), g, out)

    mp.setattr(Tanh, "derivative", derivative)
    mp.setattr(Tanh, "vjp", vjp)


def _store_scaled(mp):
    import deltarule.workspace as network

    def make(original):
        def store(buffer, fn, *args):
            op = original(buffer, fn, *args)

            def scaled():
                op()
                buffer *= 1 + 1e-9
            return scaled
        return store

    _wrap(mp, network, "_store", make)


def _options_ignored(mp):
    def make(original):
        def build(self):
            saved = self.config["optimizer_options"]
            self.config["optimizer_options"] = None
            try:
                return original(self)
            finally:
                self.config["optimizer_options"] = saved
        return build

    _wrap(mp, deltarule.Trainer, "_build_optimizer", make)


CORE_BREAKS = {
    "loop.optional-methods": _store_scaled,
    "loop.final-params": lambda mp: mp.setattr(deltarule.State, "set_final_params",
                                               lambda self, params: None),
    "loop.interrupt": lambda mp: mp.setattr(loop_module().Run, "restore_finite",
                                            lambda self: None),
    "loop.optimizer-options": _options_ignored,
    "loop.fused-output": lambda mp: mp.setattr(
        __import__("deltarule.plugins.losses", fromlist=["x"]).BinaryCrossEntropy,
        "fused_delta", lambda self, activation: None),
    "network.forward": lambda mp: _wrap(mp, deltarule.Network, "forward",
                                        lambda f: lambda self, X: f(self, X) * (1 + 1e-9)),
    "delta-rule.gradients": lambda mp: mp.setattr(
        Sigmoid, "derivative",
        lambda self, z, a, out=None: np.multiply(a * (1 - a), 1 + 1e-9, out=out)),
    "delta-rule.sgd-step": _sloppy_sgd,
    "delta-rule.worked-example": _sloppy_sgd,
    "xor.document-examples": _drifting_sgd,
    "xor.named-seeds": lambda mp: _scaled_sgd(mp, 0.01),
    "xor.converges-or-stationary": lambda mp: _scaled_sgd(mp, 0.01),
    "xor.convergence-rate": lambda mp: _scaled_sgd(mp, 0.0),
    "loop.max-epochs": lambda mp: _stop(mp, stopping.MaxEpochs, _late_max_epochs),
    "loop.target-loss": lambda mp: _stop(mp, stopping.TargetLoss, _strict_target),
    "loop.patience": lambda mp: mp.setattr(deltarule.State, "set_final_params",
                                           lambda self, params: None),
    "loop.time-budget": lambda mp: _stop(mp, stopping.TimeBudget, lambda self, state: None),
    "loop.gradient-tol": lambda mp: _stop(mp, stopping.GradientNorm, _strict_gradient),
    "loop.criteria-order": lambda mp: mp.setattr(stopping, "PLUGINS",
                                                 list(reversed(stopping.PLUGINS))),
    "loop.divergence": lambda mp: mp.setattr(loop_module().Run, "restore_finite",
                                             lambda self: None),
    "loop.divergence-fallback": lambda mp: mp.setattr(
        loop_module().Run, "restore_finite",
        lambda self: np.copyto(self.net.theta, self.backup[self.current & 1])),
    "loop.validation-split": lambda mp: _wrap(
        mp, deltarule.Trainer, "_split",
        lambda f: lambda self, *a: (f(self, *a), setattr(self, "validation_rows", None))[0]),
    "loop.history": lambda mp: _wrap(
        mp, loop_module(), "validation_loss",
        lambda f: lambda *a: (lambda v: lambda: v() * (1 + 1e-9))(f(*a))),
    "loop.batch-rows": _unshuffled,
    "loop.batch-full": _break_batch_full,
    "loop.batch-loss": _scaled_minibatch_loss,
    "many.equivalence": _stacked_loss_off,
    "loop.partial-fit": _fresh_optimizer_on_partial_fit,
    "loop.steps": _steps_skipping_the_first,
    "loop.save-load": lambda mp: mp.setattr(LeakyReLU, "options", lambda self: {}),
    "loop.float32": _float64_networks,
    "loop.permutation": _column_dependent_tanh,
    "loop.observers": _writable_views,
    "loop.hook-wrappers": _registration_order,
    "loop.inputs-untouched": lambda mp: mp.setattr(
        deltarule.Network, "params", property(lambda self: list(zip(self.weights,
                                                                     self.biases)))),
    "loop.stateful": _fresh_optimizer_on_partial_fit,
    "loop.l2-penalty": lambda mp: _wrap(
        mp, __import__("deltarule.workspace", fromlist=["x"]).Workspace, "__init__",
        lambda f: lambda self, *a, **k: f(self, *a, **{**k, "l2": 2.0 * k.get("l2", 0.0)})),
    "loop.sample-weights": lambda mp: _wrap(
        mp, deltarule.Trainer, "_weights",
        lambda f: lambda self, *a: (lambda w: None if w is None else w * w)(f(self, *a))),
    "loop.plugin-fault": lambda mp: mp.setattr(loop_module().Run, "fault",
                                               lambda self, exc, epoch: _reraise(exc)),
    "loop.final-loss": lambda mp: _wrap(
        mp, loop_module().Run, "score_restored",
        lambda f: lambda self: (f(self), setattr(self.log, "restored_val_loss", None))[0]),
    "loop.warnings": lambda mp: mp.setattr(deltarule.Trainer, "_warn_after",
                                           lambda self, Xm, ym: None),
    "network.outputs": lambda mp: mp.setattr(deltarule.Network, "predict_proba",
                                             lambda self, X: self.predict(X)),
    "network.memory-limit": lambda mp: mp.setattr(
        __import__("deltarule.workspace", fromlist=["x"]), "format_bytes",
        lambda n: "a lot"),
}
SLOW_BREAKS = {"xor.convergence-rate", "xor.named-seeds", "xor.converges-or-stationary",
               "xor.document-examples", "many.equivalence"}


@pytest.mark.parametrize("law_id", [pytest.param(k, marks=[pytest.mark.slow] if LAWS[k].slow
                                                 else []) for k in sorted(CORE_BREAKS)])
def test_core_law_fails_on_a_broken_library(law_id, monkeypatch):
    assert run_core_law(law_id).passed, f"{law_id} must hold on the intact library"
    CORE_BREAKS[law_id](monkeypatch)
    runs = 1 if law_id in SLOW_BREAKS else 2
    results = [run_core_law(law_id) for _ in range(runs)]
    assert {r.status for r in results} == {"failed"}, str(results[0])
    assert len({r.message.split("culprit")[0] for r in results}) == 1
    text = str(results[0])
    assert f"FAILED {law_id}: core 'deltarule'" in text
    assert "culprit: " in text and "reproduce: deltarule spec --law " + law_id in text


def test_a_core_failure_names_the_bundled_component_that_breaks_its_own_law(monkeypatch):
    CORE_BREAKS["delta-rule.gradients"](monkeypatch)
    result = run_core_law("delta-rule.gradients")
    assert result.failed
    assert "culprit: activation 'sigmoid'" in result.message
    assert "activation.textbook" in result.message


def test_a_core_failure_with_sound_members_blames_the_loop(monkeypatch):
    CORE_BREAKS["loop.divergence"](monkeypatch)
    result = run_core_law("loop.divergence")
    assert result.failed and "the fault is in the loop (deltarule core)" in result.message


# ---------------------------------------------------------------- messages
def test_derivative_failure_names_the_worst_element_and_both_values():
    report = check_component(B.NarrowBand(), "activation", laws=["activation.derivative"])
    (result,) = report
    text = str(result)
    assert "FAILED activation.derivative: activation 'narrow_band_sigmoid'" in text
    assert re.search(r"at z = 2\.0\d* \(index \[\d+, \d+\]", text)
    assert "derivative(z, a) = " in text and "complex step = " in text
    assert "> tolerance " in text and "points out of tolerance" in text
    with pytest.raises(SpecFailure, match="narrow_band_sigmoid"):
        report.raise_for_failures()


def test_a_tail_error_of_five_percent_is_caught_by_the_dense_sweep():
    (result,) = check_component(B.TailHuber(), "loss", laws=["loss.gradient"])
    assert result.failed and "ratio analytic/numeric = 1.05" in result.message


def test_loss_gradient_off_by_a_factor_shows_the_ratio():
    (result,) = check_component(B.HalfGradientMSE(), "loss", laws=["loss.gradient"])
    assert result.failed and "ratio analytic/numeric = 2" in result.message


def test_undeclared_kink_is_reported_with_a_hint_and_a_declared_one_respected():
    class Relu:
        name = "undeclared_relu"

        def forward(self, z):
            return np.maximum(z, 0.0)

        def derivative(self, z, a):
            return (z > 0).astype(np.float64)

    class Declared(Relu):
        name = "declared_relu"
        kinks = (0.0,)

    (bad,) = check_component(Relu(), "activation", laws=["activation.derivative"])
    assert bad.failed and "kinks = (0.0,)" in bad.message
    (good,) = check_component(Declared(), "activation", laws=["activation.derivative"])
    assert good.passed, good.message


def test_float32_leak_is_caught():
    report = check_component(B.Float64Sigmoid(), "activation", laws=["activation.dtype"])
    assert report.failures and "float32" in report.failures[0].message


def test_crashing_component_is_a_failure_with_its_input():
    class Crash:
        name = "crash"

        def forward(self, z):
            if z.shape[0] > 1:
                raise RuntimeError("boom")
            return z.copy()

        def derivative(self, z, a):
            return np.ones_like(z)

    (result,) = check_component(Crash(), "activation", laws=["activation.forward"])
    assert result.failed and "RuntimeError: boom" in result.message


def test_network_failure_names_the_culprit_member():
    report = check_plugin(B.network_gradient, laws=["network.gradient"])
    failed = [r for r in report if r.failed]
    assert failed
    assert "culprit: activation 'wrong_sigmoid'" in failed[0].message
    assert "activation.derivative" in failed[0].message
    assert "--component 'wrong_sigmoid × " in failed[0].reproduce
    assert "--plugin tests.broken_components:network_gradient" in failed[0].reproduce


def test_fused_delta_modifying_the_loops_buffers_fails():
    class FlippingBCE(MSE):
        name = "flipping"
        targets = "binary"
        predictions = "unit"

        def fused_delta(self, activation):
            if not isinstance(activation, Sigmoid):
                return None

            def flipping(y, y_hat, z, out):
                np.subtract(y_hat, y, out)
                np.subtract(1.0, y, y)
                return 0.0

            return flipping

    (result,) = check_component(FlippingBCE(), "loss", laws=["loss.inputs-untouched"])
    assert result.failed and "fused delta for 'sigmoid'" in result.message


# ---------------------------------------------------------------- bundled and reports
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

    report = check_plugin(Provider())
    assert report.ok, str(report)
    assert {"activation", "loss", "optimizer", "network"} <= {r.family for r in report}


def test_a_plugin_with_nothing_to_check_is_not_ok():
    class Observer:
        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            pass

    report = check_plugin(Observer())
    assert len(report) == 0 and not report.ok
    with pytest.raises(SpecFailure, match="nothing"):
        report.raise_for_failures()


def test_summary_is_one_line_and_skips_say_why():
    report = check_plugin(B.network_gradient)
    assert "\n" not in report.summary()
    assert re.fullmatch(r"\d+ passed, \d+ failed, \d+ skipped", report.summary())
    for r in report.skips:
        assert r.message.strip(), r
    assert "SKIPPED" in report.table() and "(" in report.table()


def test_expected_failures_are_xfailed_strictly_and_unknown_ids_warned():
    class Declared(B.NarrowBand):
        name = "declared_band"
        expected_failures = {"activation.derivative": "a known 5 % band",
                             "activation.derivitave": "typo"}

    report = check_component(Declared(), "activation")
    by_law = {r.law: r for r in report}
    assert by_law["activation.derivative"].status == "xfailed"
    assert "a known 5 % band" in by_law["activation.derivative"].message
    assert report.ok or not report.failures
    assert any("'activation.derivitave'" in w and "did you mean 'activation.derivative'"
               in w for w in report.warnings)

    class Stale(Sigmoid):
        name = "stale"
        expected_failures = {"activation.derivative": "fixed long ago"}

    stale = {r.law: r for r in check_component(Stale(), "activation",
                                                laws=["activation.derivative"])}
    result = stale["activation.derivative"]
    assert result.status == "xpassed" and result.failed
    assert "remove it from expected_failures" in result.message


def test_json_compliance_table(tmp_path):
    report = check_plugin(B.activation_derivative)
    path = tmp_path / "r.json"
    report.write_json(path)
    data = json.loads(path.read_text())
    assert data["format"] == "deltarule-spec-report" and data["results"]
    row = next(r for r in data["results"] if r["law"] == "activation.derivative"
               and r["component"] == "narrow_band_sigmoid")
    assert {"law", "component", "plugin", "status", "reason", "seconds"} <= set(row)
    assert row["status"] == "failed" and row["reason"] and row["seconds"] >= 0
    assert data["summary"]["failed"] >= 1


def test_a_seed_changes_the_examples_but_the_verdict_of_a_broken_component_holds():
    for seed in (1, 2):
        report = check_component(B.NarrowBand(), "activation",
                                 laws=["activation.derivative"], seed=seed)
        assert report.failures and f"seed={seed}" in report.failures[0].reproduce


def test_every_bundled_component_declares_the_model_axis():
    reg = deltarule.make_registry(entry_points=False)
    for family, table in reg.catalogue().families.items():
        if family == "initializers":
            continue  # called per model with that model's generator
        for name, entry in table.items():
            assert getattr(entry.component, "model_axis", False) is True, (family, name)
    for impl in reg.implementations("deltarule_stop"):
        assert getattr(reg.pm.get_plugin(impl.plugin), "model_axis", False), impl.plugin


def test_model_axis_laws_skip_components_without_the_declaration():
    (result,) = check_component(B.NarrowBand(), "activation", laws=["activation.model-axis"])
    assert result.skipped and "model_axis" in result.message


def test_trip_wires_are_removed_afterwards():
    original = np.random.randn
    with no_global_random_state():
        with pytest.raises(GlobalRandomStateUsed):
            np.random.randn(2)
    assert np.random.randn is original


def test_pairs_are_skipped_only_when_the_output_cannot_match():
    from deltarule.plugins.activations import Softmax
    from deltarule.plugins.losses import BinaryCrossEntropy, CrossEntropy

    assert pair_skip_reason(Sigmoid(), BinaryCrossEntropy()) is None
    assert pair_skip_reason(Softmax(), CrossEntropy()) is None
    assert "output_range" in pair_skip_reason(Tanh(), BinaryCrossEntropy())
    assert "element-wise" in pair_skip_reason(Sigmoid(), CrossEntropy())
    assert pair_skip_reason(Tanh(), MSE()) is None


# ---------------------------------------------------------------- the command
def test_cli_selects_laws_and_components_and_prints_one_summary(tmp_path):
    code, out = cli("spec", "--law", "optimizer.textbook", "--law", "loss.red*",
                    "--component", "adam", "--component", "mse", "-v",
                    "--json", str(tmp_path / "r.json"))
    assert code == 0, out
    lines = out.splitlines()
    assert sum(line.startswith("deltarule spec: ") for line in lines) == 1
    assert "PASSED  optimizer.textbook  optimizer adam" in out
    assert "loss.reduction  loss mse" in out and "sgd" not in out
    rows = json.loads((tmp_path / "r.json").read_text())["results"]
    assert {(r["law"], r["component"]) for r in rows} == {
        ("optimizer.textbook", "adam"), ("loss.reduction", "mse")}


def test_cli_unknown_law_is_a_usage_error(capsys):
    code, _ = cli("spec", "--law", "optimizer.lr-scalin")
    assert code == 2
    assert "did you mean 'optimizer.lr-scaling'" in capsys.readouterr().err


def test_cli_lists_every_law():
    code, out = cli("spec", "--list")
    assert code == 0
    for law_id in LAWS:
        assert law_id in out


class _ReLUKinkVjp:
    """Named relu, right everywhere but its vjp, which passes g through at z = 0
    (the loop calls vjp, so training would use the wrong kink convention)."""

    name = "relu"
    kinks = (0.0,)
    output_range = (0.0, float("inf"))

    def forward(self, z):
        return np.maximum(z, 0.0)

    def derivative(self, z, a):
        return (z > 0).astype(float)

    def vjp(self, z, a, g):
        return g * (z >= 0)


class _TanhVjpWithoutSquare:
    """Named tanh whose vjp computes g ⊙ (1 − a) instead of g ⊙ (1 − a²)."""

    name = "tanh"
    output_range = (-1.0, 1.0)

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1.0 - a * a

    def vjp(self, z, a, g):
        return g * (1.0 - a)


@pytest.mark.parametrize("component, points_at", [(_ReLUKinkVjp(), "vjp"),
                                                  (_TanhVjpWithoutSquare(), "vjp")])
def test_textbook_checks_an_elementwise_vjp(component, points_at):
    """The loop calls vjp when an activation has one: activation.textbook compares
    it with g ⊙ the textbook derivative (kinks included) and names it."""
    report = check_component(component, "activation", laws=["activation.textbook"])
    (result,) = [r for r in report if r.law == "activation.textbook"]
    assert result.failed, str(result)
    assert f"{points_at} of " in result.message and "textbook derivative" in result.message

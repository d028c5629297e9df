"""``train_many`` and ``deltarule sweep`` with plugins that raise or return the wrong thing.

The faulty components, optimizers, initializers and hooks are those of
:mod:`tests.faults.test_plugins` (honest ones that start misbehaving at a
chosen epoch).  A stacked run must treat them as a single run does:

- misbehaving **from the start**, the probe refuses them before any epoch of
  any model, with the very message ``deltarule.train`` gives for the same
  plugin (the probe runs on one model's real shapes);
- misbehaving **from epoch 3**, the run ends with a ``PluginError`` naming
  the plugin, the method or hook and epoch 3, chained to the original
  exception;
- deltarule's own errors and Ctrl-C pass through unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deltarule
from deltarule import ConfigError, PluginError, Trainer
from deltarule.datasets import xor

from .conftest import assert_one_line_error, cli
from .test_plugins import (
    COMPONENT_FAULTS,
    MIDRUN,
    NEVER,
    OPTIMIZER_FAULTS,
    Plugin,
    Sigmoid,
    Softmax,
    _maker,
    data_for,
    hook_plugin,
    initializer,
    optimizer_class,
    options_for,
)

SEEDS = [0, 1, 2]

# the faulty components run once per model (no model axis): said once per run, not here
pytestmark = pytest.mark.filterwarnings("ignore::deltarule.stacked.PerModelWarning")


def many_options(family, component, batch_size=None):
    opts = options_for(family, component, batch_size)
    del opts["seed"]
    return opts


def layers_for(component):
    return [2, 3, 2] if isinstance(component, Softmax) else [2, 3, 1]


def run_many(family, make, start, batch_size=None, **more):
    """``(plugin, error or None)``: ``train_many`` with a component misbehaving
    from epoch ``start``."""
    component = make(start)
    plugin = Plugin(family, component)
    try:
        deltarule.train_many(*data_for(component), layers_for(component), seeds=SEEDS,
                             plugins=[plugin], entry_points=False,
                             **many_options(family, component, batch_size), **more)
    except PluginError as exc:
        return plugin, exc
    return plugin, None


def train_error(family, make, start, batch_size=None):
    """The error ``deltarule.train`` (seed 0) gives for the same fault."""
    component = make(start)
    opts = options_for(family, component, batch_size)
    with pytest.raises(PluginError) as info:
        Trainer(layers_for(component), plugins=[Plugin(family, component)],
                entry_points=False, **opts).fit(*data_for(component))
    return info.value


def head(message: str) -> str:
    """The message without what the loop itself then failed with (that differs
    between the single and the stacked loop)."""
    return message.split(" (the loop then failed with")[0]


# -- before the first epoch: the probe ---------------------------------------------------


@pytest.mark.parametrize("family, method, kind, cls, words", COMPONENT_FAULTS,
                         ids=[f"{m}-{k}" for _, m, k, _, _ in COMPONENT_FAULTS])
def test_the_probe_refuses_a_broken_component_before_any_model_trains(family, method,
                                                                      kind, cls, words):
    make = _maker(cls, method, kind)
    plugin, err = run_many(family, make, start=0)
    assert err is not None, "no PluginError"
    message = str(err)
    assert "plugin 'faulty-plugin' (user) failed before the first epoch" in message
    assert f"{method}()" in message and words in message, message
    assert err.plugin == "faulty-plugin" and err.epoch == 0
    if kind == "raise":
        assert isinstance(err.__cause__, RuntimeError)
    assert plugin.epoch == 0  # no epoch ended: nothing trained
    assert message == str(train_error(family, make, 0))


@pytest.mark.parametrize("method, kind, start, words",
                         [f for f in OPTIMIZER_FAULTS if f[2] == 0])
def test_optimizer_faults_before_the_first_epoch(method, kind, start, words):
    make = lambda s: optimizer_class(method, kind, s)  # noqa: E731
    plugin, err = run_many("optimizers", make, start)
    assert err is not None and words in str(err) and "before the first epoch" in str(err)
    assert "plugin 'faulty-plugin'" in str(err) and plugin.epoch == 0
    assert str(err) == str(train_error("optimizers", make, start))


@pytest.mark.parametrize("kind, words", [
    ("raise", "call raised RuntimeError: no init"),
    ("shape", "returned parameters that do not fit layers=[2, 3, 1]"),
    ("nan", "contains NaN or infinite values"),
])
def test_initializer_faults(kind, words):
    plugin, err = run_many("initializers", lambda s: initializer(kind), start=0)
    assert err is not None and words in str(err) and "before the first epoch" in str(err)
    assert "initializer 'faulty_init'" in str(err) and plugin.epoch == 0


def test_every_stack_is_probed_before_the_first_epoch_of_any():
    """A component failing only on the second stack's shapes (4 hidden units)
    stops the run before the first stack trains."""
    class Picky(Sigmoid):
        name = "picky"

        def forward(self, z):
            if z.shape[1] == 4:
                return z[:1]
            return super().forward(z)

    plugin = Plugin("activations", Picky())
    with pytest.raises(PluginError, match=r"'picky'.forward\(\) returned shape \(1, 4\)"):
        deltarule.train_many(*xor(), [[2, 3, 1], [2, 4, 1]], seeds=SEEDS,
                             activation="picky", plugins=[plugin], max_epochs=4,
                             entry_points=False)
    assert plugin.epoch == 0


def test_bundled_components_are_not_probed(monkeypatch):
    import deltarule.faults

    calls = []
    monkeypatch.setattr(deltarule.faults, "_Probe",
                        lambda *a: calls.append(a) or pytest.fail("probed"))
    many = deltarule.train_many(*xor(), [2, 3, 1], seeds=SEEDS, max_epochs=3,
                                entry_points=False)
    assert len(many) == 3 and not calls


# -- during the run -----------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [None, 2])
@pytest.mark.parametrize("family, method, kind, cls, words", MIDRUN,
                         ids=[f"{m}-{k}" for _, m, k, _, _ in MIDRUN])
def test_a_fault_in_epoch_3_is_a_plugin_error_naming_it(family, method, kind, cls, words,
                                                        batch_size):
    make = _maker(cls, method, kind)
    plugin, err = run_many(family, make, start=3, batch_size=batch_size)
    assert err is not None, "no PluginError"
    message = str(err)
    assert "plugin 'faulty-plugin' (user) failed in epoch 3" in message, message
    assert f"{method}()" in message and err.epoch == 3 and err.plugin == "faulty-plugin"
    if kind == "raise":
        assert isinstance(err.__cause__, RuntimeError) and "boom" in message
    elif kind == "shape":  # refused by the loop's copy, never broadcast
        assert "returned shape (1, " in message and "during the run" in message, message
    else:  # the loop choked on what came back; the probe, run again, names why
        assert err.__cause__ is not None and words in message, message
    assert head(message) == head(str(train_error(family, make, 3, batch_size)))


def test_a_model_axis_component_raising_mid_run():
    class Stacked(Sigmoid):
        name = "stacked_sigmoid"
        model_axis = True

    plugin = Plugin("activations", Stacked("derivative", "raise", 3))
    with pytest.raises(PluginError) as info:
        deltarule.train_many(*xor(), [2, 3, 1], seeds=SEEDS, activation="stacked_sigmoid",
                             plugins=[plugin], max_epochs=6, entry_points=False)
    assert str(info.value) == ("plugin 'faulty-plugin' (user) failed in epoch 3: activation "
                               "'stacked_sigmoid'.derivative() raised RuntimeError: boom")
    assert isinstance(info.value.__cause__, RuntimeError)


def test_an_optimizer_step_raising_in_epoch_3():
    make = lambda s: optimizer_class("step", "raise", s)  # noqa: E731
    plugin, err = run_many("optimizers", make, 3)
    assert err is not None and err.epoch == 3
    assert str(err) == str(train_error("optimizers", make, 3))
    assert isinstance(err.__cause__, RuntimeError)


@pytest.mark.parametrize("model_axis", [False, True])
@pytest.mark.parametrize("hook, epoch", [
    ("deltarule_stop", 3),
    ("deltarule_epoch_end", 3),
    ("deltarule_train_start", 0),
    ("deltarule_train_end", 6),
])
def test_a_hook_that_raises(hook, epoch, model_axis):
    plugin = hook_plugin(hook, "raise")
    plugin.model_axis = model_axis
    with pytest.raises(PluginError) as info:
        deltarule.train_many(*xor(), [2, 3, 1], seeds=SEEDS, max_epochs=6,
                             plugins=[plugin], entry_points=False)
    err = info.value
    assert str(err) == (f"plugin 'hooked' (user) failed{' in epoch 3' if epoch == 3 else ''}"
                        f"{' before the first epoch' if epoch == 0 else ''}"
                        f"{' in epoch 6' if epoch == 6 else ''}: {hook}() raised "
                        "ValueError: hook bug")
    assert err.epoch == epoch and err.plugin == "hooked" and err.hook == hook
    assert isinstance(err.__cause__, ValueError)
    with pytest.raises(PluginError) as single:
        deltarule.train(*xor(), [2, 3, 1], seed=0, max_epochs=6,
                        plugins=[hook_plugin(hook, "raise")], entry_points=False)
    assert str(single.value) == str(err)


def test_the_trainer_method_names_the_plugin_too():
    plugin = hook_plugin("deltarule_epoch_end", "raise")
    trainer = Trainer([2, 3, 1], max_epochs=6, plugins=[plugin], entry_points=False)
    with pytest.raises(PluginError, match="in epoch 3: deltarule_epoch_end.. raised"):
        trainer.fit_many(*xor(), seeds=SEEDS)


def test_deltarule_errors_pass_through_unchanged():
    wrong = ConfigError("a plugin's own reason")

    class Strict:
        name = "strict"

        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            if state.epoch == 2:
                raise wrong

    with pytest.raises(ConfigError) as info:
        deltarule.train_many(*xor(), [2, 3, 1], seeds=SEEDS, max_epochs=6,
                             plugins=[Strict()], entry_points=False)
    assert info.value is wrong


def test_a_bug_of_no_plugin_is_not_blamed_on_one():
    """``on_done`` is the caller's: what it raises is not a plugin's fault."""
    def on_done(k):
        raise LookupError("the caller's bug")

    with pytest.raises(LookupError, match="the caller's bug"):
        deltarule.train_many(*xor(), [2, 3, 1], seeds=SEEDS, max_epochs=3,
                             activation="faulty_sigmoid",
                             plugins=[Plugin("activations", Sigmoid())],
                             entry_points=False, on_done=on_done)


def test_ctrl_c_from_a_per_model_hook_still_keeps_what_finished():
    class Interrupt:
        name = "interrupt"

        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            if state.epoch == 5:
                raise KeyboardInterrupt

    many = deltarule.train_many(*xor(), [2, 3, 1], seeds=2, max_epochs=[3, 50],
                                plugins=[Interrupt()], entry_points=False)
    assert many.interrupted
    assert [r.stop_reason for r in many] == ["max_epochs"] * 2 + ["interrupted"] * 2


def test_with_a_dask_client_the_probe_runs_before_anything_is_sent():
    class Untouchable:
        def __getattr__(self, name):
            raise AssertionError(f"the client was used: {name}")

    make = _maker(Sigmoid, "forward", "shape")
    component = make(0)
    with pytest.raises(PluginError, match=r"before the first epoch: activation "
                                          r"'faulty_sigmoid'.forward\(\) returned shape"):
        deltarule.train_many(*xor(), [2, 3, 1], seeds=SEEDS, client=Untouchable(),
                             activation="faulty_sigmoid",
                             plugins=[Plugin("activations", component)],
                             max_epochs=6, entry_points=False)


# -- deltarule sweep ----------------------------------------------------------------------


SWEEP_PLUGIN = textwrap.dedent('''
    import numpy as np
    import deltarule

    class Sigmoid:
        name = "sweep_faulty"
        epoch = 0

        def __init__(self, breaks_at):
            self.breaks_at = breaks_at

        def forward(self, z):
            if self.epoch >= self.breaks_at:
                raise ValueError("boom in forward")
            return 1.0 / (1.0 + np.exp(-z))

        def derivative(self, z, a):
            return a * (1.0 - a)

    class Plugin:
        def __init__(self, breaks_at):
            self.component = Sigmoid(breaks_at)

        @deltarule.hookimpl
        def deltarule_activations(self):
            return [self.component]

        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            self.component.epoch = state.epoch

    at_once = Plugin(0)
    in_epoch_3 = Plugin(2)

    class Stop:
        @deltarule.hookimpl
        def deltarule_stop(self, state):
            if state.epoch == 4:
                raise KeyError("no such stop")

    stop = Stop()
''')


@pytest.fixture
def sweep_module(tmp_path, monkeypatch):
    name = "sweep_faulty_plugin"
    (tmp_path / f"{name}.py").write_text(SWEEP_PLUGIN)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize("plugin, words", [
    ("at_once", ("plugin 'sweep_faulty_plugin.Plugin' (user (sweep_faulty_plugin:at_once)) "
                 "failed before the first epoch: activation 'sweep_faulty'.forward() "
                 "raised ValueError: boom in forward",)),
    ("in_epoch_3", ("plugin 'sweep_faulty_plugin.Plugin' (user (sweep_faulty_plugin:"
                    "in_epoch_3)) failed in epoch 3: activation 'sweep_faulty'.forward() "
                    "raised ValueError: boom in forward",)),
])
def test_sweep_prints_the_plugin_error_as_train_does(capsys, sweep_module, plugin, words):
    args = ["--activation", "sweep_faulty", "--plugin", f"{sweep_module}:{plugin}",
            "--epochs", "6"]
    status, out, err = cli(capsys, "sweep", "xor", "--seeds", "0-3", "--quiet", *args)
    line = assert_one_line_error(status, err, *words)
    assert out == ""
    sys.modules.pop(sweep_module)  # a fresh plugin (its component counts the epochs)
    t_status, _, t_err = cli(capsys, "train", "xor", "--seed", "0", *args)
    assert t_status == status  # the exit status train gives a plugin error
    assert line.split(": error: ", 1)[1] in t_err


def test_sweep_names_a_stop_criterion_that_raises(capsys, sweep_module):
    status, out, err = cli(capsys, "sweep", "xor", "--seeds", "0-3", "--quiet", "--epochs",
                           "6", "--plugin", f"{sweep_module}:stop")
    assert_one_line_error(status, err, "plugin 'sweep_faulty_plugin.Stop' (user (sweep_"
                          "faulty_plugin:stop)) failed in epoch 4: deltarule_stop() raised "
                          "KeyError: 'no such stop'")
    assert out == ""


def test_sweep_as_a_command(tmp_path, sweep_module):
    (tmp_path / "probe_many.py").write_text(SWEEP_PLUGIN)
    proc = subprocess.run(
        [sys.executable, "-m", "deltarule", "sweep", "xor", "--seeds", "0-3", "--epochs",
         "6", "--activation", "sweep_faulty", "--plugin", "probe_many:in_epoch_3"],
        capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert_one_line_error(proc.returncode, proc.stderr, "plugin 'probe_many.Plugin' (user "
                          "(probe_many:in_epoch_3)) failed in epoch 3: activation 'sweep_faulty'.forward() raised "
                          "ValueError: boom in forward")
    assert "unexpected" not in proc.stderr and proc.stdout == ""

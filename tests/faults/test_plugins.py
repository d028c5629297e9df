"""Plugins that raise or return the wrong thing, in every hook and component method.

Each faulty component is an honest one (sigmoid, half squared error, SGD,
random normal init) that starts misbehaving at a chosen epoch:

- misbehaving **from the start**, the probe must refuse it before the first
  epoch, naming the plugin, the method and what was wrong;
- misbehaving **from epoch 3**, the run must stop with a ``PluginError``
  naming the plugin, the method or hook, epoch 3 and the original exception
  (chained), with ``stop_reason == "error"`` and exactly the parameters of
  the last epoch completed — the same as an honest run of 2 epochs.
"""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import deltarule
from deltarule import PluginError, Trainer
from deltarule.datasets import xor

from .conftest import assert_one_line_error, cli, params_equal

NEVER = 10**9


def misbehave(kind: str, good):
    if kind == "raise":
        raise RuntimeError("boom")
    if kind == "none":
        return None
    if kind == "scalar":
        return 0.5
    if kind == "shape":
        return good[:1]
    if kind == "dtype":
        return good.astype(np.float32)
    if kind == "nan":
        return np.full_like(good, np.nan)
    if kind == "string":
        return "low"
    if kind == "vector":
        return np.atleast_1d(good) * np.ones(3)
    if kind == "bool":
        return True
    if kind == "tuple":
        return (good,)
    raise AssertionError(kind)


class Component:
    """Behaves until ``epoch`` reaches ``start - 1`` (i.e. from epoch ``start``)."""

    def __init__(self, method=None, kind=None, start=NEVER):
        self.method, self.kind, self.start, self.epoch = method, kind, start, 0

    def _out(self, method, good):
        if method == self.method and self.epoch >= self.start - 1:
            return misbehave(self.kind, good)
        return good


class Sigmoid(Component):
    name = "faulty_sigmoid"

    def forward(self, z):
        return self._out("forward", 1.0 / (1.0 + np.exp(-z)))

    def derivative(self, z, a):
        return self._out("derivative", a * (1.0 - a))


class Softmax(Component):
    name = "faulty_softmax"

    def forward(self, z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def vjp(self, z, a, g):
        return self._out("vjp", a * (g - (g * a).sum(axis=1, keepdims=True)))


class HalfSquares(Component):
    name = "faulty_loss"

    def value(self, y, y_hat):
        return self._out("value", 0.5 * float(np.sum((y_hat - y) ** 2)))

    def gradient(self, y, y_hat):
        return self._out("gradient", y_hat - y)


class PairLoss(HalfSquares):
    name = "faulty_pair_loss"

    def value_and_gradient(self, y, y_hat):
        return self._out("value_and_gradient", (self.value(y, y_hat), y_hat - y))


def optimizer_class(method, kind, start):
    class SGD:
        name = "faulty_sgd"

        def __init__(self, lr=0.1):
            if method == "__init__":
                raise RuntimeError("cannot build")
            self.lr = lr

        def step(self, params, grads):
            if method == "step" and Plugin.current.epoch >= start - 1:
                if kind == "raise":
                    raise RuntimeError("boom")
                if kind == "nan":
                    params[0][...] = np.nan
                    return
                if kind == "grads":
                    grads[0] *= 2
                if kind == "rebind":
                    params[0] = params[0] - self.lr * grads[0]
                    return
            for p, g in zip(params, grads):
                p -= self.lr * g

    return SGD


def initializer(kind):
    def init(layers, rng, dtype):
        params = [(rng.standard_normal((a, b)).astype(dtype), np.zeros(b, dtype))
                  for a, b in zip(layers[:-1], layers[1:])]
        if kind == "raise":
            raise RuntimeError("no init")
        if kind == "shape":
            params[0] = (params[0][0].T, params[0][1])
        if kind == "nan":
            params[0][0][0, 0] = np.nan
        return params

    init.name = "faulty_init"
    return init


class Plugin:
    """One plugin providing a faulty component, and the clock it misbehaves by."""

    name = "faulty-plugin"
    current = None

    def __init__(self, family=None, component=None):
        self.family, self.component = family, component
        Plugin.current = self
        self.epoch = 0

    def provide(self, family):
        return [self.component] if self.family == family else []

    @deltarule.hookimpl
    def deltarule_activations(self):
        return self.provide("activations")

    @deltarule.hookimpl
    def deltarule_losses(self):
        return self.provide("losses")

    @deltarule.hookimpl
    def deltarule_optimizers(self):
        return self.provide("optimizers")

    @deltarule.hookimpl
    def deltarule_initializers(self):
        return self.provide("initializers")

    @deltarule.hookimpl
    def deltarule_epoch_end(self, state):
        self.epoch = state.epoch
        if isinstance(self.component, Component):
            self.component.epoch = state.epoch


def options_for(family, component, batch_size=None):
    opts = dict(max_epochs=6, seed=0, batch_size=batch_size)
    if family == "activations":
        opts["activation"] = component.name
        if isinstance(component, Softmax):
            opts["activation"] = ["sigmoid", component.name]
            opts["loss"] = "cross_entropy"
    elif family == "losses":
        opts["loss"] = component.name
    elif family == "optimizers":
        opts["optimizer"] = "faulty_sgd"
    elif family == "initializers":
        opts["init"] = "faulty_init"
    return opts


def data_for(component):
    X, y = xor()
    if isinstance(component, Softmax):
        y = np.hstack([y, 1 - y])
    return X, y


def run(family, make, start, batch_size=None):
    """``(trainer, error or None)`` for a faulty component misbehaving from ``start``."""
    component = make(start)
    plugin = Plugin(family, component)
    layers = [2, 3, 2] if isinstance(component, Softmax) else [2, 3, 1]
    trainer = Trainer(layers, plugins=[plugin], **options_for(family, component, batch_size))
    try:
        trainer.fit(*data_for(component))
    except PluginError as exc:
        return trainer, exc
    return trainer, None


def reference_params(family, make, epochs, batch_size=None):
    component = make(NEVER)
    layers = [2, 3, 2] if isinstance(component, Softmax) else [2, 3, 1]
    opts = options_for(family, component, batch_size)
    opts["max_epochs"] = epochs
    return Trainer(layers, plugins=[Plugin(family, component)], **opts).fit(
        *data_for(component)).params


COMPONENT_FAULTS = [
    # family, method, kind, how to build it, words naming what was wrong
    ("activations", "forward", "raise", Sigmoid, "raised RuntimeError: boom"),
    ("activations", "forward", "none", Sigmoid, "returned None"),
    ("activations", "forward", "scalar", Sigmoid, "returned the scalar 0.5"),
    ("activations", "forward", "shape", Sigmoid, "returned shape (1, 3)"),
    ("activations", "forward", "dtype", Sigmoid, "returned float32 values in a float64 run"),
    ("activations", "forward", "nan", Sigmoid, "NaN or infinite values for finite input"),
    ("activations", "forward", "string", Sigmoid, "returned a str"),
    ("activations", "derivative", "raise", Sigmoid, "raised RuntimeError: boom"),
    ("activations", "derivative", "none", Sigmoid, "returned None"),
    ("activations", "derivative", "shape", Sigmoid, "returned shape (1, 3)"),
    ("activations", "derivative", "nan", Sigmoid, "NaN or infinite values"),
    ("activations", "vjp", "raise", Softmax, "raised RuntimeError: boom"),
    ("activations", "vjp", "shape", Softmax, "returned shape (1, 2)"),
    ("activations", "vjp", "none", Softmax, "returned None"),
    ("losses", "value", "raise", HalfSquares, "raised RuntimeError: boom"),
    ("losses", "value", "string", HalfSquares, "returned a str; a loss value is one real"),
    ("losses", "value", "vector", HalfSquares, "a loss value is one real number"),
    ("losses", "value", "none", HalfSquares, "returned None"),
    ("losses", "value", "bool", HalfSquares, "a loss value is one real number"),
    ("losses", "gradient", "raise", HalfSquares, "raised RuntimeError: boom"),
    ("losses", "gradient", "none", HalfSquares, "returned None"),
    ("losses", "gradient", "shape", HalfSquares, "returned shape (1, 1)"),
    ("losses", "gradient", "dtype", HalfSquares, "returned float32 values"),
    ("losses", "value_and_gradient", "tuple", PairLoss, "it must return (value, gradient)"),
    ("losses", "value_and_gradient", "raise", PairLoss, "raised RuntimeError: boom"),
]


def _maker(cls, method, kind):
    return lambda start: cls(method, kind, start)


@pytest.mark.parametrize("family, method, kind, cls, words", COMPONENT_FAULTS,
                         ids=[f"{m}-{k}" for _, m, k, _, _ in COMPONENT_FAULTS])
def test_the_probe_refuses_a_broken_component_before_the_first_epoch(family, method, kind,
                                                                     cls, words):
    trainer, err = run(family, _maker(cls, method, kind), start=0)
    assert err is not None, "no PluginError"
    message = str(err)
    assert "plugin 'faulty-plugin'" in message and "before the first epoch" in message
    assert f"{method}()" in message and words in message, message
    assert err.plugin == "faulty-plugin" and err.epoch == 0
    assert trainer.result is None  # nothing ran


# "shape": a (1, k) row would broadcast over the batch; the loop refuses it mid-run
MIDRUN = [f for f in COMPONENT_FAULTS if f[2] in ("raise", "none", "string", "tuple", "shape")]


@pytest.mark.parametrize("batch_size", [None, 2])
@pytest.mark.parametrize("family, method, kind, cls, words", MIDRUN,
                         ids=[f"{m}-{k}" for _, m, k, _, _ in MIDRUN])
def test_a_fault_in_epoch_3_stops_the_run_keeping_epoch_2(family, method, kind, cls, words,
                                                          batch_size):
    make = _maker(cls, method, kind)
    trainer, err = run(family, make, start=3, batch_size=batch_size)
    assert err is not None, "no PluginError"
    message = str(err)
    assert "plugin 'faulty-plugin'" in message and "in epoch 3" in message, message
    assert f"{method}()" in message and err.epoch == 3
    if kind == "raise":
        assert isinstance(err.__cause__, RuntimeError) and "boom" in message
    elif kind == "shape":  # refused by the loop's copy (whichever layer comes first)
        assert "returned shape (1, " in message and "during the run" in message, message
    else:  # the loop choked on what came back; the probe, run again, names why
        assert err.__cause__ is not None and words in message, message
    result = trainer.result
    assert result.stop_reason == "error" and result.epochs == 2
    assert params_equal(result.params, reference_params(family, make, 2, batch_size))


OPTIMIZER_FAULTS = [
    ("step", "raise", 0, "step() raised RuntimeError: boom"),
    ("step", "nan", 0, "left NaN or infinite parameters"),
    ("step", "grads", 0, "modified the gradients"),
    ("step", "rebind", 0, "replaced the parameter array"),
    ("__init__", "raise", 0, "(building the optimizer) raised RuntimeError: cannot build"),
    ("step", "raise", 3, "in epoch 3: optimizer 'faulty_sgd'.step() raised RuntimeError"),
]


@pytest.mark.parametrize("method, kind, start, words", OPTIMIZER_FAULTS)
def test_optimizer_faults(method, kind, start, words):
    make = lambda s: optimizer_class(method, kind, s)  # noqa: E731
    trainer, err = run("optimizers", make, start=start)
    assert err is not None and words in str(err), err
    assert "plugin 'faulty-plugin'" in str(err)
    if start:
        assert trainer.result.stop_reason == "error" and trainer.result.epochs == 2
        assert params_equal(trainer.result.params,
                            reference_params("optimizers", make, 2))


@pytest.mark.parametrize("kind, words", [
    ("raise", "call raised RuntimeError: no init"),
    ("shape", "returned parameters that do not fit layers=[2, 3, 1]"),
    ("nan", "contains NaN or infinite values"),
])
def test_initializer_faults(kind, words):
    trainer, err = run("initializers", lambda s: initializer(kind), start=0)
    assert err is not None and words in str(err) and "before the first epoch" in str(err)
    assert "initializer 'faulty_init'" in str(err)


def test_a_component_given_in_code_is_named_as_such():
    bad = Sigmoid("forward", "raise", 3)
    clock = Plugin()  # no component: only the clock
    clock.component = bad
    trainer = Trainer([2, 3, 1], activation=bad, max_epochs=5, seed=0, plugins=[clock])
    with pytest.raises(PluginError, match=r"activation 'faulty_sigmoid' \(given in code\) "
                                          "failed in epoch 3: forward"):
        trainer.fit(*xor())


def test_check_targets_raising_something_else():
    class Picky(HalfSquares):
        name = "picky"

        def check_targets(self, y):
            raise KeyError("which?")

    with pytest.raises(PluginError, match="check_targets.. raised KeyError"):
        Trainer([2, 3, 1], loss="picky", plugins=[Plugin("losses", Picky())]).fit(*xor())


# -- hooks ----------------------------------------------------------------------------------


def hook_plugin(hook, behaviour, at_epoch=3):
    class Hooked:
        name = "hooked"

        def __init__(self):
            self.calls = 0

    def act(self, state):
        if state.epoch >= at_epoch or hook in ("deltarule_train_start",
                                               "deltarule_train_end"):
            if behaviour == "raise":
                raise ValueError("hook bug")
            return behaviour
        return None

    setattr(Hooked, hook, deltarule.hookimpl(act))
    return Hooked()


@pytest.mark.parametrize("answer", [False, 42, True, "", b"x", ["x"], 0.0])
def test_a_stop_answer_must_be_none_or_a_reason(answer):
    trainer = Trainer([2, 3, 1], max_epochs=6, seed=0,
                      plugins=[hook_plugin("deltarule_stop", answer)])
    with pytest.raises(PluginError) as info:
        trainer.fit(*xor())
    message = str(info.value)
    assert "plugin 'hooked'" in message and "deltarule_stop() returned" in message
    assert repr(answer) in message and "in epoch 3" in message
    assert trainer.result.stop_reason == "error" and trainer.result.epochs == 3


def test_a_stop_answer_is_checked_through_pluggy_too():
    class Wrapper:
        name = "wrapping"

        @deltarule.hookimpl(wrapper=True)
        def deltarule_stop(self, state):
            return (yield)

    trainer = Trainer([2, 3, 1], max_epochs=6, seed=0,
                      plugins=[hook_plugin("deltarule_stop", False), Wrapper()])
    with pytest.raises(PluginError, match="deltarule_stop.. returned False"):
        trainer.fit(*xor())


@pytest.mark.parametrize("hook, epoch, epochs_kept", [
    ("deltarule_stop", 3, 2),
    ("deltarule_epoch_end", 3, 3),
    ("deltarule_train_start", 0, 0),
    ("deltarule_train_end", 6, 6),
])
def test_a_hook_that_raises(hook, epoch, epochs_kept):
    trainer = Trainer([2, 3, 1], max_epochs=6, seed=0, plugins=[hook_plugin(hook, "raise")])
    with pytest.raises(PluginError) as info:
        trainer.fit(*xor())
    err = info.value
    assert f"plugin 'hooked' (user) failed" in str(err) and f"{hook}()" in str(err)
    assert "raised ValueError: hook bug" in str(err) and err.epoch == epoch
    assert isinstance(err.__cause__, ValueError)
    assert trainer.result.stop_reason == "error"
    # a failing stop criterion leaves its epoch's parameters (history has it); the
    # params kept are those of the last epoch recorded
    assert trainer.result.epochs in (epochs_kept, epochs_kept + 1)
    honest = deltarule.train(*xor(), layers=[2, 3, 1], max_epochs=trainer.result.epochs,
                             seed=0) if trainer.result.epochs else None
    if honest is not None:
        assert params_equal(trainer.result.params, honest.params)


def test_a_catalogue_hook_that_raises():
    class Broken:
        name = "broken"

        @deltarule.hookimpl
        def deltarule_activations(self):
            raise OSError("disk")

    with pytest.raises(PluginError, match="plugin 'broken'.*deltarule_activations.*OSError"):
        Trainer([2, 3, 1], plugins=[Broken()])


def test_one_plugin_giving_two_components_of_one_name():
    class Twice:
        name = "twice"

        @deltarule.hookimpl
        def deltarule_activations(self):
            return [Sigmoid(), Sigmoid()]

    with pytest.raises(deltarule.ComponentClashError) as info:
        Trainer([2, 3, 1], plugins=[Twice()])
    assert "plugin 'twice'" in str(info.value) and "two activations named" in str(info.value)
    assert str(info.value).count("twice") == 1


# -- plugin modules that fail to import -----------------------------------------------------------


@pytest.mark.parametrize("source, words", [
    ("raise RuntimeError('import-time bug')", "RuntimeError: import-time bug"),
    ("def broken(:\n    pass", "SyntaxError"),
    ("import sys\nsys.exit(3)", "SystemExit: 3"),
    ("1 / 0", "ZeroDivisionError: division by zero"),
    ("import deltarule_no_such_dependency", "cannot import plugin module"),
])
def test_plugin_modules_that_fail_to_import(tmp_path, monkeypatch, capsys, source, words):
    name = f"badplugin_{abs(hash(source)) % 10**8}"
    (tmp_path / f"{name}.py").write_text(source + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    status, out, err = cli(capsys, "train", "xor", "--plugin", f"{name}:plugin")
    assert_one_line_error(status, err, name, words)
    assert out == ""
    sys.modules.pop(name, None)


# -- through the command line: the report, the one line, the model saved ----------------------------


PLUGIN_MODULE = textwrap.dedent('''
    import numpy as np
    import deltarule

    class Sigmoid:
        name = "cli_faulty"
        epoch = 0

        def forward(self, z):
            if self.epoch >= 2:
                raise RuntimeError("forward broke")
            return 1.0 / (1.0 + np.exp(-z))

        def derivative(self, z, a):
            return a * (1.0 - a)

    class Plugin:
        name = "cli-faulty"

        def __init__(self):
            self.component = Sigmoid()

        @deltarule.hookimpl
        def deltarule_activations(self):
            return [self.component]

        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            self.component.epoch = state.epoch

    plugin = Plugin()

    class Never:
        name = "never-faulty"

        @deltarule.hookimpl
        def deltarule_activations(self):
            return [Sigmoid()]

    never = Never()
''')


@pytest.fixture
def faulty_module(tmp_path, monkeypatch):
    name = "cli_faulty_plugin"
    (tmp_path / f"{name}.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.mark.parametrize("flags", [[], ["--json"], ["--traceback"]])
def test_the_command_line_saves_the_last_good_epoch_and_says_so(tmp_path, capsys,
                                                               faulty_module, flags):
    saved = tmp_path / "m.npz"
    status, out, err = cli(capsys, "train", "xor", "--activation", "cli_faulty", "--seed",
                           "0", "--epochs", "10", "--plugin", f"{faulty_module}:plugin",
                           "--save", saved, *flags)
    words = ("plugin 'cli-faulty'", "in epoch 3", "activation 'cli_faulty'.forward() "
             "raised RuntimeError: forward broke", f"the parameters of epoch 2 are kept and "
             f"saved to {saved}")
    if "--traceback" in flags:  # the whole chain first, then the one line
        head, line = err.rstrip("\n").rsplit("\n", 1)
        assert "Traceback" in head and 'raise RuntimeError("forward broke")' in head
        assert status == 2 and all(w in line for w in words), line
    else:
        assert_one_line_error(status, err, *words)
    assert "stop reason  error" in out or '"stop_reason": "error"' in out
    reference = deltarule.train(*xor(), layers=[2, 3, 1], max_epochs=2, seed=0,
                                activation="cli_faulty",
                                plugins=[f"{faulty_module}:never"])
    loaded = deltarule.load(saved, plugins=[f"{faulty_module}:never"])
    assert params_equal(loaded.params, reference.params)


def test_the_command_line_with_a_probe_failure_trains_nothing(tmp_path, capsys):
    bad = tmp_path / "probe_fail.py"
    bad.write_text(textwrap.dedent('''
        import deltarule

        class Half:
            name = "half"
            def forward(self, z):
                return z[:1]
            def derivative(self, z, a):
                return a

        class Plugin:
            @deltarule.hookimpl
            def deltarule_activations(self):
                return [Half()]

        plugin = Plugin()
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        status, out, err = cli(capsys, "train", "xor", "--activation", "half", "--plugin",
                               "probe_fail:plugin", "--save", tmp_path / "m.npz")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("probe_fail", None)
    assert_one_line_error(status, err, "before the first epoch",
                          "forward() returned shape (1, 3)")
    assert out == "" and not (tmp_path / "m.npz").exists()


def test_predict_refuses_an_activation_that_changes_the_shape(tmp_path, capsys):
    half = tmp_path / "half_at_predict.py"
    half.write_text(textwrap.dedent('''
        import numpy as np
        import deltarule

        class Sigmoid:
            name = "halving"
            training = True

            def forward(self, z):
                a = 1.0 / (1.0 + np.exp(-z))
                return a if Sigmoid.training else a[:1]

            def derivative(self, z, a):
                return a * (1.0 - a)

        class Plugin:
            @deltarule.hookimpl
            def deltarule_activations(self):
                return [Sigmoid()]

        plugin = Plugin()
    '''))
    sys.path.insert(0, str(tmp_path))
    try:
        import half_at_predict

        result = deltarule.train(*xor(), activation="halving", max_epochs=5, seed=0,
                                 plugins=["half_at_predict:plugin"])
        deltarule.save(result, tmp_path / "m.npz")
        half_at_predict.Sigmoid.training = False
        with pytest.raises(PluginError, match=r"'halving'.forward\(\) \(layer 1\) returned "
                                              r"shape \(1, 3\) for input of shape \(4, 3\)"):
            result.predict(xor()[0])
        status, out, err = cli(capsys, "predict", tmp_path / "m.npz", "xor", "--plugin",
                               "half_at_predict:plugin")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("half_at_predict", None)
    assert_one_line_error(status, err, "returned shape (1, 3)")
    assert out == ""

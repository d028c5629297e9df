"""train_many: grids, results, the per-model fallback, stop answers, Ctrl-C."""

import math

import numpy as np
import pytest

import deltarule
from deltarule import ConfigError, PluginError
from deltarule.datasets import xor
from deltarule.hookspecs import hookimpl
from deltarule.many import parse_seeds, wilson_interval
from deltarule.stacked import ManyState, ModelView, PerModelWarning

X, Y = xor()


def same(a, b):
    assert a.stop_reason == b.stop_reason and a.epochs == b.epochs
    for (W, bb), (W1, b1) in zip(a.params, b.params):
        np.testing.assert_allclose(W, W1, rtol=0, atol=1e-12)
        np.testing.assert_allclose(bb, b1, rtol=0, atol=1e-12)


# ------------------------------------------------------------ third-party components
class PlainSwish:
    """An activation that does not declare the model axis (2-D only, no out=)."""

    name = "plain_swish"

    def forward(self, z):
        assert z.ndim == 2
        return z / (1 + np.exp(-z))

    def derivative(self, z, a):
        assert z.ndim == 2
        s = 1 / (1 + np.exp(-z))
        return s + a * (1 - s)


class PlainMSE:
    name = "plain_mse"

    def value(self, y, y_hat):
        assert y_hat.ndim == 2
        return 0.5 * float(np.sum((y_hat - y) ** 2))

    def gradient(self, y, y_hat):
        return y_hat - y


class PlainSGD:
    name = "plain_sgd"

    def __init__(self, lr=0.1):
        self.lr = lr

    def step(self, params, grads):
        for p, g in zip(params, grads):
            assert p.ndim == 1
            p -= self.lr * g


class LossBelow:
    """A stop criterion without the model axis: called once per model."""

    name = "loss-below"

    def __init__(self):
        self.seen = []

    @hookimpl
    def deltarule_stop(self, state):
        self.seen.append(type(state))
        return "low" if state.loss < 0.2 else None


def test_components_without_the_model_axis_run_once_per_model_and_agree():
    stop = LossBelow()
    options = dict(activation=PlainSwish(), loss=PlainMSE(), optimizer=PlainSGD,
                   max_epochs=300, entry_points=False)
    with pytest.warns(PerModelWarning) as caught:
        many = deltarule.train_many(X, Y, seeds=[0, 1, 2], lr=[0.05, 0.2],
                                    plugins=[stop], **options)
    notes = " ".join(str(w.message) for w in caught)
    for name in ("plain_swish", "plain_mse", "plain_sgd", "loss-below"):
        assert name in notes
    assert len(many.notes) == 4
    assert set(stop.seen) == {ModelView}
    for spec, got in zip(many.specs, many.results):
        single = deltarule.train(X, Y, seed=spec.seed, plugins=[LossBelow()],
                                 **spec.settings, **options)
        same(got, single)
    assert {r.stop_reason for r in many} >= {"low"}


def test_bundled_components_give_no_note():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        many = deltarule.train_many(X, Y, seeds=2, max_epochs=5, entry_points=False)
    assert many.notes == []


# ------------------------------------------------------------ model-axis plugins
class Vectorised:
    """A model-axis stop criterion and observer."""

    name = "vectorised"
    model_axis = True

    def __init__(self, answer):
        self.answer = answer
        self.states = []
        self.actives = []
        self.ends = 0

    @hookimpl
    def deltarule_stop(self, state):
        self.states.append(state)
        self.actives.append(state.active.copy())
        return self.answer(state)

    @hookimpl
    def deltarule_train_end(self, state):
        self.ends += 1


def test_a_model_axis_criterion_sees_one_state_per_epoch():
    plugin = Vectorised(lambda s: np.where(s.seeds == 1, "one", None)
                        if s.epoch == 7 else None)
    many = deltarule.train_many(X, Y, seeds=[0, 1, 2], max_epochs=20, plugins=[plugin],
                                entry_points=False)
    assert [r.stop_reason for r in many] == ["max_epochs", "one", "max_epochs"]
    assert [r.epochs for r in many] == [20, 7, 20]
    state = plugin.states[-1]
    assert isinstance(state, ManyState) and state.models == 3 and len(plugin.states) == 20
    assert state.loss.shape == (3,) and state.history.shape == (3, 20)
    assert state.params[0][0].shape == (3, 2, 3) and state.grad_norm.shape == (3,)
    assert plugin.actives[-1].tolist() == [True, False, True]
    assert plugin.actives[6].tolist() == [True] * 3 and not state.active.any()
    assert plugin.ends == 1
    # the stopped model is frozen: the state shows the parameters it stopped with
    np.testing.assert_array_equal(state.params[0][0][1], many[1].params[0][0])


def test_a_string_answer_stops_every_model_still_training():
    plugin = Vectorised(lambda s: "all" if s.epoch == 3 else None)
    many = deltarule.train_many(X, Y, seeds=4, plugins=[plugin], entry_points=False)
    assert {(r.stop_reason, r.epochs) for r in many} == {("all", 3)}


def test_a_malformed_answer_is_a_plugin_error():
    plugin = Vectorised(lambda s: ["x", None])  # 2 answers for 3 models
    with pytest.raises(PluginError, match="3 entries"):
        deltarule.train_many(X, Y, seeds=3, plugins=[plugin], entry_points=False)


# ------------------------------------------------------------ results
def test_table_and_summary():
    many = deltarule.train_many(X, Y, seeds=range(8), lr=[0.5, 2.0], max_epochs=3000,
                                target_loss=0.005, entry_points=False)
    table = many.table()
    assert len(table) == 16 and table[9]["lr"] == 2.0 and table[9]["seed"] == 1
    assert set(table[0]) == {"index", "seed", "lr", "stop_reason", "epochs",
                             "final_loss", "converged"}
    for row, r in zip(table, many):
        assert row["converged"] == (r.stop_reason == "target_loss")
    rows = many.summary(confidence=0.99)
    assert [r["settings"] for r in rows] == [{"lr": 0.5}, {"lr": 2.0}]
    for row in rows:
        k, n = row["converged"], row["finished"]
        assert n == 8 and row["rate"] == k / n
        assert (row["rate_low"], row["rate_high"]) == wilson_interval(k, n, 0.99)
        epochs = [r.epochs for r in many if r.settings == row["settings"]
                  and r.stop_reason == "target_loss"]
        if epochs:
            assert row["epochs_median"] == np.median(epochs)


def test_converged_may_be_a_predicate():
    many = deltarule.train_many(X, Y, seeds=3, max_epochs=10, entry_points=False,
                                converged=lambda r: r.seed != 1)
    assert [row["converged"] for row in many.table()] == [True, False, True]


def test_wilson_interval():
    low, high = wilson_interval(197, 200, 0.99)
    assert 0.94 < low < 0.985 < high < 1
    assert wilson_interval(0, 10)[0] == 0 and wilson_interval(10, 10)[1] == 1
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    # a known value: 8 of 10 at 95 %: (0.4902, 0.9433)
    low, high = wilson_interval(8, 10)
    assert abs(low - 0.4902) < 1e-4 and abs(high - 0.9433) < 1e-4


def test_a_model_result_saves_and_loads(tmp_path):
    many = deltarule.train_many(X, Y, seeds=2, max_epochs=5, entry_points=False)
    many[1].save(tmp_path / "m.npz")
    net = deltarule.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(net.predict(X), many[1].predict(X))
    assert isinstance(many[1].loss, float) and many[1].epochs == 5


# ------------------------------------------------------------ options
def test_seeds_and_grids_are_checked():
    with pytest.raises(ConfigError, match="seeds"):
        deltarule.train_many(X, Y, seeds=[0, -1])
    with pytest.raises(ConfigError, match="seeds"):
        deltarule.train_many(X, Y, seeds=0)
    with pytest.raises(ConfigError, match="not seed="):
        deltarule.train_many(X, Y, seeds=2, seed=3)
    with pytest.raises(ConfigError, match="lr"):
        deltarule.train_many(X, Y, seeds=2, lr=[0.1, -1.0])
    with pytest.raises(ConfigError, match="lr"):
        deltarule.train_many(X, Y, seeds=2, lr=[])
    with pytest.raises(ConfigError, match="unknown training option"):
        deltarule.train_many(X, Y, seeds=2, learning_rat=[0.1, 0.2])


def test_parse_seeds():
    assert parse_seeds("0-3,7, 9-10") == [0, 1, 2, 3, 7, 9, 10]
    for bad in ("3-1", "a", "-2", ""):
        with pytest.raises(ConfigError):
            parse_seeds(bad)


def test_the_trainer_method_behind_it():
    trainer = deltarule.Trainer([2, 3, 1], max_epochs=50, entry_points=False)
    many = trainer.fit_many(X, Y, seeds=[4, 5], grid={"lr": [0.1, 0.3]})
    assert [(r.seed, r.settings) for r in many] == [
        (4, {"lr": 0.1}), (5, {"lr": 0.1}), (4, {"lr": 0.3}), (5, {"lr": 0.3})]
    same(many[3], deltarule.Trainer([2, 3, 1], max_epochs=50, lr=0.3, seed=5,
                                    entry_points=False).fit(X, Y))


# ------------------------------------------------------------ Ctrl-C
class Interrupt:
    name = "interrupt"
    model_axis = True

    @hookimpl
    def deltarule_epoch_end(self, state):
        if state.epoch == 30:
            raise KeyboardInterrupt


def test_ctrl_c_keeps_what_finished():
    done = []
    many = deltarule.train_many(X, Y, seeds=3, max_epochs=[10, 100, 200],
                                plugins=[Interrupt()], entry_points=False,
                                on_done=done.append)
    assert many.interrupted
    reasons = [r.stop_reason for r in many]
    assert reasons[:3] == ["max_epochs"] * 3 and reasons[3:] == ["interrupted"] * 6
    assert [r.epochs for r in many][3:] == [30] * 6
    assert sum(done) == 3  # models that finished
    rows = many.summary()
    assert rows[0]["finished"] == 3 and rows[1]["finished"] == 0


# ------------------------------------------------------------ stacks of bounded size
def test_stack_size_follows_the_bytes_a_step_touches():
    from deltarule.stacked import STACK_BYTES, stack_size, step_bytes

    # XOR 2-3-1, 4 shared rows: 13 parameters and gradients, z a g d for 4 units
    assert step_bytes([2, 3, 1], 4, 8, gathered=False) == 8 * (2 * 13 + 4 * 4 * 4)
    assert step_bytes([2, 3, 1], 4, 8, gathered=True) == 8 * (2 * 13 + 4 * 4 * 4 + 4 * 3)
    assert stack_size([2, 3, 1], 4, 8, gathered=False) == STACK_BYTES // 720
    # digits 64-128-10, 32 rows: a few models per stack; float32 fits twice as many
    f64 = stack_size([64, 128, 10], 32, 8, gathered=True)
    assert 2 <= f64 <= 16
    assert stack_size([64, 128, 10], 32, 4, gathered=True) in (2 * f64, 2 * f64 + 1)
    assert stack_size([64, 128, 10], 1438, 8, gathered=False) == 1  # never 0
    assert stack_size([2, 3, 1], 4, 8, gathered=False, budget=2000) == 2


class CountStacks:
    name = "count_stacks"
    model_axis = True

    def __init__(self):
        self.sizes = []

    @hookimpl
    def deltarule_train_start(self, state):
        self.sizes.append(state.models)


@pytest.mark.filterwarnings("ignore")  # the single runs' convergence notes
def test_models_split_into_several_stacks_equal_their_single_runs(monkeypatch):
    from deltarule import stacked

    monkeypatch.setattr(stacked, "STACK_BYTES", 3 * 720)  # stacks of 3 XOR models
    counter = CountStacks()
    many = deltarule.train_many(X, Y, seeds=range(8), lr=0.5, max_epochs=300,
                                target_loss=0.05, plugins=[counter], entry_points=False)
    assert counter.sizes == [3, 3, 2]
    for seed, got in zip(range(8), many):
        same(got, deltarule.train(X, Y, lr=0.5, max_epochs=300, target_loss=0.05,
                                  seed=seed, entry_points=False))


def test_ctrl_c_in_one_stack_leaves_the_later_stacks_not_run(monkeypatch):
    from deltarule import stacked

    monkeypatch.setattr(stacked, "STACK_BYTES", 3 * 720)
    many = deltarule.train_many(X, Y, seeds=range(8), max_epochs=100,
                                plugins=[Interrupt()], entry_points=False)
    assert many.interrupted
    assert [r is None for r in many] == [False] * 3 + [True] * 5
    assert [r.stop_reason for r in many[:3]] == ["interrupted"] * 3
    rows = many.table()
    assert [row["stop_reason"] for row in rows[3:]] == ["not run"] * 5
    assert many.summary()[0]["finished"] == 0

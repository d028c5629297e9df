"""Embedding deltarule (issue 12): results, model files, warnings, Ctrl-C, messages."""

from __future__ import annotations

import json
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest

import deltarule
from deltarule import (
    ClassTargetWarning,
    ConfigError,
    ConvergenceWarning,
    DeltaRuleWarning,
    DivergenceWarning,
    ModelFileError,
    SaturationWarning,
    Trainer,
)
from deltarule.io.npz import META_KEY
from deltarule.preprocessing import Scaler


def moons(n=200, seed=0):
    rng = np.random.default_rng(seed)
    t = rng.uniform(0, np.pi, n)
    upper = rng.random(n) < 0.5
    X = np.where(upper[:, None], np.column_stack([np.cos(t), np.sin(t)]),
                 np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    X = X + rng.normal(scale=0.2, size=X.shape)
    return X, upper.astype(float).reshape(-1, 1)


# -- results -----------------------------------------------------------------

@pytest.mark.parametrize("validation", [False, True])
def test_the_loss_reported_is_that_of_the_parameters_returned(validation):
    """Bug 5: with patience restoring the best parameters, result.loss was the
    last epoch's."""
    X, y = moons()
    opts = dict(layers=[2, 8, 1], lr=2.0, max_epochs=3000, patience=5, batch_size=16,
                seed=0, loss=("mse", {"reduction": "mean"}))
    r = deltarule.train(X, y, validation_split=0.3 if validation else None, **opts)
    assert r.stop_reason == "patience"
    assert r.loss != r.history[-1]  # the best parameters were put back
    trainer = Trainer(validation_split=0.3 if validation else None, **opts)
    rows = slice(None)
    if validation:
        trainer.fit(X, y)
        rows, va = trainer.validation_rows
        assert r.val_loss == pytest.approx(min(r.val_history), rel=1e-12)
        mse = 0.5 * np.mean(np.sum((r.predict(X[va]) - y[va]) ** 2, axis=1))
        assert r.val_loss == pytest.approx(mse, rel=1e-12)
    mse = 0.5 * np.mean(np.sum((r.predict(X[rows]) - y[rows]) ** 2, axis=1))
    assert r.loss == pytest.approx(mse, rel=1e-12)


def test_val_loss_and_val_history():
    X, y = moons()
    r = deltarule.train(X, y, layers=[2, 4, 1], max_epochs=20, seed=1)
    assert r.val_loss is None and r.val_history == []
    r = deltarule.train(X, y, layers=[2, 4, 1], max_epochs=20, seed=1, validation_split=0.25)
    assert len(r.val_history) == 20 and r.val_loss == r.val_history[-1]
    assert r.loss == r.history[-1]


def test_training_and_validation_losses_are_on_one_scale():
    """The summed mse of 150 training rows against 50 validation rows looked 3×
    better on validation; the validation loss is now on the training scale."""
    X, y = moons()
    trainer = Trainer([2, 6, 1], lr=1e-300, max_epochs=1, seed=2, validation_split=0.25)
    r = trainer.fit(X, y)
    tr, va = trainer.validation_rows
    per_row = lambda rows: 0.5 * np.sum((r.predict(X[rows]) - y[rows]) ** 2) / len(rows)
    assert r.history[0] == pytest.approx(per_row(tr) * len(tr), rel=1e-9)
    assert r.val_history[0] == pytest.approx(per_row(va) * len(tr), rel=1e-9)


def test_state_predict_gives_observers_the_live_network():
    X, y = moons(60)
    seen = []

    class Watch:
        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            seen.append(state.predict(X[:5]))

    r = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=4, seed=0, plugins=[Watch()])
    assert len(seen) == 4 and seen[0].shape == (5, 1)
    np.testing.assert_array_equal(seen[-1], r.predict(X[:5]))
    assert not np.array_equal(seen[0], seen[-1])


def test_save_returns_the_path_everywhere_and_load_none_is_clear(tmp_path):
    """Bug 4."""
    X, y = moons(40)
    r = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=2, seed=0)
    assert r.save(tmp_path / "a") == tmp_path / "a.npz"
    assert deltarule.save(r, tmp_path / "b.npz") == tmp_path / "b.npz"
    assert deltarule.save(r.network, tmp_path / "c") == tmp_path / "c.npz"
    with pytest.raises(ModelFileError, match="load\\(\\) needs the path of a model file"):
        deltarule.load(None)
    with pytest.raises(ConfigError, match="needs the path"):
        deltarule.save(r, None)


# -- Ctrl-C --------------------------------------------------------------------

class StopAt:
    """Raises KeyboardInterrupt at the end of epoch ``n`` (as Ctrl-C would)."""

    def __init__(self, n):
        self.n = n

    @deltarule.hookimpl
    def deltarule_epoch_end(self, state):
        if state.epoch == self.n:
            raise KeyboardInterrupt


def test_ctrl_c_in_a_library_call_keeps_the_result_and_reraises():
    X, y = moons(40)
    trainer = Trainer([2, 3, 1], max_epochs=1000, seed=0, plugins=[StopAt(7)])
    with pytest.raises(KeyboardInterrupt):
        trainer.fit(X, y)
    r = trainer.result
    assert r.stop_reason == "interrupted" and r.epochs == 7
    ref = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=7, seed=0)
    np.testing.assert_array_equal(r.network.theta, ref.network.theta)
    # a script of several trainings stops as a whole
    done = []
    with pytest.raises(KeyboardInterrupt):
        for seed in range(3):
            deltarule.train(X, y, layers=[2, 3, 1], max_epochs=50, seed=seed,
                            plugins=[StopAt(3)])
            done.append(seed)
    assert done == []


def test_ctrl_c_on_the_command_line_still_saves_and_exits_130(tmp_path, monkeypatch, capsys):
    from deltarule.cli import main

    (tmp_path / "stopper.py").write_text(
        "import deltarule\n"
        "class S:\n"
        "    @deltarule.hookimpl\n"
        "    def deltarule_epoch_end(self, state):\n"
        "        if state.epoch == 5:\n"
        "            raise KeyboardInterrupt\n"
        "plugin = S()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    model = tmp_path / "m.npz"
    assert main(["train", "xor", "--plugin", "stopper:plugin", "--save", str(model),
                 "--seed", "0"]) == 130
    out, err = capsys.readouterr()
    assert "stop reason  interrupted" in out and "interrupted after 5 epoch(s)" in err
    assert deltarule.load(model).layers == (2, 3, 1)


# -- warnings ------------------------------------------------------------------

def test_warnings_are_one_family():
    for cls in (DivergenceWarning, SaturationWarning, ClassTargetWarning, ConvergenceWarning,
                deltarule.PluginShadowWarning):
        assert issubclass(cls, DeltaRuleWarning) and issubclass(cls, UserWarning)


def test_class_labels_without_class_handling_warn():
    """Labels 0/1/2 on the default sigmoid output: loss 50 and no hint before."""
    X, _ = moons(60)
    labels = np.arange(60) % 3
    with pytest.warns(ClassTargetWarning, match=r"3 whole-number values \(0, 1, 2\).*"
                                                r"one-hot encode them \(np.eye\(3\)"):
        deltarule.train(X, labels, max_epochs=3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeltaRuleWarning)
        # one-hot with softmax: no warning; numbers on an identity output: none either
        deltarule.train(X, np.eye(3)[labels], layers=[2, 3, 3], activation=["sigmoid", "softmax"],
                        loss="cross_entropy", max_epochs=3, seed=0)
        deltarule.train(X, labels, activation=["sigmoid", "identity"], lr=0.01, max_epochs=3,
                        seed=0)


def test_a_huge_learning_rate_saturates_and_warns():
    X, y = moons(60)
    with pytest.warns(SaturationWarning, match="same output .* for every row"):
        r = deltarule.train(X, y, lr=1e6, max_epochs=50, seed=0)
    assert r.stop_reason == "max_epochs"


def test_divergence_warns_in_the_library():
    X, y = moons(60)
    with pytest.warns(DivergenceWarning, match="non-finite at epoch"):
        r = deltarule.train(1e3 * X, 1e3 * y, activation=["tanh", "identity"], lr=10.0,
                            max_epochs=500, seed=0)
    assert r.stop_reason == "diverged" and np.isfinite(r.network.theta).all()
    assert np.isfinite(r.loss)  # the loss of the finite parameters kept


def test_no_convergence_warns_only_while_the_loss_still_falls():
    X, y = moons(60)
    with pytest.warns(ConvergenceWarning, match="still falling"):
        deltarule.train(X, y, layers=[2, 4, 1], lr=0.01, max_epochs=100, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        deltarule.train(X, y, layers=[2, 4, 1], lr=0.01, max_epochs=5, seed=0)  # too short
        deltarule.train(X, y, layers=[2, 4, 1], lr=0.01, max_epochs=100, seed=0,
                        target_loss=1e9)  # stopped by a criterion


def test_warnings_can_be_silenced_as_a_family():
    X, y = moons(60)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.simplefilter("ignore", DeltaRuleWarning)
        deltarule.train(X, y, lr=1e6, max_epochs=50, seed=0)
    assert not caught


def test_the_cli_prints_warnings_as_notes(tmp_path, capsys):
    from deltarule.cli import main

    path = tmp_path / "d.csv"
    path.write_text("a,b,y\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(40)))
    assert main(["train", str(path), "--target", "y", "--lr", "1e6", "--epochs", "30",
                 "--seed", "0"]) == 0
    err = capsys.readouterr().err
    assert "deltarule: note: the network gives the same output" in err
    assert "Warning" not in err


# -- model files ----------------------------------------------------------------

def test_model_files_keep_classes_scaler_and_names(tmp_path):
    X, y = moons(80)
    r = deltarule.train(X, y, layers=[2, 4, 1], max_epochs=5, seed=0)
    net = r.network
    net.scaler = Scaler.fit(X, "minmax")
    net.classes = np.array(["no", "yes"])
    net.feature_names = ("x", "y")
    net.target_names = ("label",)
    path = r.save(tmp_path / "m")
    meta = json.loads(np.load(path)[META_KEY].tobytes())
    assert meta["format_version"] == 2
    assert meta["classes"] == ["no", "yes"] and meta["feature_names"] == ["x", "y"]
    assert meta["scaler"]["kind"] == "minmax" and len(meta["scaler"]["offset"]) == 2
    back = deltarule.load(path)
    assert list(back.classes) == ["no", "yes"] and back.target_names == ("label",)
    assert back.scaler == net.scaler
    np.testing.assert_array_equal(back.predict(X), net.predict(X))
    np.testing.assert_array_equal(back.predict(X), net.forward(net.scaler.transform(X)))
    assert list(back.predict_labels(X[:3])) == list(
        np.where(net.predict(X[:3])[:, 0] > 0.5, "yes", "no"))
    for copy in (net.copy(), pickle.loads(pickle.dumps(net))):
        assert list(copy.classes) == ["no", "yes"] and copy.scaler == net.scaler


def test_version_1_model_files_still_load(tmp_path):
    X, y = moons(40)
    r = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=3, seed=0)
    path = r.save(tmp_path / "v2.npz")
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(arrays[META_KEY].tobytes())
    meta["format_version"] = 1
    for key in ("scaler", "classes", "feature_names", "target_names"):
        meta.pop(key, None)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    old = tmp_path / "v1.npz"
    np.savez(old, **arrays)
    net = deltarule.load(old)
    assert net.classes is None and net.scaler is None
    np.testing.assert_array_equal(net.predict(X), r.predict(X))


def test_predict_labels_needs_classes():
    X, y = moons(20)
    net = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=1, seed=0).network
    with pytest.raises(ConfigError, match="no class labels"):
        net.predict_labels(X)


# -- messages ------------------------------------------------------------------

def test_integer_labels_for_a_softmax_suggest_one_hot():
    X, _ = moons(30)
    with pytest.raises(deltarule.DataError, match=r"y looks like class labels 0…2: one-hot "
                                                  r"encode them, e\.g\. np\.eye\(3\)"):
        deltarule.train(X, np.arange(30) % 3, layers=[2, 4, 3],
                        activation=["sigmoid", "softmax"], loss="cross_entropy")


def test_a_component_without_a_name_reads_well():
    class Nameless:
        @deltarule.hookimpl
        def deltarule_activations(self):
            return [object()]

    with pytest.raises(deltarule.ComponentError, match="returned an activation without"):
        Trainer([1, 1], plugins=[Nameless()])


# -- the scaler ----------------------------------------------------------------

def test_scaler_kinds_constant_columns_and_records():
    X = np.array([[1.0, 5.0, 7.0], [3.0, 5.0, 9.0], [5.0, 5.0, 8.0]])
    s = Scaler.fit(X, "standard")
    np.testing.assert_allclose(s.transform(X).mean(axis=0), 0.0, atol=1e-15)
    np.testing.assert_allclose(s.transform(X)[:, [0, 2]].std(axis=0), 1.0)
    assert s.scale[1] == 1.0 and (s.transform(X)[:, 1] == 0).all()  # a constant column
    m = Scaler.fit(X, "minmax")
    np.testing.assert_allclose(m.transform(X)[:, [0, 2]].min(axis=0), 0.0)
    np.testing.assert_allclose(m.transform(X)[:, [0, 2]].max(axis=0), 1.0)
    np.testing.assert_allclose(m.inverse_transform(m.transform(X)), X)
    assert Scaler.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    assert m.transform(X.astype(np.float32)).dtype == np.float32
    before = X.copy()
    s.transform(X)
    np.testing.assert_array_equal(X, before)  # never the caller's array
    with pytest.raises(ConfigError, match="scale must be one of standard, minmax"):
        Scaler.fit(X, "robust")
    with pytest.raises(ConfigError, match="scales must be finite numbers > 0"):
        Scaler("standard", [0.0], [0.0])
    with pytest.raises(deltarule.DataError, match="fitted on 3 features"):
        s.transform(X[:, :2])


def test_train_many_reports_losses_as_single_runs_do():
    X, y = moons(100)
    opts = dict(layers=[2, 6, 1], lr=2.0, max_epochs=2000, patience=5, batch_size=16,
                loss=("mse", {"reduction": "mean"}), validation_split=0.3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltaRuleWarning)
        many = Trainer(**opts).fit_many(X, y, seeds=[0, 1])
        for i, seed in enumerate([0, 1]):
            single = deltarule.train(X, y, seed=seed, **opts)
            model = many.results[i]
            assert single.stop_reason == model.stop_reason == "patience"
            assert model.loss == single.loss and model.val_loss == single.val_loss
            np.testing.assert_array_equal(model.val_history, single.val_history)
    with pytest.raises(ConfigError, match="fit_many does not take the l2 option"):
        Trainer(layers=[2, 3, 1], l2=0.1).fit_many(X, y, seeds=[0])


def test_a_loss_running_off_to_huge_values_warns_before_it_overflows():
    """A run whose outputs reach ~1e150 without overflowing used to be silent."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2))
    with pytest.warns(DivergenceWarning, match="the loss grew from .* the run is diverging"):
        r = deltarule.train(X, 3 * X[:, :1], activation=["identity", "identity"], lr=0.035,
                            max_epochs=4, seed=0)
    assert r.stop_reason == "max_epochs" and np.isfinite(r.history).all()

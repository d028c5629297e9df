"""``deltarule train DATA`` and ``deltarule predict MODEL DATA`` on real files."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

import deltarule
from deltarule.io.data import read_table

from .test_cli import assert_error, call, run


def circle(n=120, seed=0):
    """Points in the square, label 1 inside the circle of radius 0.7."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = (np.hypot(X[:, 0], X[:, 1]) < 0.7).astype(float)
    return X, y


@pytest.fixture
def csv_file(tmp_path):
    X, y = circle()
    path = tmp_path / "circle.csv"
    lines = ["a,b,noise,label"]
    lines += [f"{a},{b},0.5,{int(l)}" for (a, b), l in zip(X, y)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_save_predict_round_trip(tmp_path, csv_file):
    model = tmp_path / "model.npz"
    proc = run("train", csv_file, "--target", "label", "--columns", "a,b", "--hidden", "6",
               "--lr", "0.5", "--epochs", "300", "--batch-size", "16", "--seed", "4",
               "--save", model, "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["layers"] == [2, 6, 1]
    assert report["features"] == ["a", "b"] and report["targets"] == ["label"]
    assert report["samples"] == 120 and report["batch_size"] == 16
    assert report["saved"] == str(model) and model.exists()

    X, y = circle()
    expected = deltarule.train(X, y.reshape(-1, 1), layers=[2, 6, 1], lr=0.5,
                               max_epochs=300, batch_size=16, seed=4)
    assert report["final_loss"] == pytest.approx(expected.loss, rel=1e-12)

    out = tmp_path / "pred.csv"
    proc = run("predict", model, csv_file, "--columns", "a,b", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    pred = read_table(out)
    assert pred.columns == ("label",)  # the model file names its target
    np.testing.assert_array_equal(pred.data, deltarule.load(model).predict(X))
    np.testing.assert_allclose(pred.data, expected.predict(X), rtol=1e-12)

    # dropping the target and the unused column instead of naming the inputs
    proc = run("predict", model, csv_file, "--target", "label,noise")
    assert proc.returncode == 0, proc.stderr
    table = read_table_text(proc.stdout)
    assert table.columns == ("label",)  # the model's own target name
    np.testing.assert_array_equal(table.data, pred.data)
    proc = run("predict", model, csv_file, "--target", "label", "--columns", "a,b")
    assert read_table_text(proc.stdout).columns == ("label",)


def read_table_text(text):
    from deltarule.io.data import _read_delimited

    return _read_delimited(io.StringIO(text), "<stdout>", ",")


def test_default_layers_validation_and_accuracy(csv_file, capsys):
    assert call(["train", str(csv_file), "--target", "label", "--epochs", "20",
                 "--seed", "0", "--validation-split", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "circle.csv (120 rows; inputs a, b, noise; target label)" in out
    assert "network      3-3-1, sigmoid, mse, sgd lr=0.1" in out
    assert "val loss" in out and "% (validation)" in out
    assert "x1" not in out  # 120 rows: no table of outputs


def test_validation_split_holds_out_rows_and_keeps_the_init(csv_file, capsys):
    args = ["train", str(csv_file), "--target", "label", "--epochs", "1", "--seed", "5",
            "--lr", "1e-300", "--json"]
    assert call(args) == 0
    whole = json.loads(capsys.readouterr().out)
    assert call(args + ["--validation-split", "0.25"]) == 0
    held = json.loads(capsys.readouterr().out)
    assert held["val_loss"] is not None and whole["val_loss"] is None
    # lr≈0: the loss only depends on the (same) initial weights and the rows used;
    # mse sums over rows, so 90 training + 30 validation rows add up to all 120 —
    # once the validation loss, reported on the training set's scale (×90/30), is
    # brought back to its own 30 rows
    assert held["final_loss"] + held["val_loss"] * 30 / 90 == pytest.approx(
        whole["final_loss"], rel=1e-9)


def test_one_hot_classes_and_argmax(tmp_path, capsys):
    X, y = circle(90, seed=2)
    labels = y.astype(int) + (X[:, 0] > 0.5).astype(int) * (1 - y.astype(int)) * 2
    path = tmp_path / "three.csv"
    path.write_text("a,b,cls\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(X, labels)))
    model = tmp_path / "m.npz"
    assert call(["train", str(path), "--target", "cls", "--one-hot", "--activation",
                 "tanh,softmax", "--loss", "cross_entropy", "--hidden", "8", "--lr", "0.5",
                 "--epochs", "400", "--seed", "1", "--save", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["targets"] == ["cls=0", "cls=1", "cls=2"]
    assert report["layers"] == [2, 8, 3]
    assert report["accuracy"] > 0.8
    assert call(["predict", str(model), str(path), "--target", "cls", "--argmax"]) == 0
    table = read_table_text(capsys.readouterr().out)
    assert table.columns == ("class",)
    assert np.mean(table.data[:, 0] == labels) == pytest.approx(report["accuracy"])
    # the model stores its classes: predict writes the labels themselves
    assert call(["predict", str(model), str(path), "--target", "cls"]) == 0
    labelled = read_table_text(capsys.readouterr().out)
    assert labelled.columns == ("cls",)
    np.testing.assert_array_equal(labelled.data, table.data)


def test_one_hot_needs_whole_labels(tmp_path, capsys):
    path = tmp_path / "d.csv"
    path.write_text("a,c\n1,0\n2,1.5\n")
    assert call(["train", str(path), "--target", "c", "--one-hot"]) == 2
    assert ("d.csv, column 'c': class labels must be whole numbers 0, 1, 2, …; row 2 "
            "holds 1.5 (--one-hot)" in capsys.readouterr().err)


def test_npz_data_and_stdin(tmp_path, capsys):
    X, y = circle(40)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    model = tmp_path / "m.npz"
    assert call(["train", str(tmp_path / "d.npz"), "--epochs", "5", "--seed", "0",
                 "--save", str(model), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["features"] == ["x1", "x2"] and report["targets"] == ["y"]
    # CSV on standard input, through the real console script
    text = "p,q\n" + "".join(f"{a},{b}\n" for a, b in X)
    proc = run("predict", model, "-", stdin=text)
    assert proc.returncode == 0, proc.stderr
    np.testing.assert_array_equal(read_table_text(proc.stdout).data,
                                  deltarule.load(model).predict(X))
    # the .npz's y is left out of the inputs by itself
    assert call(["predict", str(model), str(tmp_path / "d.npz")]) == 0
    assert capsys.readouterr().out.startswith("y\n")


@pytest.mark.parametrize("text, fragments", [
    ("a,b,y\n0,1,1\n1,zero,1\n", ["bad.csv: row 2 (line 3), column 'b' (2 of 3): "
                                  "'zero' is not a number"]),
    ("a,b,y\n0,1,1\n1,,1\n", ["row 2 (line 3), column 'b' (2 of 3): the cell is empty"]),
    ("", ["bad.csv is empty"]),
    ("a,b,y\n", ["has a header (a, b, y) but no data rows"]),
    ("a,b,z\n0,1,1\n", ["no target column 'y'", "its columns are: a, b, z"]),
])
def test_bad_files_through_the_console_script(tmp_path, text, fragments):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    proc = run("train", path, "--target", "y")
    assert_error(proc, *fragments)
    assert proc.stdout == ""


def test_missing_target_option_and_missing_file(csv_file, tmp_path, capsys):
    assert call(["train", str(csv_file)]) == 2
    assert ("name the target column(s) of " in (err := capsys.readouterr().err)
            and "with --target (its columns: a, b, noise, label)" in err)
    assert call(["train", str(tmp_path / "absent.csv"), "--target", "y"]) == 2
    assert "cannot read data file" in capsys.readouterr().err


def test_predict_with_the_wrong_width(tmp_path, csv_file):
    model = tmp_path / "m.npz"
    assert run("train", "xor", "--epochs", "3", "--seed", "0", "--save", model
               ).returncode == 0
    proc = run("predict", model, csv_file)
    assert_error(proc, "gives 4 input column(s) (a, b, noise, label) but",
                 "expects 2 (x1, x2); choose the inputs with --columns")
    proc = run("predict", model, csv_file, "--columns", "a,b,c")
    assert_error(proc, "no column 'c'")
    proc = run("predict", csv_file, csv_file)
    assert_error(proc, "circle.csv")


def test_predict_a_preset_and_custom_activation(tmp_path, capsys):
    model = tmp_path / "m.npz"
    plugin = "tests.test_registration:PLUGIN"  # provides the activation 'double'
    assert call(["train", "xor", "--epochs", "3", "--seed", "0", "--activation",
                 "double,sigmoid", "--lr", "0.01", "--plugin", plugin,
                 "--save", str(model), "--quiet"]) == 0
    capsys.readouterr()
    assert call(["predict", str(model), "xor"]) == 2
    assert "unknown activation 'double'" in capsys.readouterr().err
    assert call(["predict", str(model), "xor", "--plugin", plugin]) == 0
    out = read_table_text(capsys.readouterr().out)
    from deltarule.datasets import xor

    net = deltarule.load(model, plugins=[plugin])
    np.testing.assert_array_equal(out.data, net.predict(xor()[0]))

"""A new user's first hour on real data (issue 12), driven through the command line.

A CSV with a header, a text label column and unscaled features trains,
saves, predicts labels without ``--target`` and plots; the model file keeps
the classes, the column names and the scaler.
"""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import deltarule
from deltarule.cli import main
from deltarule.preprocessing import Scaler

SPECIES = np.array(["setosa", "versicolor", "virginica"])


def flowers(n_per=40, seed=0):
    """Three classes, four features on wildly different scales (mm, m, µm, …)."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.5], [0.5, 3.0]])
    rows, labels = [], []
    for k, c in enumerate(centres):
        z = c + rng.normal(scale=0.5, size=(n_per, 2))
        noise = rng.normal(size=(n_per, 2))
        rows.append(np.column_stack([1000 * z[:, 0], z[:, 1] / 1000, noise]))
        labels += [SPECIES[k]] * n_per
    return np.vstack(rows), np.array(labels)


@pytest.fixture
def flowers_csv(tmp_path):
    X, labels = flowers()
    path = tmp_path / "flowers.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["petal length (mm)", "petal width (m)", "noise a", "noise b", "species"])
        for x, lab in zip(X, labels):
            w.writerow([*(repr(float(v)) for v in x), lab])
    return path, X, labels


def assert_same_scaler(a, b):
    assert a.kind == b.kind
    np.testing.assert_allclose(a.offset, b.offset, rtol=1e-12)
    np.testing.assert_allclose(a.scale, b.scale, rtol=1e-12)


def run(args, capsys):
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_text_labels_train_save_predict_and_plot(flowers_csv, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    path, X, labels = flowers_csv
    model = tmp_path / "model.npz"
    code, out, err = run(["train", path, "--target", "species", "--scale", "standard",
                          "--hidden", "8", "--lr", "0.5", "--epochs", "400", "--seed", "3",
                          "--save", model, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    # read as classes, with a note; the output fits classes without being asked
    assert ("note: target column 'species' holds text: read as 3 classes (setosa, "
            "versicolor, virginica)") in err
    assert report["classes"] == list(SPECIES)
    assert report["activations"] == ["sigmoid", "softmax"]
    assert report["loss"] == "cross_entropy" and report["layers"] == [4, 8, 3]
    assert report["accuracy"] > 0.9 and report["scale"] == "standard"

    net = deltarule.load(model)
    assert list(net.classes) == list(SPECIES)
    assert net.feature_names == ("petal length (mm)", "petal width (m)", "noise a", "noise b")
    assert net.target_names == ("species",)
    assert_same_scaler(net.scaler, Scaler.fit(X, "standard"))

    # predict: no --target (the species column is recognised and left out), labels out
    code, out, err = run(["predict", model, path], capsys)
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["species"]
    predicted = np.array([r[0] for r in rows[1:]])
    assert (predicted == labels).mean() == pytest.approx(report["accuracy"])
    assert (predicted == net.predict_labels(X)).all()

    # --proba: the label and one probability per class; --json: the same as records
    code, out, _ = run(["predict", model, path, "--proba"], capsys)
    head, first = list(csv.reader(io.StringIO(out)))[:2]
    assert head == ["species", "p(setosa)", "p(versicolor)", "p(virginica)"]
    assert first[0] == predicted[0] and sum(map(float, first[1:])) == pytest.approx(1.0)
    code, out, _ = run(["predict", model, path, "--proba", "--json"], capsys)
    doc = json.loads(out)
    assert doc["columns"] == head and doc["rows"] == len(X)
    assert doc["predictions"][0]["species"] == predicted[0]
    assert doc["predictions"][0]["p(setosa)"] == pytest.approx(float(first[1]))

    # new rows without the label column, the inputs in another order: found by name
    new = tmp_path / "new.csv"
    new.write_text("noise b,noise a,petal width (m),petal length (mm)\n"
                   f"0,0,{0.5 / 1000!r},{3000.0!r}\n0,0,{3.0 / 1000!r},{500.0!r}\n")
    code, out, err = run(["predict", model, new], capsys)
    assert code == 0, err
    assert out.splitlines() == ["species", "versicolor", "virginica"]

    picture = tmp_path / "m.png"
    code, out, err = run(["plot", model, path, "--out", picture], capsys)
    assert code == 0, err  # four inputs: the loss curve only
    assert picture.stat().st_size > 1000


def test_two_inputs_plot_in_the_datas_own_range_with_stored_names(tmp_path, capsys,
                                                                 monkeypatch):
    pytest.importorskip("matplotlib")
    X, labels = flowers()
    path = tmp_path / "two.csv"
    path.write_text("length,width,kind\n" + "".join(
        f"{float(a)!r},{float(b)!r},{c}\n" for (a, b), c in zip(X[:, :2], labels)))
    model = tmp_path / "two.npz"
    code, _, err = run(["train", path, "--target", "kind", "--scale", "minmax", "--hidden",
                        "8", "--lr", "0.5", "--epochs", "300", "--seed", "1", "--save",
                        model, "--quiet"], capsys)
    assert code == 0, err
    seen = {}
    import deltarule.plotting as plotting

    real = plotting.draw_boundary

    def spy(ax, predict, X=None, y=None, **kw):
        seen.update(kw, X=X, y=y)
        return real(ax, predict, X, y, **kw)

    monkeypatch.setattr(plotting, "draw_boundary", spy)
    assert run(["plot", model, "--out", tmp_path / "a.png"], capsys)[0] == 0
    assert seen["names"] == ("length", "width")
    (lo0, hi0), (lo1, hi1) = seen["bounds"]  # the training range, from the scaler
    assert (lo0, hi0) == pytest.approx((X[:, 0].min(), X[:, 0].max()))
    assert (lo1, hi1) == pytest.approx((X[:, 1].min(), X[:, 1].max()))
    assert list(seen["classes"]) == list(SPECIES)
    assert run(["plot", model, path, "--out", tmp_path / "b.png"], capsys)[0] == 0
    # the labels are coloured by class: one-hot rows in the classes' order
    np.testing.assert_array_equal(np.argmax(seen["y"], axis=1),
                                  np.searchsorted(SPECIES, labels))


def test_whole_number_labels_are_classes_unless_told_otherwise(tmp_path, capsys):
    X, labels = flowers()
    codes = np.searchsorted(SPECIES, labels)
    path = tmp_path / "codes.csv"
    path.write_text("a,b,label\n" + "".join(
        f"{float(a) / 1000!r},{float(b) * 1000!r},{c}\n" for (a, b), c in zip(X[:, :2], codes)))
    code, out, err = run(["train", path, "--target", "label", "--epochs", "5", "--seed",
                          "0", "--json", "--scale", "standard"], capsys)
    assert code == 0, err
    assert "read as 3 classes (0, 1, 2); --target-kind numbers fits them as numbers" in err
    assert json.loads(out)["layers"][-1] == 3
    code, out, err = run(["train", path, "--target", "label", "--epochs", "5", "--seed",
                          "0", "--json", "--target-kind", "numbers"], capsys)
    assert code == 0
    assert json.loads(out)["layers"][-1] == 1
    # numbers on a sigmoid output that cannot reach 2: the class-target note
    assert "note: the target holds 3 whole-number values (0, 1, 2), which look like class " \
           "labels" in err


def test_two_classes_get_one_sigmoid_unit_and_binary_cross_entropy(tmp_path, capsys):
    X, labels = flowers()
    keep = labels != "virginica"
    path = tmp_path / "two.csv"
    path.write_text("a,b,kind\n" + "".join(
        f"{float(a) / 1000!r},{float(b) * 1000!r},{c}\n" for (a, b), c in zip(X[keep, :2], labels[keep])))
    model = tmp_path / "m.npz"
    code, out, err = run(["train", path, "--target", "kind", "--scale", "standard",
                          "--hidden", "4", "--lr", "0.5", "--epochs", "300", "--seed", "0",
                          "--save", model, "--json"], capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["loss"] == "binary_cross_entropy" and report["layers"][-1] == 1
    assert report["activations"][-1] == "sigmoid" and report["accuracy"] > 0.95
    code, out, _ = run(["predict", model, path, "--proba"], capsys)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["kind", "p(setosa)", "p(versicolor)"]
    p = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    predicted = np.array([r[0] for r in rows[1:]])
    np.testing.assert_array_equal(predicted, np.where(p[:, 1] > 0.5, "versicolor", "setosa"))


def test_a_chosen_output_is_kept(tmp_path, capsys):
    X, labels = flowers()
    path = tmp_path / "f.csv"
    path.write_text("a,b,kind\n" + "".join(
        f"{float(a)!r},{float(b)!r},{c}\n" for (a, b), c in zip(X[:, :2], labels)))
    code, out, _ = run(["train", path, "--target", "kind", "--activation", "tanh,sigmoid",
                        "--loss", "mse", "--epochs", "3", "--seed", "0", "--json", "--quiet"],
                       capsys)
    assert code == 0
    report = json.loads(out)
    assert report["activations"] == ["tanh", "sigmoid"] and report["loss"] == "mse"


def test_argmax_of_one_output_thresholds_at_one_half(tmp_path, capsys):
    """Bug 1: --argmax on a one-output model printed class 0 for every row."""
    model = tmp_path / "xor.npz"
    assert main(["train", "xor", "--lr", "0.5", "--epochs", "3000", "--seed", "1",
                 "--save", str(model), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["predict", str(model), "xor", "--argmax"]) == 0
    out = capsys.readouterr().out.split()
    y_hat = deltarule.load(model).predict(np.array([[0, 1], [1, 0], [1, 1], [0, 0]]))
    assert out == ["class", *map(str, (y_hat[:, 0] > 0.5).astype(int))]
    assert out[1:] == ["1", "1", "0", "0"]


def test_spread_note_and_none_once_scaled(flowers_csv, capsys):
    path, _, _ = flowers_csv
    code, _, err = run(["train", path, "--target", "species", "--epochs", "2", "--seed",
                        "0"], capsys)
    assert code == 0
    assert "note: the feature ranges differ by a factor of" in err and "--scale" in err
    code, _, err = run(["train", path, "--target", "species", "--epochs", "2", "--seed",
                        "0", "--scale", "minmax"], capsys)
    assert "feature ranges" not in err
    code, _, err = run(["train", path, "--target", "species", "--epochs", "2", "--seed",
                        "0", "--quiet"], capsys)
    assert err == ""


def test_scaler_fitted_on_the_training_rows_only(flowers_csv, tmp_path, capsys):
    path, X, _ = flowers_csv
    model = tmp_path / "m.npz"
    assert main(["train", str(path), "--target", "species", "--scale", "standard",
                 "--validation-split", "0.25", "--epochs", "2", "--seed", "7", "--save",
                 str(model), "--quiet", "--json"]) == 0
    capsys.readouterr()
    trainer = deltarule.Trainer(validation_split=0.25, seed=7, max_epochs=1)
    trainer.fit(X, np.zeros((len(X), 1)))
    tr, _ = trainer.validation_rows
    assert_same_scaler(deltarule.load(model).scaler, Scaler.fit(X[tr], "standard"))

"""Pictures: ``train --plot`` and ``deltarule plot`` write real PNG images."""

from __future__ import annotations

import numpy as np
import pytest

import deltarule
from deltarule.datasets import xor

from .test_cli import assert_error, blocked, call, run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_png(path, min_bytes=8_000):
    """The image as an array, after checking it is a real, non-trivial PNG."""
    mpimg = pytest.importorskip("matplotlib.image")
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes, len(data)
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    # something was drawn: many distinct colours, not a blank canvas
    assert len(np.unique(image.reshape(-1, image.shape[2]), axis=0)) > 50
    return image


def test_train_plot_has_loss_and_boundary_panels(tmp_path):
    pytest.importorskip("matplotlib")
    png = tmp_path / "xor.png"
    proc = run("train", "xor", "--seed", "1", "--epochs", "2000", "--lr", "0.5",
               "--plot", png)
    assert proc.returncode == 0, proc.stderr
    assert f"plot         {png}" in proc.stdout
    image = read_png(png)
    height, width = image.shape[:2]
    assert (height, width) == (480, 1280)  # two 6.4 × 4.8 in panels at 100 dpi


def test_train_plot_of_wide_data_is_the_loss_curve_only(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    np.savez(tmp_path / "d.npz", X=X, y=(X.sum(axis=1) > 0).astype(float))
    png = tmp_path / "loss.png"
    assert call(["train", str(tmp_path / "d.npz"), "--epochs", "50", "--seed", "0",
                 "--validation-split", "0.2", "--plot", str(png), "--quiet"]) == 0
    assert read_png(png).shape[:2] == (480, 640)


def test_plot_command_for_a_saved_model(tmp_path):
    pytest.importorskip("matplotlib")
    model = tmp_path / "m.npz"
    assert call(["train", "xor", "--seed", "2", "--epochs", "300", "--save", str(model),
                 "--quiet"]) == 0
    with_data = tmp_path / "with_data.png"
    proc = run("plot", model, "xor", "--out", with_data)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"wrote {with_data}\n"
    wide = read_png(with_data)
    alone = tmp_path / "alone.png"
    assert call(["plot", str(model), "--out", str(alone)]) == 0
    assert read_png(alone).shape == wide.shape
    # the points are part of the picture
    assert with_data.read_bytes() != alone.read_bytes()


def test_plot_a_model_without_history_or_two_inputs(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    net = deltarule.Network([3, 2, 1], [_sigmoid()] * 2,
                            [(np.zeros((3, 2)), np.zeros(2)), (np.zeros((2, 1)), np.zeros(1))])
    model = deltarule.save(net, tmp_path / "bare.npz")
    assert call(["plot", str(model), "--out", str(tmp_path / "x.png")]) == 2
    assert ("nothing to draw: no loss history, and the network has 3 inputs"
            in capsys.readouterr().err)
    # a two-input network without history: the boundary alone
    net2 = deltarule.train(*xor(), max_epochs=3, seed=0).network
    model2 = deltarule.save(net2, tmp_path / "net2.npz")
    assert call(["plot", str(model2), "--out", str(tmp_path / "b.png")]) == 0
    assert read_png(tmp_path / "b.png").shape[:2] == (480, 640)


def _sigmoid():
    return deltarule.make_plugin_manager(entry_points=False).catalogue().get(
        "activations", "sigmoid")


def test_without_matplotlib_the_error_says_what_to_install(tmp_path):
    env = blocked(tmp_path, "matplotlib")
    proc = run("train", "xor", "--epochs", "3", "--plot", tmp_path / "x.png", env=env)
    assert_error(proc, "matplotlib", "pip install 'deltarule[plot]'")
    assert not (tmp_path / "x.png").exists()
    model = tmp_path / "m.npz"
    assert run("train", "xor", "--epochs", "3", "--save", model).returncode == 0
    assert_error(run("plot", model, "--out", tmp_path / "x.png", env=env),
                 "pip install 'deltarule[plot]'")


def test_plot_errors(tmp_path, capsys):
    model = tmp_path / "m.npz"
    assert call(["train", "xor", "--epochs", "3", "--save", str(model), "--quiet"]) == 0
    capsys.readouterr()
    assert call(["plot", str(model)]) == 2
    assert "the following arguments are required: --out" in capsys.readouterr().err
    assert call(["plot", str(model), "--target", "y", "--out", str(tmp_path / "p.png")]) == 2
    assert "give a data file" in capsys.readouterr().err
    assert call(["train", "xor", "--plot", str(tmp_path / "nowhere" / "p.png")]) == 2
    assert "does not exist" in capsys.readouterr().err

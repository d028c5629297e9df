"""The ``deltarule`` command through the real console entry (``python -m deltarule``).

Errors must read ``deltarule: error: …`` on stderr with status 2 and no
traceback; results must be the library's own numbers.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import deltarule
from deltarule.cli import main
from deltarule.datasets import xor

from .helpers import python


def run(*args, cwd=None, env=None, stdin=None, timeout=120):
    """``python -m deltarule ARGS`` in a subprocess; the finished process."""
    return python("-m", "deltarule", *args, cwd=cwd, env=env, stdin=stdin, timeout=timeout)


def assert_error(proc, *fragments):
    """Status 2, one ``deltarule: error:`` message naming ``fragments``, no traceback."""
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stderr.startswith("deltarule: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)


def blocked(tmp_path, *modules):
    """A PYTHONPATH entry under which importing ``modules`` fails, as if missing."""
    folder = tmp_path / "blocked"
    for name in modules:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"raise ImportError('{name} is blocked by the test')\n")
    return {"PYTHONPATH": str(folder)}


def call(args) -> int:
    """``main(args)`` in this process; argparse's exits become their status."""
    try:
        return main(args)
    except SystemExit as exc:
        return exc.code


def test_train_xor_prints_the_documents_result():
    proc = run("train", "xor", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    expected = deltarule.train(*xor(), layers=[2, 3, 1], lr=0.1, max_epochs=10000, seed=1)
    assert "network      2-3-1, sigmoid, mse, sgd lr=0.1" in out
    assert "epochs       10000 in " in out
    assert "stop reason  max_epochs" in out
    assert f"final loss   {expected.loss:.6g}" in out
    rows = out.split("x1 x2 | target | output\n")[1].splitlines()
    X, y = xor()
    assert len(rows) == 4
    for row, xi, yi, oi in zip(rows, X, y, expected.predict(X)):
        assert row.split() == [f"{xi[0]:.0f}", f"{xi[1]:.0f}", "|", f"{yi[0]:.0f}", "|",
                               f"{oi[0]:.4f}"]
    # stderr is not a terminal here: no progress bar, no noise
    assert proc.stderr == ""


def test_train_xor_second_example_as_json():
    proc = run("train", "xor", "--layers", "2,3,2,1", "--seed", "7", "--epochs", "3000",
               "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    expected = deltarule.train(*xor(), layers=[2, 3, 2, 1], max_epochs=3000, seed=7)
    assert report["layers"] == [2, 3, 2, 1]
    assert report["activations"] == ["sigmoid"] * 3
    assert (report["loss"], report["optimizer"], report["init"]) == ("mse", "sgd", "randn")
    assert report["epochs"] == report["history_length"] == 3000
    assert report["stop_reason"] == "max_epochs"
    assert report["final_loss"] == expected.loss
    assert report["seed"] == 7 and report["saved"] is None and report["plot"] is None
    outputs = np.array([o["output"] for o in report["outputs"]])
    np.testing.assert_array_equal(outputs, expected.predict(xor()[0]))
    assert [o["target"] for o in report["outputs"]] == xor()[1].tolist()


def test_options_reach_the_trainer(capsys):
    code = main(["train", "xor", "--seed", "3", "--lr", "0.5", "--epochs", "50000",
                 "--target-loss", "0.01", "--activation", "tanh,sigmoid",
                 "--optimizer", "momentum", "--init", "xavier", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    expected = deltarule.train(*xor(), layers=[2, 3, 1], activation=["tanh", "sigmoid"],
                               optimizer="momentum", init="xavier", lr=0.5,
                               max_epochs=50000, target_loss=0.01, seed=3)
    assert report["stop_reason"] == "target_loss" == expected.stop_reason
    assert report["epochs"] == expected.epochs
    assert report["activations"] == ["tanh", "sigmoid"]
    assert report["final_loss"] == expected.loss <= 0.01


def test_hidden_widths_and_float32(capsys):
    assert main(["train", "xor", "--hidden", "4,2", "--epochs", "10", "--seed", "0",
                 "--dtype", "float32", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["layers"] == [2, 4, 2, 1]


def test_fresh_seed_is_printed_so_the_run_can_be_repeated():
    proc = run("train", "xor", "--epochs", "200")
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("seed"))
    seed = int(line.split()[1])
    assert f"(repeat with --seed {seed})" in line
    loss_line = next(l for l in proc.stdout.splitlines() if l.startswith("final loss"))
    again = run("train", "xor", "--epochs", "200", "--seed", seed)
    assert loss_line in again.stdout.splitlines()


def test_digits_preset():
    pytest.importorskip("sklearn")
    proc = run("train", "digits", "--seed", "0", "--json")
    assert proc.returncode == 0, proc.stderr
    r = json.loads(proc.stdout)
    assert r["layers"] == [64, 128, 10]
    assert r["activations"] == ["sigmoid", "softmax"]
    assert (r["loss"], r["batch_size"], r["validation_split"]) == ("cross_entropy", 32, 0.2)
    assert r["samples"] == 1797 and r["outputs"] is None
    assert r["epochs"] == 30 and r["val_loss"] is not None
    # measured: 98.1 % held-out accuracy with seed 0; a broken loop gets ~10 %
    assert r["val_accuracy"] > 0.93 and r["accuracy"] > 0.95


def test_digits_without_scikit_learn(tmp_path):
    proc = run("train", "digits", env=blocked(tmp_path, "sklearn"))
    assert_error(proc, "scikit-learn", "pip install")


def test_threads_caps_blas(capsys):
    pytest.importorskip("threadpoolctl")
    assert main(["train", "xor", "--epochs", "5", "--seed", "0", "--threads", "1",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["epochs"] == 5


def test_threads_without_threadpoolctl(tmp_path):
    proc = run("train", "xor", "--threads", "2", env=blocked(tmp_path, "threadpoolctl"))
    assert_error(proc, "threadpoolctl")


@pytest.mark.parametrize("args, fragments", [
    (["train", "xor", "--lr", "fast"], ["argument --lr: invalid float value: 'fast'",
                                        "deltarule train --help"]),
    (["train", "xor", "--layers", "2,x,1"], ["--layers takes comma-separated widths"]),
    (["train", "xor", "--layers", "3,3,1"], ["--layers 3,3,1 does not fit xor",
                                             "2 input(s) and 1 output(s)"]),
    (["train", "xor", "--layers", "2"], ["--layers needs at least an input and an output"]),
    (["train", "xor", "--layers", "2,3,1", "--hidden", "3"], ["not allowed with argument"]),
    (["train", "xor", "--activation", "sigmod"], ["unknown activation 'sigmod'",
                                                  "did you mean 'sigmoid'"]),
    (["train", "xor", "--loss", "nope"], ["unknown loss 'nope'"]),
    (["train", "xor", "--lr", "-1"], ["lr (the learning rate) must be positive"]),
    (["train", "xor", "--epochs", "0"], ["max_epochs must be positive"]),
    (["train", "xor", "--activation", "sigmoid,sigmoid,sigmoid"],
     ["activation lists 3 activations but the network has 2"]),
    (["train", "xor", "--target", "y"], ["--target, --columns and --one-hot apply to data"]),
    (["train", "xr"], ["'xr' is neither a preset (xor, digits) nor an existing data file"]),
    (["train", "xor", "--plugin", "no_such_module:plugin"], ["no_such_module"]),
    (["train", "xor", "--validation-split", "1.5"], ["strictly between 0 and 1"]),
    (["train", "xor", "--save", "/no/such/folder/m.npz"], ["--save", "does not exist"]),
    (["frobnicate"], ["invalid choice: 'frobnicate'"]),
])
def test_errors_are_one_line_and_status_2(args, fragments, capsys):
    assert call(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("deltarule: error: ")
    for fragment in fragments:
        assert fragment in err


def test_errors_through_the_console_script_have_no_traceback():
    assert_error(run("train", "xor", "--activation", "sigmod"), "unknown activation")
    assert_error(run("train", "xor", "--lr", "fast"), "invalid float value")
    assert_error(run("predict", "missing.npz", "xor"), "missing.npz", "does not exist")


def test_plugins_lists_builtins_with_origin():
    proc = run("plugins")
    assert proc.returncode == 0, proc.stderr
    assert "deltarule.plugins.activations  [builtin]" in proc.stdout
    assert "activation sigmoid" in proc.stdout


def test_no_command_prints_help():
    proc = run()
    assert proc.returncode == 2
    assert "train" in proc.stdout and "predict" in proc.stdout and "plot" in proc.stdout

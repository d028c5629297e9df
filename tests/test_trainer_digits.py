"""The digits example (examples/digits.py) reaches ≥ 95 % training accuracy."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

pytest.importorskip(
    "sklearn", reason="scikit-learn is not installed (the example loads its digits)"
)

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits.py"


@pytest.fixture(scope="module")
def digits():
    spec = importlib.util.spec_from_file_location("deltarule_example_digits", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_digits_example_reaches_95_percent_training_accuracy(digits, seed):
    start = time.perf_counter()
    out = digits.run(epochs=20, seed=seed)
    elapsed = time.perf_counter() - start
    r = out["result"]
    assert r.network.layers == (64, 128, 10)
    assert [a.name for a in r.network.activations] == ["sigmoid", "softmax"]
    assert r.components["loss"] == "cross_entropy"
    assert r.config["batch_size"] == 32
    assert out["train_accuracy"] >= 0.95, out["train_accuracy"]
    assert out["test_accuracy"] >= 0.9, out["test_accuracy"]
    assert elapsed < 30  # measured: ~0.1 s of training, ~0.3 s with loading
    print(f"digits seed={seed}: train {out['train_accuracy']:.3f}, "
          f"test {out['test_accuracy']:.3f}, {out['seconds']:.3f} s training")


def test_digits_example_float32_with_adam(digits):
    out = digits.run(epochs=15, optimizer="adam", lr=0.003, dtype="float32")
    assert out["result"].network.theta.dtype.name == "float32"
    assert out["train_accuracy"] >= 0.95


def test_digits_example_command_line(digits, capsys):
    out = digits.main(["--epochs", "5", "--test-size", "0"])
    printed = capsys.readouterr().out
    assert "train accuracy" in printed and "test accuracy" not in printed
    assert out["test_accuracy"] is None

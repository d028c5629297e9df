"""Handwritten digits with deltarule: a 64-128-10 network, sigmoid hidden layer,
softmax output, cross-entropy, mini-batches of 32.

    python examples/digits.py                  # SGD, 20 epochs, ~0.2 s
    python examples/digits.py --optimizer adam --lr 0.003 --epochs 30

scikit-learn's ``load_digits``: 1797 images of 8×8 pixels with values 0–16,
scaled here to [0, 1].  A stratified fifth is held out to show that the
network generalises; the training accuracy is what the test suite checks
(≥ 95 %).  Needs scikit-learn (``pip install 'deltarule[sklearn]'``).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import deltarule


def load(test_size: float = 0.2, seed: int = 0):
    """``(X_train, y_train, X_test, y_test)``: pixels in [0, 1], integer labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if not test_size:
        return X, y, X[:0], y[:0]
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=test_size, stratify=y,
                                              random_state=seed)
    return X_tr, y_tr, X_te, y_te


def run(epochs: int = 20, optimizer: str = "sgd", lr: float = 0.5, batch_size: int = 32,
        seed: int = 0, dtype: str = "float64", test_size: float = 0.2) -> dict:
    """Train and return ``train_accuracy``, ``test_accuracy``, ``seconds``, ``result``."""
    X_tr, y_tr, X_te, y_te = load(test_size, seed)
    Y_tr = np.eye(10)[y_tr]  # one-hot targets for cross_entropy
    start = time.perf_counter()
    result = deltarule.train(
        X_tr, Y_tr, layers=[64, 128, 10],
        activation=["sigmoid", "softmax"], loss="cross_entropy", init="xavier",
        optimizer=optimizer, lr=lr, batch_size=batch_size, max_epochs=epochs,
        seed=seed, dtype=dtype,
    )
    seconds = time.perf_counter() - start

    def accuracy(X, y):
        return float((result.predict(X).argmax(axis=1) == y).mean()) if len(y) else None

    return {
        "train_accuracy": accuracy(X_tr, y_tr),
        "test_accuracy": accuracy(X_te, y_te),
        "seconds": seconds,
        "result": result,
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--lr", type=float, default=0.5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--test-size", type=float, default=0.2,
                        help="fraction held out (0: train on all 1797 images)")
    args = parser.parse_args(argv)
    out = run(args.epochs, args.optimizer, args.lr, args.batch_size, args.seed, args.dtype,
              args.test_size)
    r = out["result"]
    print(f"network         64-128-10, sigmoid + softmax, cross_entropy, "
          f"{args.optimizer} lr={args.lr}, batches of {args.batch_size}, {args.dtype}")
    print(f"epochs          {r.epochs} ({r.stop_reason}), {out['seconds']:.2f} s")
    print(f"final loss      {r.loss:.4f}")
    print(f"train accuracy  {out['train_accuracy']:.2%}")
    if out["test_accuracy"] is not None:
        print(f"test accuracy   {out['test_accuracy']:.2%}")
    return out


if __name__ == "__main__":
    main()

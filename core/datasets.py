"""Built-in data sets: the document's XOR table, and scikit-learn's digits.

Each is also a command-line *preset* (``deltarule train xor``, ``deltarule
train digits``): :data:`PRESETS` pairs the data with the network and training
options that suit it.  Options given on the command line override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .errors import DataError, MissingDependencyError

MAX_CLASSES = 10_000  # one-hot targets inferred from labels: at most this many classes

# the document's rows, in the document's order
XOR_X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], dtype=np.float64)
XOR_Y = np.array([[1], [1], [0], [0]], dtype=np.float64)


def xor():
    """``(X, y)`` copies of the document's XOR table: ``(4, 2)`` and ``(4, 1)``."""
    return XOR_X.copy(), XOR_Y.copy()


def digits():
    """scikit-learn's 8×8 hand-written digits as ``(X, Y)``.

    ``X``: ``(1797, 64)`` pixel intensities scaled from 0…16 to 0…1;
    ``Y``: ``(1797, 10)`` one-hot rows, ``Y[i, k] = 1`` when sample ``i`` is
    the digit ``k``.  Needs scikit-learn (``pip install deltarule[sklearn]``),
    which ships the data, so nothing is downloaded.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise MissingDependencyError(
            "the digits data set comes with scikit-learn, which is not installed; "
            "pip install 'deltarule[sklearn]' (or scikit-learn)"
        ) from None
    data = load_digits()
    X = np.asarray(data.data, dtype=np.float64) / 16.0
    Y = one_hot(data.target, 10)
    return X, Y


def one_hot(labels, n_classes: int | None = None) -> np.ndarray:
    """``(n,)`` integer labels ``0 … k-1`` → ``(n, k)`` rows of 0.0 with one 1.0.

    ``n_classes`` defaults to ``max(labels) + 1``, which may be at most the
    number of labels and :data:`MAX_CLASSES`.  A label that is not a whole
    number ≥ 0 is a :class:`DataError` naming its row (counted from 1).
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise DataError(f"one_hot needs a non-empty 1-D array of labels, got shape "
                        f"{labels.shape}")
    as_int = labels.astype(np.int64)
    bad = np.flatnonzero((as_int != labels) | (as_int < 0))
    if bad.size:
        raise DataError(
            f"class labels must be whole numbers 0, 1, 2, …; row {bad[0] + 1} holds "
            f"{labels[bad[0]].item()!r}"
        )
    if n_classes is None:
        top = int(as_int.max())
        k = top + 1
        if k > MAX_CLASSES or k > labels.size:
            row = int(np.argmax(as_int)) + 1
            why = (f"more than the limit of {MAX_CLASSES}" if k > MAX_CLASSES
                   else f"more than the {labels.size} rows")
            raise DataError(
                f"label {top} (row {row}) would make {k} classes, {why}; class labels "
                "are 0, 1, 2, … up to the number of classes — if this column is a "
                "number to predict, it needs no one-hot encoding"
            )
    else:
        k = int(n_classes)
    if as_int.max() >= k:
        raise DataError(f"label {int(as_int.max())} does not fit {k} classes")
    out = np.zeros((labels.size, k), dtype=np.float64)
    out[np.arange(labels.size), as_int] = 1.0
    return out


@dataclass(frozen=True)
class Preset:
    """A named data set with the training options that suit it."""

    name: str
    load: Callable[[], tuple[np.ndarray, np.ndarray]]
    description: str
    options: dict = field(default_factory=dict)


PRESETS = {
    "xor": Preset(
        "xor", xor,
        "xor: the document's XOR table (4 samples, 2 inputs, 1 output)",
        dict(layers=(2, 3, 1), activation="sigmoid", loss="mse", optimizer="sgd",
             lr=0.1, max_epochs=10000),
    ),
    "digits": Preset(
        "digits", digits,
        "digits: scikit-learn's 8×8 digits (1797 samples, 64 inputs, 10 classes)",
        dict(layers=(64, 128, 10), activation=("sigmoid", "softmax"),
             loss="cross_entropy", optimizer="sgd", lr=0.5, max_epochs=30,
             batch_size=32, validation_split=0.2),
    ),
}

"""Built-in data sets: the document's XOR table."""

from __future__ import annotations

import numpy as np

# the document's rows, in the document's order
XOR_X = np.array([[0, 1], [1, 0], [1, 1], [0, 0]], dtype=np.float64)
XOR_Y = np.array([[1], [1], [0], [0]], dtype=np.float64)


def xor():
    """``(X, y)`` copies of the document's XOR table: ``(4, 2)`` and ``(4, 1)``."""
    return XOR_X.copy(), XOR_Y.copy()

"""The fast paths of the bundled activations give what the plain formula gives.

ReLU's ``max(z, 0)`` runs against a shared read-only block of zeros (NumPy's
maximum against a scalar is ~4× slower) up to the block's size, and in the
scalar form beyond; softmax finds short rows' maxima over a transposed copy.
Each path is compared bit for bit with the plain NumPy expression, in every
layout, in place and on overlapping buffers.
"""

import numpy as np
import pytest

from deltarule.plugins.activations import ReLU, Softmax

RELU = ReLU()


def _z(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


@pytest.mark.parametrize("shape", [(7,), (200, 100), (3, 200, 50), (700, 100), (1 << 16,),
                                   ((1 << 16) + 1,)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_relu_forward_equals_maximum(shape, dtype):
    z = _z(shape, dtype)
    before = z.copy()
    a = RELU.forward(z)
    assert a.dtype == dtype and a.shape == z.shape
    np.testing.assert_array_equal(a, np.maximum(z, 0))
    np.testing.assert_array_equal(z, before)  # the input is never written
    out = np.full_like(z, 7.0)
    assert RELU.forward(z, out=out) is out
    np.testing.assert_array_equal(out, np.maximum(z, 0))


@pytest.mark.parametrize("n", [10, 200_003])
def test_relu_forward_in_place_and_on_overlapping_views(n):
    z = _z((n,))
    expected = np.maximum(z, 0)
    same = z.copy()
    RELU.forward(same, out=same)
    np.testing.assert_array_equal(same, expected)
    # out overlaps z, one element off either way: the buffered ufunc's result
    for src, dst in ((slice(1, None), slice(None, -1)), (slice(None, -1), slice(1, None))):
        buf = np.concatenate([[0.0], z])
        ref = buf.copy()
        np.maximum(ref[src], 0.0, out=ref[dst])
        RELU.forward(buf[src], out=buf[dst])
        np.testing.assert_array_equal(buf, ref)


def test_relu_forward_other_inputs():
    z = _z((40, 30))
    np.testing.assert_array_equal(RELU.forward(z[:, ::2]), np.maximum(z[:, ::2], 0))
    out = np.empty((30, 40)).T  # a non-contiguous out
    RELU.forward(z, out=out)
    np.testing.assert_array_equal(out, np.maximum(z, 0))
    nan = RELU.forward(np.array([np.nan, -np.inf, np.inf, -0.0, 2.0]))
    assert np.isnan(nan[0]) and list(nan[1:]) == [0.0, np.inf, 0.0, 2.0]
    assert RELU.forward(-3.0) == 0.0 and np.ndim(RELU.forward(3.0)) == 0
    assert RELU.forward(np.float32(-1.5)) == 0.0
    assert RELU.forward(np.empty((0, 4))).shape == (0, 4)
    np.testing.assert_array_equal(RELU.forward(np.array([-2, 3])), [0.0, 3.0])
    np.testing.assert_array_equal(RELU.forward([[-1.0, 2.0]]), [[0.0, 2.0]])


@pytest.mark.parametrize("shape", [(200, 10), (1, 10), (15, 3), (50, 64), (50, 65),
                                   (4, 200, 10)])
def test_softmax_forward_equals_the_plain_formula(shape):
    z = _z(shape) * 20
    out = Softmax().forward(z)
    shifted = z - np.maximum.reduce(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    np.testing.assert_array_equal(out, e / np.add.reduce(e, axis=-1, keepdims=True))

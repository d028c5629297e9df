"""The fast paths of the bundled activations give what the plain formula gives.

ReLU's ``max(z, 0)`` runs against a shared read-only block of zeros (NumPy's
maximum against a scalar is 3-4× slower) up to the block's size, and in the
scalar form beyond (an array one element past the block would not fit the
block's view: the size guard is what keeps it working); softmax finds the
row maxima of many short rows over a transposed copy.  Each path is compared
bit for bit with the plain NumPy expression; ReLU's also in every layout, in
place and on overlapping buffers.
"""

import numpy as np
import pytest

from deltarule.plugins.activations import ReLU, Softmax

RELU = ReLU()


def _z(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


BLOCK = 1 << 18  # deltarule.plugins.activations._ZERO_BLOCK


@pytest.mark.parametrize("shape", [(7,), (200, 100), (3, 200, 50), (700, 100), (BLOCK,),
                                   (BLOCK + 1,)])
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


@pytest.mark.parametrize("n", [10, 200_003, BLOCK + 3])
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
    np.testing.assert_array_equal(RELU.forward(np.float16([-1, 2])), [0, 2])


def test_relu_zeros_block_is_shared_and_read_only():
    from deltarule.plugins import activations

    assert activations._ZERO_BLOCK == BLOCK
    for block in activations._ZEROS.values():
        assert not block.flags.writeable and not block.any()
    np.testing.assert_array_equal(RELU.forward(np.array([-2, 3])), [0.0, 3.0])
    np.testing.assert_array_equal(RELU.forward([[-1.0, 2.0]]), [[0.0, 2.0]])


@pytest.mark.parametrize("shape", [(200, 10), (1, 10), (15, 3), (64, 32), (64, 33),
                                   (63, 4), (4, 200, 10), (2, 3, 5)])
def test_softmax_forward_equals_the_plain_formula(shape):
    z = _z(shape) * 20
    out = Softmax().forward(z)
    shifted = z - np.maximum.reduce(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    np.testing.assert_array_equal(out, e / np.add.reduce(e, axis=-1, keepdims=True))


def test_softmax_forward_takes_lists():
    np.testing.assert_allclose(Softmax().forward([[0.0, np.log(3.0)]]), [[0.25, 0.75]])

"""The compiled kernels give the NumPy twins' results to the bit.

``deltarule.kernels`` runs a fused numba loop where the arrays allow and the
NumPy sequence otherwise; the promise is that nobody can tell which ran but
by the clock.  Each kernel is compared bit for bit (as unsigned integers, so
the sign of zero counts) with its twin on random values mixed
with NaN, ±inf, ±0 and subnormals, in float32 and float64 (a NaN matches any
NaN: which operand's NaN propagates is the hardware's choice); whole trainings
are compared too; and the spec suite is run with the compiled kernels on
every array, however small.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import deltarule
from deltarule import kernels

numba = pytest.importorskip("numba", reason="the compiled kernels need numba")

DTYPES = [np.float32, np.float64]


numpy_only = kernels.disabled  # the NumPy twins, whatever the arrays


@pytest.fixture(autouse=True)
def compiled():
    assert kernels.backend() == "numba"


def bits(a):
    a = np.ascontiguousarray(a)
    return a.view(np.uint32 if a.dtype == np.float32 else np.uint64)


def values(shape, dtype, seed=0, special=True):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 30.0], shape)).astype(dtype)
    if special:
        tiny = np.finfo(dtype).smallest_subnormal
        specials = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, tiny, -tiny, 1.0, -1.0],
                            dtype=dtype)
        flat = x.reshape(-1)
        k = min(40, flat.size)
        flat[rng.choice(flat.size, k, replace=False)] = rng.choice(specials, k)
    return x


def both(call, *arrays):
    """``call`` on copies of ``arrays``, compiled then NumPy: the two results."""
    out = []
    for ctx in (contextlib.nullcontext(), numpy_only()):
        copies = [a.copy() for a in arrays]
        with ctx, np.errstate(all="ignore"):
            call(*copies)
        out.append(copies)
    return out


def assert_same_bits(got, want):
    """Bit for bit (the sign of zero counts), except that a NaN matches any NaN:
    which operand's NaN an operation passes on is the hardware's and the
    compiler's choice, not a number."""
    for g, w in zip(got, want):
        assert g.shape == w.shape and g.dtype == w.dtype
        both_nan = np.isnan(g) & np.isnan(w)
        np.testing.assert_array_equal(np.where(both_nan, 0, bits(g)),
                                      np.where(both_nan, 0, bits(w)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(200, 100), (37, 64), (1024,), (3, 200, 10)])
def test_relu_vjp(dtype, shape):
    z, g = values(shape, dtype), values(shape, dtype, 1)
    fast, twin = both(lambda z, g, d: kernels.relu_vjp(z, g, d), z, g, np.empty_like(z))
    assert_same_bits(fast, twin)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(fast[2], np.where(z > 0, g, 0.0 * g))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(200, 100), (37, 64), (1024,), (3, 200, 10)])
def test_tanh_vjp(dtype, shape):
    a, g = np.tanh(values(shape, dtype)), values(shape, dtype, 1)
    fast, twin = both(lambda a, g, d: kernels.tanh_vjp(a, g, d), a, g, np.empty_like(a))
    assert_same_bits(fast, twin)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(200, 10), (1024, 1), (300, 7), (200, 8), (64, 33),
                                   (16, 128), (3, 200, 10), (2048, 2)])
def test_softmax(dtype, shape):
    from deltarule.plugins.activations import Softmax

    z = values(shape, dtype)
    fast, twin = both(lambda z, d: Softmax().forward(z, d), z, np.empty_like(z))
    assert_same_bits(fast, twin)
    with kernels.disabled(), np.errstate(all="ignore"):
        assert kernels.softmax(z, np.empty_like(z)) is None       # so `twin` was NumPy's
    assert kernels.softmax(z, np.empty_like(z)) is not None       # and `fast` compiled


def test_softmax_sums_rows_as_numpy_does_at_every_width():
    """The compiled row sum replays np.add.reduce's pairwise order: checked when
    the kernels load (else the compiled softmax is off), and here."""
    assert kernels._load().softmax_shift is not None
    assert kernels._softmax_agrees(kernels._load())
    rng = np.random.default_rng(1)
    for dtype in DTYPES:
        for k in range(1, kernels.SOFTMAX_WIDTH + 1):
            e = (rng.random((4, k)) * rng.choice([1e-8, 1.0, 1e8], (4, k))).astype(dtype)
            want = e / np.add.reduce(e, axis=-1, keepdims=True)
            kernels._load().softmax_normalise(e, dtype(0.0))
            assert_same_bits([e], [want])


def test_softmax_wider_than_the_compiled_loop_runs_the_twin(refuse):
    from deltarule.plugins.activations import Softmax

    z = values((16, kernels.SOFTMAX_WIDTH + 1), np.float64, special=False)
    Softmax().forward(z, np.empty_like(z))


@pytest.mark.parametrize("vjp", [kernels.relu_vjp, kernels.tanh_vjp])
def test_vjp_in_place_on_g_or_z(vjp):
    z, g = values((64, 64), np.float64), values((64, 64), np.float64, 1)
    want = vjp(z, g)
    for args in ((z.copy(), g.copy(), "g"), (z.copy(), g.copy(), "z")):
        zz, gg, into = args
        for ctx in (contextlib.nullcontext(), numpy_only()):
            zc, gc = zz.copy(), gg.copy()
            with ctx, np.errstate(all="ignore"):
                got = vjp(zc, gc, gc if into == "g" else zc)
            assert_same_bits([got], [want])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(200, 100), (37, 64), (1024, 1), (64, 1024)])
def test_add_bias(dtype, shape):
    z, b = values(shape, dtype, 1), values(shape[1:], dtype, 2)
    fast, twin = both(lambda z, b: kernels.bias_op(z, b)(), z, b)
    assert_same_bits(fast, twin)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(7510,), (1024,), (3, 2751)])
def test_adam(dtype, shape):
    p, g = values(shape, dtype, 3), values(shape, dtype, 4)
    M, V = values(shape, dtype, 5, special=False), np.abs(values(shape, dtype, 6))
    s = np.empty_like(p)

    def steps(p, g, M, V, s):
        for c in (1e-3, 2.5e-4, 7.0):
            kernels.adam(p, g, M, V, s, 0.9, 0.999, 1e-8, c)

    fast, twin = both(steps, p, g, M, V, s)
    assert_same_bits(fast[:4], twin[:4])  # s is the twin's scratch


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(DTYPES), st.integers(0, 2**32 - 1),
       st.floats(0.0, 0.999999), st.floats(0.0, 0.999999),
       st.floats(1e-12, 1.0), st.floats(-10.0, 10.0))
def test_adam_any_constants(dtype, seed, beta1, beta2, eps, c):
    shape = (kernels.MIN_SIZE + seed % 977,)
    p, g = values(shape, dtype, seed), values(shape, dtype, seed + 1)
    M, V = values(shape, dtype, seed + 2), np.abs(values(shape, dtype, seed + 3))
    fast, twin = both(lambda p, g, M, V, s: kernels.adam(p, g, M, V, s, beta1, beta2, eps, c),
                      p, g, M, V, np.empty_like(p))
    assert_same_bits(fast[:4], twin[:4])


@settings(deadline=None, max_examples=60)
@given(st.sampled_from(DTYPES), st.integers(0, 2**32 - 1), st.integers(1, 300),
       st.integers(1, 40))
def test_elementwise_any_shape(dtype, seed, rows, cols):
    z = values((rows + kernels.MIN_SIZE // cols, cols), dtype, seed)
    b = values((cols,), dtype, seed + 1)
    g = values(z.shape, dtype, seed + 2)
    for call, arrays in ((lambda z, g, d: kernels.relu_vjp(z, g, d), (z, g, np.empty_like(z))),
                         (lambda a, g, d: kernels.tanh_vjp(a, g, d), (z, g, np.empty_like(z))),
                         (lambda z, b: kernels.bias_op(z, b)(), (z, b))):
        fast, twin = both(call, *arrays)
        assert_same_bits(fast, twin)


class Refuse:
    """A stand-in for the compiled namespace that fails the test if used."""

    def __getattr__(self, name):
        raise AssertionError(f"the compiled {name} ran where the NumPy twin must")


@pytest.fixture
def refuse(monkeypatch):
    monkeypatch.setattr(kernels, "_compiled", Refuse())


def test_arrays_the_loop_cannot_take_run_the_twin(refuse):
    big, small = np.ones((64, 64)), np.ones((2, 3))
    kernels.relu_vjp(small, small, np.empty((2, 3)))                    # small
    kernels.relu_vjp(big[:, ::2].copy().T, np.ones((32, 64)))           # not C-contiguous
    kernels.relu_vjp(big, big, np.empty((64, 64), np.float32))          # mixed dtypes
    kernels.relu_vjp(big.astype(np.int64), big)                          # not float
    kernels.tanh_vjp(big.tolist(), big, np.empty((64, 64)))             # not an array
    buf = np.ones(2 * 4096)
    kernels.tanh_vjp(buf[:4096], np.ones(4096), buf[1:4097])            # partly overlapping
    kernels.bias_op(np.ones((64, 64)), np.ones((1, 64)))()          # b not 1-D
    with pytest.raises(ValueError):  # b of another length: NumPy's error, no stray write
        kernels.bias_op(np.ones((64, 64)), np.ones(32))()
    z = np.ones((64, 64))
    kernels.bias_op(z, z[0])()                                          # b inside z
    kernels.relu_vjp(big, np.broadcast_to(np.ones(64), (64, 64)))       # a broadcast view
    ro = np.ones((64, 64))
    ro.flags.writeable = False
    kernels.relu_vjp(big, ro, np.empty((64, 64)))                        # read-only
    p = np.ones(4096)
    kernels.adam(p, p[::-1], np.ones(4096), np.ones(4096), np.ones(4096), 0.9, 0.9, 1e-8, 1.0)


def test_partly_overlapping_arrays_give_numpys_answer():
    buf = values((2 * 4096,), np.float64, special=False)
    g = values((4096,), np.float64, 1)
    want = buf.copy()
    with numpy_only():
        kernels.tanh_vjp(want[:4096], g, want[1:4097])
    kernels.tanh_vjp(buf[:4096], g, buf[1:4097])
    assert_same_bits([buf], [want])


def test_environment_turns_numba_off(monkeypatch):
    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setenv(kernels.ENV, "numpy")
    assert kernels.backend() == "numpy"


def test_a_failing_numba_warns_once_and_numpy_carries_on(monkeypatch):
    def broken(numba, cache):
        raise RuntimeError("no LLVM today")

    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_build", broken)
    X = values((300, 4), np.float64, special=False)
    y = (X[:, :1] > 0).astype(float)
    with pytest.warns(deltarule.KernelWarning, match="no LLVM today.*NumPy") as seen:
        r = deltarule.train(X, y, layers=[4, 300, 1], activation=["relu", "sigmoid"],
                            optimizer="adam", lr=0.01, max_epochs=2, seed=0,
                            entry_points=False)
        deltarule.train(X, y, layers=[4, 300, 1], max_epochs=1, seed=0, entry_points=False)
    assert len([w for w in seen if issubclass(w.category, deltarule.KernelWarning)]) == 1
    assert kernels.backend() == "numpy" and r.epochs == 2


@pytest.mark.parametrize("error", [ImportError("Numba needs NumPy 2.3 or less"),
                                   ModuleNotFoundError("No module named 'llvmlite'",
                                                       name="llvmlite"),
                                   AttributeError("module 'numpy' has no attribute 'x'")])
def test_a_numba_that_fails_to_import_warns_and_numpy_carries_on(monkeypatch, error):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "numba":
            raise error
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.warns(deltarule.KernelWarning, match=str(error).split("'")[0]):
        assert kernels.backend() == "numpy"


def test_numba_not_installed_is_silent(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "numba":
            raise ModuleNotFoundError("No module named 'numba'", name="numba")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(builtins, "__import__", fake_import)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels.backend() == "numpy"


def test_an_interrupt_while_compiling_is_not_remembered(monkeypatch):
    def interrupted(numba, cache):
        raise KeyboardInterrupt

    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_build", interrupted)
    with pytest.raises(KeyboardInterrupt):
        kernels.backend()
    assert kernels._compiled is None  # tried again next time


def test_an_unwritable_cache_compiles_without_it(monkeypatch):
    real = kernels._build

    def no_cache(numba, cache):
        if cache:
            raise RuntimeError("cannot cache function: no locator available")
        return real(numba, cache)

    monkeypatch.setattr(kernels, "_compiled", None)
    monkeypatch.setattr(kernels, "_build", no_cache)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kernels.backend() == "numba"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("hidden, optimizer, batch", [("relu", "adam", 64), ("tanh", "adam", 50),
                                                      ("relu", "nesterov", None)])
def test_trainings_are_the_same_to_the_bit(dtype, hidden, optimizer, batch):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((300, 12))
    y = np.eye(3)[(X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5).astype(int)]
    kw = dict(layers=[12, 64, 32, 3], activation=[hidden, hidden, "softmax"],
              loss="cross_entropy", optimizer=optimizer, lr=0.01, max_epochs=15,
              batch_size=batch, dtype=dtype, l2=1e-3, seed=3, entry_points=False)
    fast = deltarule.train(X, y, **kw)
    with numpy_only():
        twin = deltarule.train(X, y, **kw)
    assert_same_bits([fast.network.theta, np.array(fast.history)],
                     [twin.network.theta, np.array(twin.history)])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_softmax_training_is_the_same_to_the_bit(dtype, monkeypatch):
    """Ten classes in batches of 200: the compiled softmax runs (2 000 entries)."""
    ran = []
    real = kernels.softmax

    def spy(z, out):
        done = real(z, out)
        ran.append(done is not None)  # the compiled loops took the batch
        return done

    monkeypatch.setattr(kernels, "softmax", spy)
    rng = np.random.default_rng(5)
    X = rng.standard_normal((600, 20))
    y = np.eye(10)[np.argmax(X[:, :10] + 0.3 * rng.standard_normal((600, 10)), axis=1)]
    kw = dict(layers=[20, 64, 10], activation=["relu", "softmax"], loss="cross_entropy",
              optimizer="adam", lr=0.01, max_epochs=8, batch_size=200, dtype=dtype,
              l2=1e-4, seed=1, entry_points=False)
    fast = deltarule.train(X, y, **kw)
    assert any(ran)
    with numpy_only():
        twin = deltarule.train(X, y, **kw)
    assert_same_bits([fast.network.theta, np.array(fast.history)],
                     [twin.network.theta, np.array(twin.history)])


def test_the_spec_suite_passes_with_compiled_kernels_on_every_array(monkeypatch, capsys):
    from deltarule.cli import main

    monkeypatch.setattr(kernels, "MIN_SIZE", 0)
    assert main(["spec"]) == 0, capsys.readouterr().out

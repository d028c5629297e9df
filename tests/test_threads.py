"""limit_blas_threads: caps NumPy's BLAS pool inside the block, restores it after."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import deltarule
from deltarule.threads import blas_threads, check_threads, limit_blas_threads

threadpoolctl = pytest.importorskip("threadpoolctl")


def _numpy_blas_threads() -> list[int]:
    """Thread counts of the BLAS libraries NumPy's matmul can use."""
    np.ones((2, 2)) @ np.ones((2, 2))  # make sure NumPy's BLAS is loaded
    return [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas"]


@pytest.fixture
def two_blas_threads():
    """Start every test from a pool of 2 threads, whatever the machine has.

    OpenBLAS accepts more threads than cores, so 2 is a real, observable
    setting even on a one-core runner.
    """
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        assert set(_numpy_blas_threads()) == {2}
        yield


def test_caps_inside_the_block_and_restores_after(two_blas_threads):
    with limit_blas_threads(1) as n:
        assert n == 1
        assert set(_numpy_blas_threads()) == {1}
        # the maths is unchanged under the cap
        a = np.arange(12.0).reshape(3, 4)
        np.testing.assert_array_equal(a @ a.T, np.einsum("ij,kj->ik", a, a))
    assert set(_numpy_blas_threads()) == {2}


def test_restores_when_the_block_raises(two_blas_threads):
    with pytest.raises(RuntimeError, match="boom"):
        with limit_blas_threads(1):
            assert set(_numpy_blas_threads()) == {1}
            raise RuntimeError("boom")
    assert set(_numpy_blas_threads()) == {2}


def test_nested_caps_unwind_in_order(two_blas_threads):
    with limit_blas_threads(2):
        with limit_blas_threads(1):
            assert set(_numpy_blas_threads()) == {1}
        assert set(_numpy_blas_threads()) == {2}
    assert set(_numpy_blas_threads()) == {2}


def test_none_changes_nothing(two_blas_threads):
    with limit_blas_threads(None) as n:
        assert n is None
        assert set(_numpy_blas_threads()) == {2}


def test_usable_as_a_decorator(two_blas_threads):
    @limit_blas_threads(1)
    def inside():
        return _numpy_blas_threads()

    assert set(inside()) == {1}
    assert set(_numpy_blas_threads()) == {2}


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, [1]])
def test_bad_counts_are_config_errors(bad):
    with pytest.raises(deltarule.ConfigError, match="threads must be"):
        with limit_blas_threads(bad):
            pytest.fail("the block must not run")  # pragma: no cover


def test_check_threads_accepts_numpy_integers():
    assert check_threads(np.int64(3)) == 3
    assert type(check_threads(np.int64(3))) is int
    assert check_threads(None) is None


def test_missing_threadpoolctl_names_the_fix(monkeypatch):
    # a None entry in sys.modules makes `import threadpoolctl` raise ImportError
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)
    with pytest.raises(deltarule.ConfigError, match="pip install threadpoolctl"):
        with limit_blas_threads(1):
            pytest.fail("the block must not run")  # pragma: no cover
    with pytest.raises(deltarule.ConfigError, match="pip install threadpoolctl"):
        blas_threads()
    # the option check fails early too, so Trainer(threads=2) fails at once
    with pytest.raises(deltarule.ConfigError, match="pip install threadpoolctl"):
        check_threads(2)
    # None needs nothing installed
    assert check_threads(None) is None
    with limit_blas_threads(None) as n:
        assert n is None


def test_blas_threads_reports_numpys_pool(two_blas_threads):
    infos = blas_threads()
    assert infos, "NumPy's BLAS should be visible once NumPy is imported"
    assert {i["num_threads"] for i in infos} == {2}
    assert all(i["library"] for i in infos)
    with limit_blas_threads(1):
        assert {i["num_threads"] for i in blas_threads()} == {1}

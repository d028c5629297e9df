"""Capping the BLAS thread pool for a block of code.

NumPy's matrix products run in a BLAS library (OpenBLAS, MKL, BLIS, …) that
starts one thread per core.  For the small matrices of a mini-batch step the
threads' start-up and synchronisation can cost more than they save, and two
processes training side by side oversubscribe the cores.  A cap fixes both.

>>> import numpy as np
>>> from deltarule.threads import limit_blas_threads
>>> with limit_blas_threads(1):          # one BLAS thread inside the block
...     _ = np.ones((64, 64)) @ np.ones((64, 64))

``limit_blas_threads(None)`` changes nothing and needs nothing installed, so
a ``threads=None`` option can be passed straight through.  Any other value
needs :mod:`threadpoolctl` (``pip install threadpoolctl``, also pulled in by
``pip install "deltarule[bench]"``).  The cap is process-wide while the block
runs (BLAS pools are shared by every thread of the process) and the previous
sizes are restored on exit, also when the block raises.
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager
from typing import Iterator

from .errors import ConfigError

__all__ = ["blas_threads", "check_threads", "limit_blas_threads"]

_INSTALL_HINT = (
    "capping BLAS threads needs threadpoolctl, which is not installed; "
    "run `pip install threadpoolctl` (or `pip install \"deltarule[bench]\"`), "
    "or pass threads=None to leave the BLAS thread pool as it is"
)


def check_threads(n) -> int | None:
    """``n`` as an ``int ≥ 1``, or ``None``; a :class:`ConfigError` otherwise.

    A number also needs threadpoolctl: checking here lets a ``threads=``
    option fail when it is set, before any data is read, rather than when
    the run starts.
    """
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ConfigError(
            f"threads must be a whole number ≥ 1 (BLAS threads) or None, got {n!r}"
        )
    if n < 1:
        raise ConfigError(
            f"threads must be ≥ 1 (BLAS threads) or None to leave them as they are, "
            f"got {n!r}"
        )
    _threadpoolctl()
    return int(n)


def _threadpoolctl():
    try:
        import threadpoolctl
    except ImportError:
        raise ConfigError(_INSTALL_HINT) from None
    return threadpoolctl


@contextmanager
def limit_blas_threads(n) -> Iterator[int | None]:
    """Run the ``with`` block with at most ``n`` BLAS threads.

    ``n``: an ``int ≥ 1``, or ``None`` for no change (then threadpoolctl is
    not needed).  Every BLAS library loaded in the process (NumPy's, and
    SciPy's or scikit-learn's if loaded) is capped; OpenMP pools are left
    alone.  Yields ``n``.  Raises :class:`~deltarule.ConfigError` for an
    invalid ``n`` or, when ``n`` is not ``None``, if threadpoolctl is missing.
    """
    n = check_threads(n)
    if n is None:
        yield None
        return
    tpc = _threadpoolctl()
    with tpc.threadpool_limits(limits=n, user_api="blas"):
        yield n


def blas_threads() -> list[dict]:
    """The BLAS libraries loaded in this process and their current thread counts.

    One dict per library: ``{"library": "openblas", "version": ...,
    "num_threads": ..., "filepath": ...}``.  Needs threadpoolctl.
    """
    tpc = _threadpoolctl()
    return [
        {
            "library": info.get("internal_api"),
            "version": info.get("version"),
            "num_threads": info.get("num_threads"),
            "filepath": info.get("filepath"),
        }
        for info in tpc.threadpool_info()
        if info.get("user_api") == "blas"
    ]

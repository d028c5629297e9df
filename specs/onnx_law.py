"""The ``onnx-export`` law: an activation's ONNX lowering computes its ``forward``.

For every activation that declares ``lower_onnx(g, z)`` (docs/export.md),
the one-layer network ``z ↦ f(z)`` of width ``n`` (``W = I``, ``b = 0``, so
the graph's MatMul and Add are exact) is exported by
:func:`deltarule.to_onnx`, run by onnxruntime, and compared with NumPy's
``forward`` in the same dtype, float64 and float32::

    |onnx(z) − forward(z)| ≤ TOL · (1 + |forward(z)|)
    TOL = 1e-12 (float64), 1e-6 (float32)

``z`` is first a grid over the declared ``domain`` (401 points, with 0 and
the declared kinks, as one column and as rows of 4 units), then matrices of
1–6 rows × 1–6 units drawn by hypothesis from the domain.  Skipped, with the
reason, when the activation declares no lowering or when ``onnx`` or
``onnxruntime`` is not installed (``pip install 'deltarule[onnx]'``).

This module depends on nothing else in the suite: :mod:`deltarule.specs.checks`
registers :func:`check_onnx_export` as the activation law ``onnx-export`` and
:func:`applies` as its skip rule.
"""

from __future__ import annotations

import functools
import importlib

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deltarule.specs.profiles import quiet

TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-6}
CHECK = "onnx-export"
TITLE = ("the exported graph run by onnxruntime must equal forward(z) within "
         "1e-12·(1 + |f|) in float64 and 1e-6·(1 + |f|) in float32")
GRID_POINTS = 401


@functools.lru_cache(maxsize=1)
def missing_runtime() -> str | None:
    """Why the law cannot run here (onnx or onnxruntime missing), or None."""
    absent = []
    for module in ("onnx", "onnxruntime"):
        try:  # imported, not just found: a broken install counts as missing
            importlib.import_module(module)
        except ImportError:
            absent.append(module)
    if absent:
        return (f"{' and '.join(absent)} not installed, so exported graphs cannot be run; "
                "pip install 'deltarule[onnx]' to check ONNX lowerings")
    return None


def applies(act) -> str | None:
    """The reason to skip the law for ``act``, or None when it applies."""
    from deltarule.protocols import capabilities

    if not capabilities(act).lower_onnx:
        return ("declares no ONNX lowering (lower_onnx(g, z)), so models using it cannot "
                "be exported (docs/export.md)")
    return missing_runtime()


class _Mismatch(AssertionError):
    pass


def _session(proto):
    """An onnxruntime CPU session running ``proto`` on one thread, without spinning.

    The same graph and kernels as :func:`deltarule.export.session`; only the
    thread pool differs.  The law builds a dozen tiny sessions per activation:
    with the default pool (one spinning thread per core) each run of a
    few-element graph waits on the pool, which on a loaded two-core machine
    made this law the slowest of the suite (5 s instead of under 1 s).
    """
    from deltarule.export import require_onnxruntime

    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings on stderr from graph optimisations
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


class _Runner:
    """Exports and runs ``z ↦ f(z)`` per (dtype, width), once each."""

    def __init__(self, act):
        self.act = act
        self.sessions = {}

    def session(self, dtype, n):
        key = (np.dtype(dtype), n)
        if key not in self.sessions:
            import deltarule

            net = deltarule.Network([n, n], [self.act], [(np.eye(n), np.zeros(n))], dtype)
            try:
                proto = deltarule.to_onnx(net)
            except Exception as exc:
                raise _Mismatch(f"exporting the one-layer {np.dtype(dtype).name} network "
                                f"of width {n} failed: {type(exc).__name__}: {exc}") from None
            try:
                self.sessions[key] = _session(proto)
            except Exception as exc:  # e.g. an operator without a float64 kernel
                raise _Mismatch(
                    f"onnxruntime cannot run the exported {np.dtype(dtype).name} graph: "
                    f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}\n  (use "
                    "operators that onnxruntime implements for this dtype; "
                    "docs/export.md lists those the bundled lowerings use)") from None
        return self.sessions[key]

    def compare(self, z: np.ndarray) -> None:
        try:
            self._compare(z)
        except _Mismatch:
            raise
        except Exception as exc:  # forward or onnxruntime failed: a finding too
            raise _Mismatch(f"raised {type(exc).__name__}: {exc}\n  on z of shape "
                            f"{z.shape}: {np.array2string(z, precision=10)}") from None

    def _compare(self, z: np.ndarray) -> None:
        from deltarule.export import INPUT

        for dtype, tol in TOL.items():
            zt = z.astype(dtype)
            with np.errstate(all="ignore"):
                expected = np.asarray(self.act.forward(zt.copy()), dtype=np.float64)
            got = self.session(dtype, z.shape[1]).run(None, {INPUT: zt})[0]
            if got.shape != zt.shape:
                raise _Mismatch(f"{dtype.name}: the graph gave shape {got.shape} for z of "
                                f"shape {zt.shape}")
            got = got.astype(np.float64)
            bound = tol * (1.0 + np.abs(expected))
            bad = ~(np.abs(got - expected) <= bound) & ~(np.isnan(got) & np.isnan(expected))
            if bad.any():
                i = tuple(int(k) for k in np.argwhere(bad)[0])
                raise _Mismatch(
                    f"{dtype.name}, at z = {float(zt[i])!r} (entry {list(i)} of z, shape "
                    f"{zt.shape}):\n  onnxruntime gives {float(got[i])!r}\n"
                    f"  forward gives     {float(expected[i])!r}\n"
                    f"  |difference| = {abs(got[i] - expected[i]):.3g} > tolerance "
                    f"{bound[i]:.3g}")


def _grid(lo: float, hi: float, kinks) -> np.ndarray:
    points = np.linspace(lo, hi, GRID_POINTS)
    extra = [p for p in (0.0, *kinks) if lo <= p <= hi]
    return np.concatenate([points, np.asarray(extra, dtype=np.float64)])


def check_onnx_export(act, hsettings, *, domain=(-10.0, 10.0), kinks=()) -> str | None:
    """The law on ``act``: None if it holds, else the failure report.

    ``domain`` and ``kinks`` are the activation's declarations as the suite
    reads them; ``hsettings`` the hypothesis settings of the profile.
    """
    lo, hi = float(domain[0]), float(domain[1])
    runner = _Runner(act)
    grid = _grid(lo, hi, kinks)
    rows = -(-grid.size // 4)
    try:
        runner.compare(grid.reshape(-1, 1))
        runner.compare(np.resize(grid, rows * 4).reshape(rows, 4))
    except _Mismatch as exc:
        return f"on the grid over the domain ({lo!r}, {hi!r}):\n{exc}"

    elements = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    matrices = st.tuples(st.integers(1, 6), st.integers(1, 6)).flatmap(
        lambda s: hnp.arrays(np.float64, s, elements=elements))

    @quiet(hsettings)
    @given(matrices)
    def search(z):
        runner.compare(z)

    try:
        search()
    except _Mismatch as exc:
        return str(exc)
    return None

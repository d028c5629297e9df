"""Shared benchmark machinery: interleaved timing, statistics, tables, machine info.

Every benchmark is a list of :class:`Competitor`; :func:`interleave` runs them
round-robin in one process (the starting competitor rotates each round, so
no one always runs first after a garbage collection or a cold cache) and
keeps every run's wall time.  Figures are medians over rounds, with min–max.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@dataclass
class Competitor:
    """One contender: ``run()`` trains for ``epochs`` and returns a result dict.

    ``run`` does all the work it would do in real use (initialisation and the
    epochs; data already in the competitor's native format) and returns
    ``{"accuracy": ...}`` or ``{}``; the harness times the whole call.
    ``flops`` is the matrix-multiply FLOP count of one epoch (0 = not counted).
    """

    name: str
    run: Callable[[], dict]
    epochs: int
    flops: float = 0.0
    group: str = ""
    times: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    @property
    def per_epoch(self) -> list[float]:
        return [t / self.epochs for t in self.times]

    @property
    def median(self) -> float:
        return statistics.median(self.per_epoch)

    @property
    def lo(self) -> float:
        return min(self.per_epoch)

    @property
    def hi(self) -> float:
        return max(self.per_epoch)


def interleave(competitors: list[Competitor], rounds: int, *, warmup: bool = True,
               progress: Callable[[str], None] | None = None) -> list[Competitor]:
    """Run every competitor ``rounds`` times, round-robin; record wall times.

    One untimed warm-up round first (imports, BLAS thread start, allocator
    pools).  The last round's result dict is kept in ``competitor.extra``.
    """
    if warmup:
        for c in competitors:
            c.extra = dict(c.run() or {})
    k = len(competitors)
    for r in range(rounds):
        for j in range(k):
            c = competitors[(r + j) % k]
            gc.collect()
            t0 = time.perf_counter()
            out = c.run()
            c.times.append(time.perf_counter() - t0)
            c.extra = dict(out or {})
        if progress:
            progress(f"  round {r + 1}/{rounds}")
    return competitors


def ratio(a: Competitor | None, b: Competitor | None) -> float | None:
    """Median per-epoch time of ``a`` ÷ that of ``b``, or None if one is missing."""
    if a is None or b is None or not a.times or not b.times:
        return None
    return a.median / b.median


def ratio_spread(a: Competitor, b: Competitor) -> tuple[float, float]:
    """Min and max of the per-round ratios a/b (same round, so same conditions)."""
    rs = [x / y for x, y in zip(a.per_epoch, b.per_epoch)]
    return min(rs), max(rs)


def fmt_time(seconds: float) -> str:
    if seconds >= 1.0:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds * 1e6:.2f} µs"


def table(headers: list[str], rows: list[list], *, markdown: bool = False) -> str:
    """A plain-text (or Markdown) table with right-aligned numeric columns."""
    cells = [[("" if v is None else str(v)) for v in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h)
              for i, h in enumerate(headers)]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |",
                 "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in cells]
        return "\n".join(lines)
    sep = "  "
    lines = [sep.join(h.ljust(w) for h, w in zip(headers, widths)),
             sep.join("-" * w for w in widths)]
    for r in cells:
        lines.append(sep.join(
            (v.rjust(w) if i else v.ljust(w)) for i, (v, w) in enumerate(zip(r, widths))
        ))
    return "\n".join(lines)


def competitor_rows(competitors: list[Competitor], bound: dict | None = None) -> list[list]:
    """Table rows: name, median per epoch, min–max, accuracy, GFLOP/s, % of bound.

    ``bound`` maps a competitor's ``group`` to the achievable matmul time of
    one epoch at that group's shapes (seconds).
    """
    rows = []
    for c in competitors:
        if not c.times:
            rows.append([c.name, "skipped", c.extra.get("note", ""), "", "", ""])
            continue
        acc = c.extra.get("accuracy")
        gflops = (c.flops / c.median / 1e9) if c.flops else None
        frac = None
        if bound and c.group in bound and c.flops:
            frac = bound[c.group] / c.median
        rows.append([
            c.name,
            fmt_time(c.median),
            f"{fmt_time(c.lo)} – {fmt_time(c.hi)}",
            "" if acc is None else f"{acc:.4f}",
            "" if gflops is None else f"{gflops:.2f}",
            "" if frac is None else f"{100 * frac:.1f} %",
        ])
    return rows


COMPETITOR_HEADERS = ["competitor", "per epoch (median)", "min – max", "accuracy",
                      "GFLOP/s", "of matmul bound"]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> str:
    """The SIMD flags that matter for GEMM speed (avx2, fma, avx512f)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return " ".join(x for x in ("sse4_2", "avx", "avx2", "fma",
                                                "avx512f") if x in flags)
    except OSError:
        pass
    return "?"


def blas_description() -> str:
    """NumPy's BLAS library, its version, core type and thread count."""
    try:
        import threadpoolctl
    except ImportError:
        cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
        blas = (cfg or {}).get("Build Dependencies", {}).get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')} (threads: unknown)"
    np.ones((2, 2)) @ np.ones((2, 2))
    numpy_dir = os.path.dirname(np.__file__)
    parts = []
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") != "blas":
            continue
        owner = "numpy" if os.path.dirname(numpy_dir) in info["filepath"] and \
            "numpy" in info["filepath"] else os.path.basename(
                os.path.dirname(info["filepath"]))
        parts.append(
            f"{info.get('internal_api')} {info.get('version')} "
            f"[{info.get('architecture', '?')} kernels, {info.get('num_threads')} threads, "
            f"{owner}]"
        )
    return "; ".join(parts)


def numpy_blas_threads() -> int | None:
    """Threads of the BLAS pool NumPy's matmul uses right now (None if unknown)."""
    try:
        import threadpoolctl
    except ImportError:
        return None
    np.ones((2, 2)) @ np.ones((2, 2))
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in info["filepath"]:
            return info["num_threads"]
    counts = [i["num_threads"] for i in threadpoolctl.threadpool_info()
              if i.get("user_api") == "blas"]
    return counts[0] if counts else None


def machine_lines() -> list[str]:
    lines = [
        f"CPU: {cpu_model()} — {os.cpu_count()} logical cores visible, "
        f"SIMD: {cpu_flags()}",
        f"Python {platform.python_version()} ({platform.python_implementation()}), "
        f"NumPy {np.__version__}",
        f"BLAS: {blas_description()}",
    ]
    try:
        import sklearn

        lines.append(f"scikit-learn {sklearn.__version__}")
    except ImportError:
        lines.append("scikit-learn: not installed")
    try:
        import torch

        lines.append(f"PyTorch {torch.__version__} (intra-op threads "
                     f"{torch.get_num_threads()})")
    except ImportError:
        lines.append("PyTorch: not installed")
    return lines


def say(msg: str = "") -> None:
    print(msg, flush=True)


def require_deltarule() -> None:
    """Exit with the fix if deltarule is not installed (the benchmarks time it)."""
    try:
        import deltarule  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        sys.exit("deltarule is not importable: run `pip install -e .` in the "
                 "repository first (the benchmarks time the installed package)")

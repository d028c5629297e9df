"""Shared benchmark machinery: interleaved timing, statistics, tables, machine info.

Every benchmark is a list of :class:`Competitor`; :func:`interleave` runs them
round-robin in one process (the starting competitor rotates each round, so
no one always runs first after a garbage collection or a cold cache) and
keeps every run's wall time.  Figures are medians over rounds, with min–max.
"""

from __future__ import annotations

import contextlib
import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


@dataclass
class Competitor:
    """One contender: ``run()`` trains for ``epochs`` epochs.

    ``run`` does all the work it would do in real use (initialisation and the
    epochs; data already in the competitor's native format); the harness
    times the whole call.  ``evaluate(output of run)`` is called untimed after
    each run and returns a dict for the report (``{"accuracy": ...}``, final
    parameters, …).  ``flops`` is the matrix-multiply FLOP count of one epoch
    (0 = not counted); ``group`` names the shapes/dtype it shares with others.
    """

    name: str
    run: Callable[[], Any]
    epochs: int
    flops: float = 0.0
    group: str = ""
    evaluate: Callable[[Any], dict] | None = None
    context: Callable[[], Any] | None = None  # entered untimed around each run
    times: list = field(default_factory=list)
    extra: dict = field(default_factory=dict)

    def record(self, output) -> None:
        if self.evaluate is not None:
            self.extra = dict(self.evaluate(output))
        elif isinstance(output, dict):
            self.extra = dict(output)

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
            with (c.context() if c.context else contextlib.nullcontext()):
                c.record(c.run())
    k = len(competitors)
    for r in range(rounds):
        for j in range(k):
            c = competitors[(r + j) % k]
            gc.collect()
            with (c.context() if c.context else contextlib.nullcontext()):
                t0 = time.perf_counter()
                out = c.run()
                c.times.append(time.perf_counter() - t0)
            c.record(out)
        if progress:
            progress(f"  round {r + 1}/{rounds}")
    return competitors


class CpuMonitor:
    """How much CPU *other* processes used while a section ran.

    Reads ``/proc/stat`` (all CPU time of the machine) and ``/proc/self/stat``
    (this process, all its threads) at start and stop; the difference is the
    other processes' share, reported as average busy cores.  Anything well
    above 0 means the figures of that section were measured on a shared,
    busy machine.  Returns ``None`` where ``/proc`` is not available.
    """

    def __init__(self):
        self._t0 = self._busy0 = self._self0 = None
        self.others = None  # average cores used by other processes
        self.wall = None

    @staticmethod
    def _machine_busy() -> float | None:
        try:
            with open("/proc/stat") as f:
                parts = f.readline().split()[1:]
        except OSError:
            return None
        v = [int(x) for x in parts]
        # user nice system idle iowait irq softirq steal ...
        busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
        return busy / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _self_busy() -> float:
        t = os.times()
        # children count once waited for (subprocess.run does): ours, not others'
        return t.user + t.system + t.children_user + t.children_system

    def __enter__(self):
        self._t0 = time.perf_counter()
        self._busy0 = self._machine_busy()
        self._self0 = self._self_busy()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self._t0
        busy1 = self._machine_busy()
        if self._busy0 is not None and busy1 is not None and self.wall > 0:
            others = (busy1 - self._busy0) - (self._self_busy() - self._self0)
            self.others = max(0.0, others / self.wall)
        return False

    def describe(self) -> str:
        if self.others is None:
            return "other processes' CPU use: unknown (no /proc)"
        flag = "  <- BUSY MACHINE, figures unreliable" if self.others > 0.15 else ""
        return (f"other processes used {self.others:.2f} cores on average during "
                f"these {self.wall:.0f} s{flag}")


def machine_idle(seconds: float = 1.0) -> float | None:
    """Cores left idle over ``seconds`` (this process sleeps meanwhile)."""
    m = CpuMonitor()
    with m:
        time.sleep(seconds)
    if m.others is None:
        return None
    return (os.cpu_count() or 1) - m.others


def wait_for_quiet(max_wait: float, progress=None) -> float | None:
    """Wait (up to ``max_wait`` s) until other processes use < 0.1 core."""
    deadline = time.monotonic() + max_wait
    while True:
        idle = machine_idle(1.0)
        if idle is None:
            return None
        busy = (os.cpu_count() or 1) - idle
        if busy < 0.1 or time.monotonic() >= deadline:
            return busy
        if progress:
            progress(f"  waiting for a quiet machine: other processes use {busy:.2f} cores")
        time.sleep(4.0)


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


def source_revision() -> str:
    """The checkout's commit (``git rev-parse``), marked ``+dirty`` with local edits."""
    import subprocess

    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--",
                                "core", "plugins"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    if not rev:
        return "unknown (not a git checkout)"
    return rev + (" +uncommitted changes in core/ or plugins/" if dirty else "")


def machine_lines() -> list[str]:
    lines = [
        f"deltarule source: commit {source_revision()}",
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

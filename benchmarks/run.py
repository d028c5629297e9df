"""Every benchmark of issue 6 in one command, with the targets marked met / not met.

    python benchmarks/run.py            # the full run (a few minutes on 2 cores)
    python benchmarks/run.py --quick    # smoke run: few rounds, few epochs

Sections (``--only xor,digits,memory,threads`` picks some):

* ``xor``     — ``deltarule.train()`` against the document's two loops
  (``bench_xor.py``);
* ``digits``  — 64-128-10 on scikit-learn's digits: deltarule, hand-written
  NumPy, scikit-learn ``MLPClassifier``, PyTorch eager, and the matmul-only
  bound; mini-batch 32 and full batch; float64 and float32
  (``bench_digits.py``);
* ``memory``  — tracemalloc peaks after 10 and after 200 epochs
  (``bench_memory.py``);
* ``threads`` — 1 against 2 BLAS threads (``bench_threads.py``).

All competitors of a section run interleaved, round-robin, in this one
process; figures are medians per epoch with min–max over the rounds.  Each
section also reports how much CPU *other* processes took meanwhile: on a
shared machine a busy neighbour distorts everything, multi-threaded BLAS and
OpenMP most of all.  ``--wait-quiet 300`` waits up to five minutes for the
machine to go quiet before each section.  ``--threads N`` caps NumPy's BLAS
and PyTorch at N threads for the whole run (default: as the libraries start,
with PyTorch set to NumPy's BLAS thread count).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import (  # noqa: E402
    CpuMonitor,
    machine_lines,
    numpy_blas_threads,
    require_deltarule,
    say,
    table,
    wait_for_quiet,
)

SECTIONS = ("xor", "digits", "memory", "threads")


def _torch_threads(n):
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(n)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 2-3 rounds, few epochs (figures are rough)")
    p.add_argument("--rounds", type=int, default=None,
                   help="interleaved rounds per section (default 9 XOR, 7 others)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections among {', '.join(SECTIONS)}")
    p.add_argument("--threads", type=int, default=None,
                   help="cap NumPy's BLAS and PyTorch at N threads for the whole run")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--no-sklearn", action="store_true", help="leave scikit-learn out")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="SECONDS",
                   help="before each section wait up to SECONDS for other processes "
                        "to stop using the CPU")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    bad = sorted(set(only) - set(SECTIONS))
    if bad:
        p.error(f"unknown section(s) {bad}; choose among {', '.join(SECTIONS)}")
    require_deltarule()
    import deltarule
    from deltarule.threads import limit_blas_threads

    md = args.markdown
    t_start = time.perf_counter()
    say(f"deltarule {deltarule.__version__} benchmarks"
        + (" (QUICK: smoke-run figures, not for quoting)" if args.quick else ""))
    with limit_blas_threads(args.threads):
        threads = numpy_blas_threads()
        if threads and not args.no_torch:
            _torch_threads(threads)
        for line in machine_lines():
            say(f"  {line}")
        say(f"  command: python benchmarks/run.py {' '.join(argv or sys.argv[1:])}".rstrip())
        summary: list[list] = []

        def section(name):
            say("")
            say(f"== {name} " + "=" * max(0, 70 - len(name)))
            if args.wait_quiet:
                busy = wait_for_quiet(args.wait_quiet, progress=say)
                if busy is not None:
                    say(f"  other processes before the section: {busy:.2f} cores busy")

        if "xor" in only:
            import bench_xor as bx

            section("XOR: deltarule.train vs the document's loops")
            rounds, epochs = (3, 1000) if args.quick else (args.rounds or 9, 10000)
            mon = CpuMonitor()
            with mon:
                res = bx.measure(rounds, epochs)
            say(bx.report(res, markdown=md))
            say(mon.describe())
            for key, r in res["examples"].items():
                summary.append([f"XOR {key}: deltarule ÷ document loop (10 000 epochs)",
                                f"{r['ratio']:.3f}", "≤ 1.00",
                                "met" if r["ratio"] <= 1.0 else
                                f"NOT met ({r['ratio']:.2f}×)"])

        if "digits" in only:
            import bench_digits as bd

            section("digits 64-128-10")
            if args.quick:
                rounds, eb, ef = 2, 2, 10
            else:
                rounds, eb, ef = args.rounds or 7, 20, 100
            mon = CpuMonitor()
            with mon:
                res = bd.measure(rounds, eb, ef, progress=None,
                                 include_torch=not args.no_torch,
                                 include_sklearn=not args.no_sklearn)
            say(bd.report(res, markdown=md))
            say(mon.describe())
            for label, v, target, op in bd.ratios(res):
                if target is not None:
                    summary.append([label, "" if v is None else f"{v:.3f}",
                                    f"{op} {target:.2f}", bd.verdict(v, target, op)])

        if "memory" in only:
            import bench_memory as bm

            section("memory (tracemalloc)")
            late = 40 if args.quick else 200
            rows = bm.measure(late)
            say(bm.report(rows, markdown=md))
            worst = max(rows, key=lambda r: r["growth"])
            summary.append([f"memory: peak after {late} ÷ after 10 epochs − 1 "
                            f"(worst: {worst['case']})",
                            f"{100 * worst['growth']:+.2f} %", "≤ 5 %",
                            "met" if worst["growth"] <= bm.TOLERANCE else "NOT met"])

        if "threads" in only:
            import bench_threads as bt

            section("BLAS threads: 1 vs 2")
            if args.threads is not None:
                say("  (--threads given: the section sets its own caps inside it)")
            if args.quick:
                res = bt.measure(2, 2, 10)
            else:
                res = bt.measure(args.rounds or 7, 20, 100)
            say(bt.report(res, markdown=md))

        if summary:
            say("")
            say("== targets " + "=" * 62)
            say(table(["target", "measured", "target", "status"], summary, markdown=md))
    say(f"\n(total {time.perf_counter() - t_start:.0f} s)")
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        raise SystemExit(main())

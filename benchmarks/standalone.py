"""Cross-check of the interleaved figures: each competitor alone in a fresh process.

    python benchmarks/standalone.py [--runs 7]

The issue asks for interleaved runs in one process (``run.py``), which
shares one allocator and one set of BLAS threads between competitors.  That
is fair to machine noise but not to memory behaviour: a loop that allocates
large temporaries every step (the hand-written one) can profit from an
allocator already grown by earlier competitors.  Here every (competitor,
mode) pair runs in its own ``python`` subprocess: one warm-up, then ``--runs``
timed runs, median time per epoch.  Same data, model, weights and epochs as
``bench_digits.py`` (float64, 20 mini-batch / 100 full-batch epochs).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import CpuMonitor, fmt_time, require_deltarule, say, table  # noqa: E402

CHILD = r"""
import json, statistics, sys, time
sys.path.insert(0, {here!r})
import bench_digits as bd
which, mode, dtype, runs = {which!r}, {mode!r}, {dtype!r}, {runs!r}
batch = None if mode == "full" else bd.BATCH
lr, epochs = (bd.LR_FULL, 100) if batch is None else (bd.LR_BATCH, 20)
X, Y, *_ = bd.load_data()
init = bd.glorot_init()
head = "softmax" if bd.softmax_head_available() else "sigmoid"
make = bd.make_hand if which == "hand" else bd.make_deltarule
run, _ = make(X, Y, init, head=head, dtype=dtype, batch=batch, lr=lr, epochs=epochs)
run()
ts = []
for _ in range(runs):
    t = time.perf_counter(); run(); ts.append((time.perf_counter() - t) / epochs)
print(json.dumps({{"median": statistics.median(ts), "min": min(ts), "max": max(ts)}}))
"""


def measure(runs: int = 7, dtypes=("float64",)) -> list[dict]:
    here = os.path.dirname(os.path.abspath(__file__))
    rows = []
    for dtype in dtypes:
        for mode in ("mini-batch", "full"):
            res = {}
            for which in ("deltarule", "hand"):
                code = CHILD.format(here=here, which=which, mode=mode, dtype=dtype,
                                    runs=runs)
                out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                                     text=True, check=True)
                res[which] = json.loads(out.stdout.strip().splitlines()[-1])
            rows.append(dict(dtype=dtype, mode=mode, **res))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--float32", action="store_true", help="also float32")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    require_deltarule()
    mon = CpuMonitor()
    with mon:
        rows = measure(args.runs, ("float64", "float32") if args.float32 else ("float64",))
    out = []
    for r in rows:
        d, h = r["deltarule"], r["hand"]
        out.append([f"digits {r['mode']} {r['dtype']}", fmt_time(d["median"]),
                    fmt_time(h["median"]), f"{d['median'] / h['median']:.3f}"])
    say(table(["configuration (each in its own process)", "deltarule per epoch",
               "hand-written NumPy per epoch", "deltarule ÷ hand"], out,
              markdown=args.markdown))
    say(mon.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Memory: does a run grow per epoch?  Peak traced memory after 10 and after 200 epochs.

    python benchmarks/bench_memory.py [--epochs 200]

One run per case through ``Trainer.steps`` (the same run is observed at
epoch 10 and at the last epoch).  :mod:`tracemalloc` starts right before the
run, so the figures are what the run itself allocated: the private copy of
the data, the network, the workspaces, the loss logs (allocated once per
run, ``max_epochs`` entries, so they do not grow either).  NumPy reports its
array buffers to tracemalloc, so array allocations count too.  Target (issue
6): the peak after 200 epochs is within 5 % of the peak after 10.

An untimed warm-up run of the same length first makes sure one-off
allocations (imports, NumPy's and inspect's caches, CPython's free lists) are
not charged to the measured run.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import require_deltarule, say, table  # noqa: E402

TOLERANCE = 0.05


def _cases():
    from bench_digits import BATCH, LAYERS, LR_BATCH, LR_FULL, glorot_init, load_data

    X, Y, *_ = load_data()
    init = glorot_init()
    digits = dict(layers=list(LAYERS), activation=["sigmoid", "softmax"],
                  loss="cross_entropy", init=init, seed=0)
    xor_x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    xor_y = np.array([[1], [1], [0], [0]])
    return [
        ("XOR 2-3-1, defaults", xor_x, xor_y, dict(layers=[2, 3, 1], lr=0.1, seed=1)),
        (f"digits mini-batch {BATCH} f64", X, Y,
         dict(digits, lr=LR_BATCH, batch_size=BATCH)),
        (f"digits mini-batch {BATCH} f32", X, Y,
         dict(digits, lr=LR_BATCH, batch_size=BATCH, dtype="float32")),
        ("digits full batch f64", X, Y, dict(digits, lr=LR_FULL)),
    ]


def peaks(X, Y, options, marks=(10, 200)) -> dict:
    """``{epoch: (current, peak) bytes}`` at each epoch in ``marks`` of one run."""
    import deltarule

    last = max(marks)
    out = {}
    gc.collect()
    tracemalloc.start()
    try:
        trainer = deltarule.Trainer(**options, max_epochs=last)
        for state in trainer.steps(X, Y):
            if state.epoch in marks:
                out[state.epoch] = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out


def measure(epochs: int = 200, early: int = 10) -> list[dict]:
    rows = []
    for name, X, Y, opts in _cases():
        # warm-up as long as the measured run: CPython's free lists (tuples,
        # floats) and NumPy's small-block caches fill during the first ~100
        # epochs and then stay put; that one-off fill is not per-epoch growth
        peaks(X, Y, opts, marks=(early, epochs))
        p = peaks(X, Y, opts, marks=(early, epochs))
        (cur_a, peak_a), (cur_b, peak_b) = p[early], p[epochs]
        rows.append(dict(case=name, early=early, late=epochs, peak_early=peak_a,
                         peak_late=peak_b, cur_early=cur_a, cur_late=cur_b,
                         growth=(peak_b - peak_a) / peak_a,
                         per_epoch=(cur_b - cur_a) / (epochs - early)))
    return rows


def report(rows, *, markdown=False) -> str:
    out = []
    for r in rows:
        ok = r["growth"] <= TOLERANCE
        out.append([
            r["case"], f"{r['peak_early'] / 1024:.1f} KiB", f"{r['peak_late'] / 1024:.1f} KiB",
            f"{100 * r['growth']:+.2f} %", f"{r['per_epoch']:.1f} B",
            "met" if ok else f"NOT met ({100 * r['growth']:.1f} % > 5 %)",
        ])
    early, late = rows[0]["early"], rows[0]["late"]
    return table(["run", f"peak after {early} epochs", f"peak after {late} epochs",
                  "growth", "live bytes per extra epoch", "target ≤ 5 %"], out,
                 markdown=markdown)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--quick", action="store_true", help="10 vs 40 epochs")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    require_deltarule()
    epochs = 40 if args.quick else args.epochs
    say(report(measure(epochs), markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Many networks at once: ``train_many`` against one ``train()`` per seed.

    python benchmarks/bench_many.py [--rounds 3] [--quick] [--only xor,scaling,digits,dask]

``xor``      the document's 2-3-1 XOR (sigmoid, squared error, SGD lr 0.1),
             200 seeds × 10 000 epochs: one ``train_many`` run against 200
             sequential ``deltarule.train`` calls, interleaved in one process;
             the figure is the ratio of the medians (target ≥ 25×), and every
             model's parameters are checked against its single run.
``scaling``  the same network for 10, 100, 1 000 and 10 000 seeds: wall time
             per run, and time per model-epoch against the single run's time
             per epoch.
``digits``   scikit-learn's digits, 64-128-10 (sigmoid, softmax, cross
             entropy), mini-batches of 32, lr 0.5, 20 seeds: ``train_many``
             against 20 sequential runs.  Here the matrix products are big
             enough that BLAS, not Python, does most of the work, and every
             model still shuffles its own rows and gathers its own batches;
             the ratio says what stacking still saves.
``dask``     1 000 XOR seeds on a 2-worker ``LocalCluster`` (127.0.0.1)
             against the same ``train_many`` in this process, with the
             default chunking (one chunk per worker thread) and with four
             chunks per worker (the former default); the per-chunk overhead
             is ``(2 · T_dask − T_in-process) / chunks``, the marginal cost
             of a chunk ``2 · (T_8 chunks − T_2 chunks) / 6``.  The cluster
             starts before the timing (its start-up is printed apart).

Figures are medians over interleaved rounds (min – max beside them).  The
machine's other load changes them: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import (  # noqa: E402
    Competitor,
    fmt_time,
    interleave,
    ratio,
    ratio_spread,
    require_deltarule,
    say,
    table,
)

LR = 0.1
SECTIONS = ("xor", "scaling", "digits", "dask")
TARGET = 25.0


def _xor():
    from deltarule.datasets import xor

    return xor()


def _max_gap(many, singles) -> float:
    gap = 0.0
    for got, single in zip(many, singles):
        for (W, b), (W1, b1) in zip(got.params, single.params):
            gap = max(gap, float(np.abs(W - W1).max()), float(np.abs(b - b1).max()))
    return gap


def bench_xor(rounds: int, seeds: int, epochs: int):
    import deltarule

    X, y = _xor()
    opts = dict(layers=[2, 3, 1], lr=LR, max_epochs=epochs, entry_points=False)
    many = Competitor(f"train_many, {seeds} seeds", lambda: deltarule.train_many(
        X, y, seeds=range(seeds), **opts), epochs)
    seq = Competitor(f"{seeds} × train()", lambda: [
        deltarule.train(X, y, seed=s, **opts) for s in range(seeds)], epochs)
    interleave([many, seq], rounds, progress=say)
    gap = _max_gap(deltarule.train_many(X, y, seeds=range(seeds), **opts),
                   [deltarule.train(X, y, seed=s, **opts) for s in range(seeds)])
    r, (lo, hi) = ratio(seq, many), ratio_spread(seq, many)
    rows = [[c.name, fmt_time(c.median * epochs), fmt_time(c.lo * epochs),
             fmt_time(c.hi * epochs)] for c in (many, seq)]
    out = [table(["XOR 2-3-1", "median", "min", "max"], rows), "",
           f"sequential ÷ train_many: {r:.1f}× (per round {lo:.1f} – {hi:.1f}); "
           f"target ≥ {TARGET:.0f}×: {'met' if r >= TARGET else 'NOT met'}",
           f"max |θ_many − θ_single| over {seeds} models: {gap:.1e}"]
    single_epoch = seq.median / seeds  # one train() epoch
    return "\n".join(out), single_epoch


def bench_scaling(counts, epochs: int, single_epoch: float):
    import deltarule

    X, y = _xor()
    rows = []
    for n in counts:
        t = time.perf_counter()
        deltarule.train_many(X, y, seeds=range(n), layers=[2, 3, 1], lr=LR,
                             max_epochs=epochs, entry_points=False)
        dt = time.perf_counter() - t
        per = dt / (n * epochs)
        rows.append([f"{n}", fmt_time(dt), f"{per * 1e6:.2f} µs",
                     f"{single_epoch * 1e6:.2f} µs", f"{single_epoch / per:.1f}×"])
    return table(["seeds", f"train_many ({epochs} epochs)", "per model-epoch",
                  "train() per epoch", "speed-up"], rows)


def bench_digits(rounds: int, seeds: int, epochs: int):
    import deltarule
    from deltarule.datasets import digits

    X, Y = digits()
    opts = dict(layers=[64, 128, 10], activation=["sigmoid", "softmax"],
                loss="cross_entropy", lr=0.5, batch_size=32, max_epochs=epochs,
                entry_points=False)
    many = Competitor(f"train_many, {seeds} seeds", lambda: deltarule.train_many(
        X, Y, seeds=range(seeds), **opts), epochs)
    seq = Competitor(f"{seeds} × train()", lambda: [
        deltarule.train(X, Y, seed=s, **opts) for s in range(seeds)], epochs)
    interleave([many, seq], rounds, progress=say)
    r, (lo, hi) = ratio(seq, many), ratio_spread(seq, many)
    rows = [[c.name, fmt_time(c.median * epochs), fmt_time(c.lo * epochs),
             fmt_time(c.hi * epochs)] for c in (many, seq)]
    return "\n".join([table([f"digits 64-128-10, batch 32, {epochs} epochs", "median",
                             "min", "max"], rows), "",
                      f"sequential ÷ train_many: {r:.2f}× (per round {lo:.2f} – {hi:.2f})"])


def bench_dask(rounds: int, seeds: int, epochs: int, chunk_size: int | None):
    import deltarule
    from deltarule.distributed import cluster_threads, default_chunk_size, local_cluster

    X, y = _xor()
    opts = dict(layers=[2, 3, 1], lr=LR, max_epochs=epochs, entry_points=False)
    t0 = time.perf_counter()
    client = local_cluster(2)
    try:
        client.wait_for_workers(2, timeout=60)
        startup = time.perf_counter() - t0
        threads = cluster_threads(client)
        size = chunk_size or default_chunk_size(seeds, threads)
        chunks = -(-seeds // size)
        fine = max(1, -(-seeds // (4 * threads)))  # the former default: 4 chunks per worker
        fine_chunks = -(-seeds // fine)

        def on_cluster(n):
            return lambda: deltarule.train_many(X, y, seeds=range(seeds), client=client,
                                                chunk_size=n, **opts)
        keep = lambda out: {"result": out}  # noqa: E731 (the last round's models)
        dask = Competitor(f"Dask, 2 workers, {chunks} chunks", on_cluster(size), epochs,
                          evaluate=keep)
        dask_fine = Competitor(f"Dask, 2 workers, {fine_chunks} chunks", on_cluster(fine),
                               epochs)
        here = Competitor("in-process", lambda: deltarule.train_many(
            X, y, seeds=range(seeds), **opts), epochs, evaluate=keep)
        interleave([dask, dask_fine, here], rounds, progress=say)
        gap = _max_gap(dask.extra["result"], here.extra["result"])
    finally:
        client.close()
        client.cluster.close()
    r = ratio(here, dask)
    t_dask, t_fine, t_here = (c.median * epochs for c in (dask, dask_fine, here))
    overhead = (threads * t_dask - t_here) / chunks
    marginal = threads * (t_fine - t_dask) / (fine_chunks - chunks) \
        if fine_chunks > chunks else float("nan")
    rows = [[c.name, fmt_time(c.median * epochs), fmt_time(c.lo * epochs),
             fmt_time(c.hi * epochs)] for c in (dask, dask_fine, here)]
    return "\n".join([table([f"XOR, {seeds} seeds × {epochs} epochs", "median", "min",
                             "max"], rows), "",
                      f"in-process ÷ Dask ({chunks} chunks): {r:.2f}× "
                      f"(per round {ratio_spread(here, dask)[0]:.2f} – "
                      f"{ratio_spread(here, dask)[1]:.2f}); 2 workers on "
                      f"{os.cpu_count()} cores; in-process ÷ Dask ({fine_chunks} chunks): "
                      f"{ratio(here, dask_fine):.2f}×",
                      f"per-chunk overhead ≈ {fmt_time(max(overhead, 0.0))} "
                      f"(({threads}·T_dask − T_in-process) / {chunks} chunks); "
                      f"marginal cost of a chunk ≈ {fmt_time(marginal)} "
                      f"({threads}·(T_{fine_chunks} − T_{chunks}) / "
                      f"{fine_chunks - chunks} chunks)",
                      f"cluster start-up (not in the times): {fmt_time(startup)}",
                      f"max |θ_Dask − θ_in-process| over {seeds} models: {gap:.1e}"])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    p.add_argument("--quick", action="store_true",
                   help="small sizes, one round (checks that it runs; figures meaningless)")
    p.add_argument("--only", default=",".join(SECTIONS),
                   help=f"comma-separated sections ({', '.join(SECTIONS)})")
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    require_deltarule()
    if args.quick:
        rounds, xor_seeds, xor_epochs = 1, 20, 500
        counts, scale_epochs = (10, 100, 1000), 200
        digit_seeds, digit_epochs = 3, 2
        dask_seeds, dask_epochs = 200, 300
    else:
        rounds, xor_seeds, xor_epochs = args.rounds, 200, 10000
        counts, scale_epochs = (10, 100, 1000, 10000), 10000
        digit_seeds, digit_epochs = 20, 30
        dask_seeds, dask_epochs = 1000, 10000
    single_epoch = None
    if "xor" in only or "scaling" in only:
        say(f"== XOR: {xor_seeds} seeds × {xor_epochs} epochs, {rounds} round(s)")
        text, single_epoch = bench_xor(rounds, xor_seeds, xor_epochs)
        say(text if "xor" in only else "(timed for the scaling table)")
    if "scaling" in only:
        say(f"\n== scaling: XOR 2-3-1, {scale_epochs} epochs")
        say(bench_scaling(counts, scale_epochs, single_epoch))
    if "digits" in only:
        say(f"\n== digits: {digit_seeds} seeds × {digit_epochs} epochs, {rounds} round(s)")
        say(bench_digits(rounds, digit_seeds, digit_epochs))
    if "dask" in only:
        say(f"\n== Dask: {dask_seeds} XOR seeds × {dask_epochs} epochs, {rounds} round(s)")
        say(bench_dask(rounds, dask_seeds, dask_epochs, None))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

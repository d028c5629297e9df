"""BLAS threads: 1 against 2 on the digits mini-batch loop and on full batch.

    python benchmarks/bench_threads.py [--rounds 7] [--quick]

Each configuration runs under :func:`deltarule.threads.limit_blas_threads`
(entered outside the timed region), interleaved with the same configuration
at the other thread count, so both see the same machine.  PyTorch rows set
``torch.set_num_threads`` the same way.  The figure is time per epoch; the
ratio is 1 thread ÷ 2 threads (below 1: one thread is faster).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import (  # noqa: E402
    Competitor,
    CpuMonitor,
    fmt_time,
    interleave,
    require_deltarule,
    say,
    table,
)


@contextlib.contextmanager
def _threads(n, torch_too: bool):
    from deltarule.threads import limit_blas_threads

    if not torch_too:
        with limit_blas_threads(n):
            yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with limit_blas_threads(n):
            yield
    finally:
        torch.set_num_threads(before)


def measure(rounds: int = 7, epochs_batch: int = 20, epochs_full: int = 100,
            counts=(1, 2), progress=None) -> list[dict]:
    import bench_digits as bd

    data = bd.load_data()
    init = bd.glorot_init()
    head = "softmax" if bd.softmax_head_available() else "sigmoid"
    X, Y, _, _, labels = data
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    configs = []
    for mode, batch, lr, epochs in (("mini-batch 32", bd.BATCH, bd.LR_BATCH, epochs_batch),
                                    ("full batch", None, bd.LR_FULL, epochs_full)):
        for dt in ("float64", "float32"):
            short = dt.replace("float", "f")
            run, _ = bd.make_deltarule(X, Y, init, head=head, dtype=dt, batch=batch,
                                       lr=lr, epochs=epochs)
            configs.append((f"deltarule {mode} {short}", run, epochs, False))
        run, _ = bd.make_hand(X, Y, init, head=head, dtype="float64", batch=batch, lr=lr,
                              epochs=epochs)
        configs.append((f"hand-written NumPy {mode} f64", run, epochs, False))
        if have_torch:
            run, _ = bd.make_torch(X, labels, Y, init, head=head, dtype="float32",
                                   batch=batch, lr=lr, epochs=epochs)
            configs.append((f"PyTorch eager {mode} f32", run, epochs, True))
    comps = []
    for name, run, epochs, torch_too in configs:
        for n in counts:
            comps.append(Competitor(
                f"{name} | {n}", run, epochs, group=name,
                context=lambda n=n, t=torch_too: _threads(n, t)))
    mon = CpuMonitor()
    with mon:
        interleave(comps, rounds, progress=progress)
    rows = []
    for name, *_ in configs:
        per = {int(c.name.rsplit("| ", 1)[1]): c for c in comps if c.group == name}
        rows.append(dict(config=name, times={n: c for n, c in per.items()}))
    return {"rows": rows, "counts": counts, "monitor": mon, "head": head}


def report(res, *, markdown=False) -> str:
    counts = res["counts"]
    out = []
    for r in res["rows"]:
        t = r["times"]
        cells = [r["config"]] + [f"{fmt_time(t[n].median)} ({fmt_time(t[n].lo)} – "
                                 f"{fmt_time(t[n].hi)})" for n in counts]
        if len(counts) == 2:
            a, b = t[counts[0]].median, t[counts[1]].median
            cells.append(f"{a / b:.3f}")
            cells.append(f"{counts[0] if a < b else counts[1]} thread(s)")
        out.append(cells)
    headers = ["configuration"] + [f"{n} BLAS thread(s)" for n in counts]
    if len(counts) == 2:
        headers += [f"{counts[0]} ÷ {counts[1]}", "faster"]
    return table(headers, out, markdown=markdown) + "\n" + res["monitor"].describe()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--full-epochs", type=int, default=100)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    require_deltarule()
    if args.quick:
        args.rounds, args.epochs, args.full_epochs = 2, 2, 10
    res = measure(args.rounds, args.epochs, args.full_epochs, progress=say)
    say(report(res, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where does an epoch's time go?  deltarule's hot loop beside the hand-written one.

    python benchmarks/profile_loop.py [--threads 1] [--cprofile]

Two views, for XOR 2-3-1 (full batch of 4 rows, the document's loop) and for
digits 64-128-10 (sigmoid + softmax/cross-entropy, SGD; mini-batch 32 and
full batch):

1. **Per operation.**  deltarule's workspace is a flat list of argument-free
   operations (``Workspace.forward_ops``, ``loss_value``, ``backward_ops``)
   plus the row gather and the optimizer step.  They are replayed batch after
   batch with a clock read between operations, and each one's median cost is
   printed beside the corresponding statements of the hand-written loop,
   timed the same way.  "Python between ops" is the measured time of a real
   step minus the sum of the operations: loop, tuple unpacking, ``float()``,
   the per-epoch bookkeeping.  This view reads deltarule's internals
   (``deltarule.workspace.Workspace``); if they change shape it says so and
   only the second view runs.
2. **Per function** (``--cprofile``): the standard profiler's top entries.

Timings of single operations carry the ~60 ns of the clock read; they are
for finding where time goes, not for quoting as throughput.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import math
import os
import pstats
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import CpuMonitor, fmt_time, require_deltarule, say, table  # noqa: E402

clock = time.perf_counter


# ---------------------------------------------------------------------------
# naming operations
# ---------------------------------------------------------------------------
def _shape(a) -> str:
    if isinstance(a, np.ndarray):
        return "×".join(map(str, a.shape)) + ("ᵀ" if not a.flags.c_contiguous
                                             and a.ndim == 2 else "")
    if isinstance(a, float):
        return repr(a)
    return type(a).__name__


def describe(op) -> str:
    """A short name for an operation: ``dot(32×64, 64×128 → 32×128)``."""
    if isinstance(op, functools.partial):
        f = op.func
        name = getattr(f, "__qualname__", None) or getattr(f, "__name__", repr(f))
        if isinstance(f, np.ufunc):
            name = f.__name__
        elif hasattr(f, "__self__") and isinstance(f.__self__, np.ufunc):
            name = f"{f.__self__.__name__}.{f.__name__}"
        args = [_shape(a) for a in op.args]
        if op.keywords:
            args += [f"{k}={_shape(v)}" for k, v in op.keywords.items()]
        return f"{name}({', '.join(args)})"
    name = getattr(op, "__qualname__", None) or repr(op)
    return name.replace(".<locals>", "")


# ---------------------------------------------------------------------------
# replaying deltarule's step op by op
# ---------------------------------------------------------------------------
def deltarule_ops(X, Y, options, batch):
    """``(labels, ops, prepare)``: deltarule's per-batch operations, ready to replay.

    ``prepare(b)`` sets up batch ``b`` (not timed in the op list since the
    gather is listed as its own ops).  Raises ``LookupError`` if the
    internals this relies on are not there.
    """
    import deltarule
    from deltarule import workspace as dn

    needed = ("forward_ops", "loss_value", "backward_ops")
    trainer = deltarule.Trainer(**options, max_epochs=1)
    res = trainer.fit(X, Y)
    net, opt = res.network, trainer.optimizer
    loss = trainer.catalogue.resolve("losses", trainer.config["loss"])
    Xm = np.ascontiguousarray(X, dtype=net.dtype)
    Ym = np.ascontiguousarray(Y, dtype=net.dtype)
    n = len(Xm)
    rows = n if batch is None else batch
    ws = dn.Workspace(net, loss, rows)
    if not all(hasattr(ws, k) for k in needed):
        raise LookupError(f"deltarule.workspace.Workspace has no {needed}")
    params, grads = [net.theta], [net.grad]
    rng = np.random.default_rng(0)
    order = np.arange(n)
    state = {"idx": order[:rows]}

    def take_x():
        np.take(Xm, state["idx"], 0, ws.x)

    def take_y():
        np.take(Ym, state["idx"], 0, ws.y)

    def loss_value():
        return float(ws.loss_value())

    def opt_step():
        opt.step(params, grads)

    ops = []
    if batch is not None:
        ops += [("gather rows: take(X, idx) → x", take_x), ("gather rows: take(y, idx) → y", take_y)]
    else:
        np.copyto(ws.x, Xm)
        np.copyto(ws.y, Ym)
    ops += [(f"fwd {describe(op)}", op) for op in ws.forward_ops]
    fused = getattr(ws, "fused", None)
    ops.append((f"loss {describe(fused) if fused else describe(ws.loss_value)}",
                loss_value))
    ops += [(f"bwd {describe(op)}", op) for op in ws.backward_ops]
    ops.append((f"optimizer {type(opt).__name__}.step([θ ({net.theta.size},)])", opt_step))

    n_batches = 1 if batch is None else n // rows

    def prepare(b):
        if batch is None:
            return
        if b % n_batches == 0:
            rng.shuffle(order)
        start = (b % n_batches) * rows
        state["idx"] = order[start:start + rows]

    return ops, prepare


def replay(ops, prepare, steps: int) -> list[float]:
    """Median seconds per call of each op over ``steps`` replayed steps."""
    per = [[] for _ in ops]
    fns = [f for _, f in ops]
    for s in range(steps):
        prepare(s)
        t = clock()
        for i, f in enumerate(fns):
            f()
            t2 = clock()
            per[i].append(t2 - t)
            t = t2
    return [statistics.median(p) for p in per]


# ---------------------------------------------------------------------------
# the hand-written loops, statement by statement
# ---------------------------------------------------------------------------
def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def xor_document_ops():
    """The document's example-1 loop body, one op per statement."""
    rng = np.random.default_rng(1)
    s = dict(w1=rng.standard_normal((2, 3)), b1=rng.standard_normal(3),
             w2=rng.standard_normal((3, 1)), b2=rng.standard_normal(1),
             x=np.array([[0, 1], [1, 0], [1, 1], [0, 0]]),
             y=np.array([[1], [1], [0], [0]]), lr=0.1)

    def op(code):
        c = compile(code, "<document>", "exec")
        return code, lambda: exec(c, None, s)  # noqa: S102

    ops = [op(c) for c in (
        "z1 = np.dot(x, w1) + b1", "a1 = sigmoid(z1)", "z2 = np.dot(a1, w2) + b2",
        "y_hat = sigmoid(z2)", "error = y - y_hat",
        "delta2 = error * y_hat * (1 - y_hat)",
        "delta1 = np.dot(delta2, w2.T) * a1 * (1 - a1)",
        "w2 += lr * np.dot(a1.T, delta2)", "b2 += lr * np.sum(delta2, axis=0)",
        "w1 += lr * np.dot(x.T, delta1)", "b1 += lr * np.sum(delta1, axis=0)")]
    s.update(np=np, sigmoid=_sigmoid)
    return ops, (lambda b: None)


def _exec_overhead() -> float:
    """Median cost of exec()-ing an empty statement (subtracted from the above)."""
    c = compile("pass", "<x>", "exec")
    ns: dict = {}
    f = lambda: exec(c, None, ns)  # noqa: E731,S102
    return statistics.median(replay([("pass", f)], lambda b: None, 5000))


def digits_hand_ops(X, Y, init, lr, batch):
    """``batch=None``: full batch (no gather; ``x, y`` are the whole data)."""
    (W1, b1), (W2, b2) = [(W.copy(), b.copy()) for W, b in init]
    s = dict(X=X, Y=Y, W1=W1, b1=b1, W2=W2, b2=b2, lr=lr, np=np, idx=None, x=X, y=Y)
    n = len(X)
    rng = np.random.default_rng(0)
    order = np.arange(n)
    n_batches = 1 if batch is None else n // batch

    def prepare(b):
        if batch is None:
            return
        if b % n_batches == 0:
            rng.shuffle(order)
        start = (b % n_batches) * batch
        s["idx"] = order[start:start + batch]

    def op(code):
        c = compile(code, "<hand>", "exec")
        return code, lambda: exec(c, None, s)  # noqa: S102

    gather = ["x, y = X[idx], Y[idx]"] if batch is not None else []
    ops = [op(c) for c in gather + [
        "a1 = 1 / (1 + np.exp(-(x @ W1 + b1)))",
        "z2 = a1 @ W2 + b2", "e = np.exp(z2 - z2.max(axis=1, keepdims=True))",
        "y_hat = e / e.sum(axis=1, keepdims=True)", "d2 = (y_hat - y) / len(x)",
        "d1 = (d2 @ W2.T) * a1 * (1 - a1)", "W2 -= lr * (a1.T @ d2)",
        "b2 -= lr * d2.sum(axis=0)", "W1 -= lr * (x.T @ d1)", "b1 -= lr * d1.sum(axis=0)"]]
    return ops, prepare


# ---------------------------------------------------------------------------
# whole-step reference times
# ---------------------------------------------------------------------------
def per_step_time(run, epochs: int, steps_per_epoch: int, repeats: int = 5) -> float:
    run()  # warm-up: allocator pools, BLAS threads
    ts = []
    for _ in range(repeats):
        t = clock()
        run()
        ts.append(clock() - t)
    return statistics.median(ts) / (epochs * steps_per_epoch)


def breakdown(title, dr_ops, dr_prep, hand_ops, hand_prep, dr_step, hand_step,
              steps, exec_cost) -> str:
    dr_t = replay(dr_ops, dr_prep, steps)
    hand_t = [max(0.0, t - exec_cost) for t in replay(hand_ops, hand_prep, steps)]
    lines = [title, ""]
    rows = [[label, fmt_time(t)] for (label, _), t in zip(dr_ops, dr_t)]
    rows.append(["Σ operations", fmt_time(sum(dr_t))])
    rows.append(["measured step in deltarule.train (median)", fmt_time(dr_step)])
    rows.append(["→ Python between ops (loop, float(), stop hook, …)",
                 fmt_time(dr_step - sum(dr_t))])
    lines.append(table([f"deltarule: {len(dr_ops)} ops per step", "median per call"],
                       rows))
    lines.append("")
    rows = [[label, fmt_time(t)] for (label, _), t in zip(hand_ops, hand_t)]
    rows.append(["Σ statements", fmt_time(sum(hand_t))])
    rows.append(["measured step of the hand-written loop (median)", fmt_time(hand_step)])
    lines.append(table(["hand-written loop statement", "median per call"], rows))
    return "\n".join(lines)


def setup_costs() -> str:
    """Fixed cost of one run, paid before the first epoch (median of 30)."""
    import importlib.metadata as md

    import deltarule

    x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
    y = np.array([[1], [1], [0], [0]])

    def med(fn, n=30):
        ts = []
        for _ in range(n):
            t = clock()
            fn()
            ts.append(clock() - t)
        return statistics.median(ts)

    rows = [
        ["make_plugin_manager(entry_points=False): registering the bundled plugins",
         med(lambda: deltarule.make_plugin_manager(entry_points=False))],
        ["importlib.metadata.entry_points(group='deltarule'): the entry-point scan",
         med(lambda: md.entry_points(group="deltarule"))],
        ["Trainer([2, 3, 1]) (manager + catalogue + option checks)",
         med(lambda: deltarule.Trainer([2, 3, 1]))],
        ["deltarule.train(XOR, max_epochs=1): a whole one-epoch run",
         med(lambda: deltarule.train(x, y, layers=[2, 3, 1], max_epochs=1))],
    ]
    return table(["fixed cost per run", "median"], [[a, fmt_time(b)] for a, b in rows])


def kernel_alternatives() -> str:
    """Micro-benchmarks of cheaper kernels at the loop's shapes (float64).

    * bias folding: ``[a, 1] @ [W; b]`` (one dot) against ``a @ W`` then
      ``+ b``; ``[a, 1]ᵀ δ`` (one dot giving ∂W and ∂b) against ``aᵀ δ`` and
      ``Σ δ``;
    * the row gather: ``np.take(X, idx, 0, out)`` against the bound method
      ``X.take(idx, 0, out)``.
    """
    rng = np.random.default_rng(0)

    def med(fn, n=20000):
        blocks = []
        for _ in range(7):
            t = clock()
            for _ in range(n // 7):
                fn()
            blocks.append((clock() - t) / (n // 7))
        return statistics.median(blocks)

    rows = []
    for b, i, o in ((4, 2, 3), (4, 3, 1), (32, 64, 128), (32, 128, 10),
                    (1438, 64, 128), (1438, 128, 10)):
        x = rng.random((b, i))
        W, bias = rng.random((i, o)), rng.random(o)
        z, d = np.empty((b, o)), rng.random((b, o))
        xe = np.ones((b, i + 1))
        xe[:, :i] = x
        Wb = np.vstack([W, bias])
        gW, gb, gWb = np.empty((i, o)), np.empty(o), np.empty((i + 1, o))
        n = 20000 if b < 100 else 700
        sep_f = med(lambda: (np.dot(x, W, z), np.add(z, bias, z)), n)
        aug_f = med(lambda: np.dot(xe, Wb, z), n)
        sep_g = med(lambda: (np.dot(x.T, d, gW), np.add.reduce(d, 0, None, gb)), n)
        aug_g = med(lambda: np.dot(xe.T, d, gWb), n)
        rows.append([f"bias folding {b}×{i}→{o}: forward",
                     f"{fmt_time(sep_f)} → {fmt_time(aug_f)}"])
        rows.append([f"bias folding {b}×{i}→{o}: ∂W, ∂b",
                     f"{fmt_time(sep_g)} → {fmt_time(aug_g)}"])
    X = rng.random((1438, 64))
    idx = rng.permutation(1438)[:32]
    xb = np.empty((32, 64))
    bound = X.take
    rows.append(["row gather 32 of 1438×64: np.take → X.take (bound)",
                 f"{fmt_time(med(lambda: np.take(X, idx, 0, xb)))} → "
                 f"{fmt_time(med(lambda: bound(idx, 0, xb)))}"])
    return table(["alternative kernel (float64)", "as now → alternative"], rows)


def run_cprofile(fn, top: int = 15) -> str:
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    buf = io.StringIO()
    pstats.Stats(pr, stream=buf).sort_stats("tottime").print_stats(top)
    text = buf.getvalue()
    return "\n".join(line for line in text.splitlines()
                     if line.strip() and "Ordered by" not in line)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=None,
                   help="cap BLAS threads while profiling (default: leave as is)")
    p.add_argument("--steps", type=int, default=3000, help="replayed steps per view")
    p.add_argument("--cprofile", action="store_true", help="also print cProfile tops")
    p.add_argument("--alternatives", action="store_true",
                   help="also micro-benchmark cheaper kernels (bias folding, bound take)")
    args = p.parse_args(argv)
    require_deltarule()
    import deltarule
    from deltarule.threads import limit_blas_threads

    import bench_digits as bd
    import bench_xor as bx

    mon = CpuMonitor()
    with limit_blas_threads(args.threads), mon:
        say(setup_costs())
        say("")
        exec_cost = _exec_overhead()
        say(f"(exec() of a statement costs {fmt_time(exec_cost)}; subtracted from "
            "each hand-written statement)")
        # -- XOR ------------------------------------------------------------
        x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
        y = np.array([[1], [1], [0], [0]])
        xor_opts = dict(layers=[2, 3, 1], lr=0.1, seed=1)
        epochs = 10000

        def dr_xor():
            deltarule.train(x, y, max_epochs=epochs, **xor_opts)

        dr_step = per_step_time(dr_xor, epochs, 1)
        hand_step = per_step_time(lambda: bx.document_example_1(epochs), epochs, 1)
        hand_ops, hand_prep = xor_document_ops()
        try:
            ops, prep = deltarule_ops(x, y, xor_opts, None)
            say(breakdown("XOR 2-3-1, one epoch = one full-batch step of 4 rows",
                          ops, prep, hand_ops, hand_prep, dr_step, hand_step,
                          args.steps, exec_cost))
        except LookupError as exc:
            say(f"XOR per-operation view skipped: {exc}")
        say("")
        # -- digits ---------------------------------------------------------
        X, Y, *_ = bd.load_data()
        init = bd.glorot_init()
        head = "softmax" if bd.softmax_head_available() else "sigmoid"
        d_opts = dict(layers=list(bd.LAYERS), activation=["sigmoid", head],
                      loss=bd.deltarule_loss_spec(head), lr=bd.LR_BATCH,
                      batch_size=bd.BATCH, init=init, seed=0)
        d_epochs = 10
        run_dr, _ = bd.make_deltarule(X, Y, init, head=head, dtype="float64",
                                      batch=bd.BATCH, lr=bd.LR_BATCH, epochs=d_epochs)
        run_hand, _ = bd.make_hand(X, Y, init, head=head, dtype="float64",
                                   batch=bd.BATCH, lr=bd.LR_BATCH, epochs=d_epochs)
        steps_per_epoch = math.ceil(len(X) / bd.BATCH)
        dr_step = per_step_time(run_dr, d_epochs, steps_per_epoch)
        hand_step = per_step_time(run_hand, d_epochs, steps_per_epoch)
        hand_ops, hand_prep = digits_hand_ops(X, Y, init, bd.LR_BATCH, bd.BATCH)
        try:
            ops, prep = deltarule_ops(X, Y, d_opts, bd.BATCH)
            say(breakdown(f"digits 64-128-10 f64, mini-batch {bd.BATCH} "
                          f"(sigmoid + {head}), one step", ops, prep, hand_ops,
                          hand_prep, dr_step, hand_step, args.steps, exec_cost))
        except LookupError as exc:
            say(f"digits per-operation view skipped: {exc}")
        say("")
        f_opts = dict(d_opts, batch_size=None, lr=bd.LR_FULL)
        f_epochs = 100
        run_dr_f, _ = bd.make_deltarule(X, Y, init, head=head, dtype="float64",
                                        batch=None, lr=bd.LR_FULL, epochs=f_epochs)
        run_hand_f, _ = bd.make_hand(X, Y, init, head=head, dtype="float64",
                                     batch=None, lr=bd.LR_FULL, epochs=f_epochs)
        dr_step = per_step_time(run_dr_f, f_epochs, 1)
        hand_step = per_step_time(run_hand_f, f_epochs, 1)
        hand_ops, hand_prep = digits_hand_ops(X, Y, init, bd.LR_FULL, None)
        try:
            ops, prep = deltarule_ops(X, Y, f_opts, None)
            say(breakdown(f"digits 64-128-10 f64, full batch of {len(X)} rows "
                          f"(sigmoid + {head}), one step", ops, prep, hand_ops,
                          hand_prep, dr_step, hand_step, max(200, args.steps // 10),
                          exec_cost))
        except LookupError as exc:
            say(f"digits full-batch per-operation view skipped: {exc}")
        if args.cprofile:
            say("\ncProfile, XOR 2-3-1, 10 000 epochs (top by own time):")
            say(run_cprofile(dr_xor))
            say("\ncProfile, digits mini-batch, 10 epochs (top by own time):")
            say(run_cprofile(run_dr))
        if args.alternatives:
            say("\n" + kernel_alternatives())
    say("\n" + mon.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

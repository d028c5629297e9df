"""digits 64-128-10: deltarule against hand-written NumPy, scikit-learn and PyTorch.

    python benchmarks/bench_digits.py [--rounds 7] [--epochs 20] [--quick]

Data: scikit-learn's ``load_digits`` (1797 images of 8×8 pixels), features
scaled to [0, 1] by /16, one-hot targets, a fixed 80/20 split (1438 rows to
train on, 359 held out for the accuracy column).  Model: 64-128-10, sigmoid
hidden layer, softmax output, mean cross-entropy over the batch (δ_L =
(ŷ − y)/n), plain SGD without momentum or weight decay.  Every competitor
except scikit-learn starts from the same Glorot-uniform weights; deltarule
and the hand-written loop also shuffle with the same Generator stream, so
they must end at (nearly) the same weights — the report prints the gap.

Until the bundled catalogue has ``softmax`` and ``cross_entropy`` the model
falls back to a sigmoid output with mean squared error (½ Σ_k (ŷ−y)² / n);
scikit-learn cannot train that head and is then skipped.

Competitors (all in one process, interleaved round-robin, median per epoch):

* ``deltarule`` — ``deltarule.train(..., batch_size=32, max_epochs=N)``;
  time per epoch = whole call ÷ N (includes validation, plugin manager).
* ``hand-written NumPy`` — a good straightforward loop: per batch fancy-index
  the rows, forward, softmax, δ = (ŷ − y)/n, backward, update.  It does not
  compute the loss (deltarule does, every batch).
* ``scikit-learn`` — ``MLPClassifier(solver="sgd", momentum=0,
  nesterovs_momentum=False, batch_size=32, alpha=0, activation="logistic",
  hidden_layer_sizes=(128,), learning_rate_init=lr)``.  Primary figure:
  ``fit`` with ``max_iter=N`` (early stop disabled) ÷ N — one call running N
  epochs of sklearn's own loop, exactly like deltarule's measurement.  The
  ``partial_fit`` row (N calls, one epoch each) adds sklearn's per-call input
  validation and is shown for reference only.
* ``PyTorch eager`` — ``nn.Sequential(Linear, Sigmoid, Linear)``,
  ``F.cross_entropy``, ``optim.SGD``, ``zero_grad / backward / step`` per
  batch, ``torch.set_num_threads`` = NumPy's BLAS threads.
* ``matmul only`` — just the loop's five matrix products per batch, at the
  same shapes, dtype and Python call pattern (``np.dot(..., out=)``): the
  achievable matmul time of an epoch; "of matmul bound" = that ÷ the
  competitor's time.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import (  # noqa: E402
    COMPETITOR_HEADERS,
    Competitor,
    competitor_rows,
    interleave,
    numpy_blas_threads,
    require_deltarule,
    say,
    table,
)

LAYERS = (64, 128, 10)
BATCH = 32
LR_BATCH = 0.2     # mini-batch SGD on the mean loss
LR_FULL = 2.0      # full-batch gradient descent on the mean loss
SEED = 0


# ---------------------------------------------------------------------------
# data and shared initial weights
# ---------------------------------------------------------------------------
def load_data(seed: int = SEED):
    """``(X_train, Y_train, X_test, y_test_labels, y_train_labels)``, float64.

    X: ``(n, 64)`` in [0, 1]; Y: ``(n, 10)`` one-hot.
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    X = d.data.astype(np.float64) / 16.0
    labels = d.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = len(X) // 5
    test, train = order[:n_test], order[n_test:]
    Y = np.eye(10)[labels]
    return X[train], Y[train], X[test], labels[test], labels[train]


def glorot_init(layers=LAYERS, seed: int = SEED):
    """Glorot-uniform weights (scikit-learn's rule for logistic units), zero biases.

    ``W_l ~ U(−s, s)``, ``s = sqrt(6 / (n_in + n_out))``… times √2 as sklearn
    does for ``activation="logistic"``; ``b_l`` likewise.  Returns
    ``[(W1, b1), (W2, b2)]`` float64, ``W_l`` shape ``(n_in, n_out)``.
    """
    rng = np.random.default_rng(seed + 1)
    out = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        s = np.sqrt(2.0 * 6.0 / (n_in + n_out))
        out.append((rng.uniform(-s, s, (n_in, n_out)), rng.uniform(-s, s, n_out)))
    return out


def batch_sizes(n: int, batch: int | None) -> list[int]:
    if batch is None or batch >= n:
        return [n]
    return [batch] * (n // batch) + ([n % batch] if n % batch else [])


def matmul_flops(n: int, batch: int | None, layers=LAYERS) -> float:
    """Matrix-multiply FLOPs of one epoch (2 m n k per product).

    Per batch of b rows: forward ``a_{l-1} W_l`` for every layer, ``∂W_l =
    a_{l-1}ᵀ δ_l`` for every layer, ``δ_{l+1} W_{l+1}ᵀ`` for every layer but
    the first: ``2 b (3 Σ n_{l-1} n_l − n_0 n_1)``; summed over batches the
    epoch is the same with ``b = n``.
    """
    s = sum(a * b for a, b in zip(layers[:-1], layers[1:]))
    return 2.0 * n * (3 * s - layers[0] * layers[1])


def softmax_head_available() -> bool:
    import deltarule

    cat = deltarule.make_plugin_manager(entry_points=False).catalogue()
    return "softmax" in cat.names("activations") and "cross_entropy" in cat.names("losses")


def deltarule_loss_spec(head: str):
    """The loss option giving a mean over the batch (so lr means what it does in sklearn)."""
    import deltarule

    name = "cross_entropy" if head == "softmax" else "mse"
    cat = deltarule.make_plugin_manager(entry_points=False).catalogue()
    loss = cat.get("losses", name)
    opts = loss.options() if callable(getattr(loss, "options", None)) else {}
    if "reduction" in opts:
        return (name, {"reduction": "mean"})
    if getattr(loss, "reduction", "mean") != "mean":
        raise SystemExit(f"deltarule's {name!r} has no mean reduction; cannot compare")
    return name


# ---------------------------------------------------------------------------
# competitors
# ---------------------------------------------------------------------------
def make_deltarule(X, Y, init, *, head, dtype, batch, lr, epochs):
    import deltarule

    acts = ["sigmoid", head]
    loss = deltarule_loss_spec(head)

    def run():
        return deltarule.train(X, Y, layers=list(LAYERS), activation=acts, loss=loss,
                               optimizer="sgd", lr=lr, batch_size=batch,
                               max_epochs=epochs, seed=SEED, init=init, dtype=dtype)

    def params(res):
        return [(W.astype(np.float64), b.astype(np.float64)) for W, b in res.params]

    return run, params


def make_hand(X, Y, init, *, head, dtype, batch, lr, epochs):
    """A good, straightforward NumPy loop.

    Shuffles with ``rng.permutation(n)`` every epoch from the run's seed, which
    is the stream deltarule draws too (it reshuffles ``arange(n)``), so both
    end at the same weights up to rounding; the report prints the gap as a
    check that both did the same work.  A large gap means the streams went
    apart (timing is unaffected).
    """
    dt = np.dtype(dtype)
    Xd, Yd = X.astype(dt), Y.astype(dt)
    n = len(Xd)
    bsz = n if batch is None else batch
    softmax = head == "softmax"

    def run():
        (W1, b1), (W2, b2) = [(W.astype(dt), b.astype(dt)) for W, b in init]
        rng = np.random.default_rng(SEED)
        for _ in range(epochs):
            if bsz < n:
                order = rng.permutation(n)
            for s in range(0, n, bsz):
                if bsz < n:
                    idx = order[s:s + bsz]
                    x, y = Xd[idx], Yd[idx]
                else:
                    x, y = Xd, Yd
                a1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
                z2 = a1 @ W2 + b2
                if softmax:
                    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
                    y_hat = e / e.sum(axis=1, keepdims=True)
                    d2 = (y_hat - y) / len(x)
                else:
                    y_hat = 1 / (1 + np.exp(-z2))
                    d2 = (y_hat - y) / len(x) * y_hat * (1 - y_hat)
                d1 = (d2 @ W2.T) * a1 * (1 - a1)
                W2 -= lr * (a1.T @ d2)
                b2 -= lr * d2.sum(axis=0)
                W1 -= lr * (x.T @ d1)
                b1 -= lr * d1.sum(axis=0)
        return [(W1, b1), (W2, b2)]

    def params(out):
        return [(W.astype(np.float64), b.astype(np.float64)) for W, b in out]

    return run, params


def make_matmul_only(X, init, *, dtype, batch, epochs=1):
    """The five matrix products of every batch of ``epochs`` epochs, nothing else."""
    dt = np.dtype(dtype)
    n = len(X)
    sizes = batch_sizes(n, batch)
    (W1, _), (W2, _) = [(W.astype(dt), b.astype(dt)) for W, b in init]
    W2T = W2.T
    bufs = {}
    for b in set(sizes):
        x = np.ascontiguousarray(X[:b], dtype=dt)
        bufs[b] = dict(
            x=x, xT=x.T, z1=np.empty((b, 128), dt), a1T=None,
            z2=np.empty((b, 10), dt), g1=np.empty((b, 128), dt),
            g2=np.full((b, 10), 0.01, dt),
            gW1=np.empty_like(W1), gW2=np.empty_like(W2),
        )
        bufs[b]["a1"] = bufs[b]["z1"]
        bufs[b]["a1T"] = bufs[b]["z1"].T
    dot = np.dot

    plan = [bufs[b] for b in sizes] * epochs

    def run():
        for B in plan:
            dot(B["x"], W1, B["z1"])
            dot(B["a1"], W2, B["z2"])
            dot(B["g2"], W2T, B["g1"])
            dot(B["a1T"], B["g2"], B["gW2"])
            dot(B["xT"], B["g1"], B["gW1"])
        return None

    return run


def make_sklearn(X, labels, *, batch, lr, epochs, mode):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    classes = np.arange(10)

    def new():
        return MLPClassifier(
            hidden_layer_sizes=(LAYERS[1],), activation="logistic", solver="sgd",
            alpha=0.0, batch_size=batch, learning_rate="constant",
            learning_rate_init=lr, momentum=0.0, nesterovs_momentum=False,
            shuffle=True, random_state=SEED, max_iter=epochs, tol=0.0,
            n_iter_no_change=epochs + 1, early_stopping=False,
        )

    def run_fit():
        clf = new()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(X, labels)
        assert clf.n_iter_ == epochs, clf.n_iter_
        return clf

    def run_partial():
        clf = new()
        clf.partial_fit(X, labels, classes=classes)
        for _ in range(epochs - 1):
            clf.partial_fit(X, labels)
        return clf

    return run_fit if mode == "fit" else run_partial


def make_torch(X, labels, Y, init, *, head, dtype, batch, lr, epochs):
    import torch

    tdt = {"float64": torch.float64, "float32": torch.float32}[dtype]
    Xt = torch.from_numpy(X).to(tdt)
    Tt = torch.from_numpy(labels) if head == "softmax" else torch.from_numpy(Y).to(tdt)
    n = len(Xt)
    bsz = n if batch is None else batch
    F = torch.nn.functional

    def loss_fn(out, t):
        if head == "softmax":
            return F.cross_entropy(out, t)
        return 0.5 * ((out - t) ** 2).sum() / len(t)

    def run():
        layers = [torch.nn.Linear(LAYERS[0], LAYERS[1]), torch.nn.Sigmoid(),
                  torch.nn.Linear(LAYERS[1], LAYERS[2])]
        if head != "softmax":
            layers.append(torch.nn.Sigmoid())
        model = torch.nn.Sequential(*layers).to(tdt)
        with torch.no_grad():
            for lin, (W, b) in zip((model[0], model[2]), init):
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
        opt = torch.optim.SGD(model.parameters(), lr=lr)
        g = torch.Generator().manual_seed(SEED)
        for _ in range(epochs):
            if bsz < n:
                perm = torch.randperm(n, generator=g)
                for s in range(0, n, bsz):
                    idx = perm[s:s + bsz]
                    opt.zero_grad(set_to_none=True)
                    loss = loss_fn(model(Xt[idx]), Tt[idx])
                    loss.backward()
                    opt.step()
            else:
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xt), Tt)
                loss.backward()
                opt.step()
        return model

    def params(model):
        return [(model[i].weight.detach().double().numpy().T.copy(),
                 model[i].bias.detach().double().numpy().copy()) for i in (0, 2)]

    return run, params


def _forward(params, X):
    (W1, b1), (W2, b2) = params
    a1 = 1 / (1 + np.exp(-(X @ W1 + b1)))
    return a1 @ W2 + b2


def _accuracy_from_params(params, X_test, y_test):
    return float(np.mean(_forward(params, X_test).argmax(1) == y_test))


def torch_available() -> tuple[bool, str]:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False, "PyTorch not installed (pip install torch to include it)"
    return True, ""


def sklearn_head_ok(head: str) -> tuple[bool, str]:
    if head != "softmax":
        return False, "sigmoid+MSE head: MLPClassifier always uses softmax + log-loss"
    return True, ""


def competitors(data, init, *, head, batch, lr, epochs, dtypes=("float64", "float32"),
                include_sklearn=True, include_torch=True) -> list[Competitor]:
    """The competitor list for one batch mode (``batch=None`` = full batch)."""
    X, Y, X_test, y_test, labels = data
    n = len(X)
    flops = matmul_flops(n, batch)
    mode = "mini-batch" if batch else "full batch"
    comps: list[Competitor] = []

    def acc_eval(params_fn):
        def evaluate(out):
            p = params_fn(out)
            return {"accuracy": _accuracy_from_params(p, X_test, y_test), "params": p}
        return evaluate

    for dt in dtypes:
        short = dt.replace("float", "f")
        group = f"{mode} {short}"
        run, pfn = make_deltarule(X, Y, init, head=head, dtype=dt, batch=batch, lr=lr,
                                  epochs=epochs)
        comps.append(Competitor(f"deltarule {short}", run, epochs, flops, group,
                                acc_eval(pfn)))
        run, pfn = make_hand(X, Y, init, head=head, dtype=dt, batch=batch, lr=lr,
                             epochs=epochs)
        comps.append(Competitor(f"hand-written NumPy {short}", run, epochs, flops, group,
                                acc_eval(pfn)))
        if include_torch:
            ok, note = torch_available()
            if ok:
                run, pfn = make_torch(X, labels, Y, init, head=head, dtype=dt,
                                      batch=batch, lr=lr, epochs=epochs)
                comps.append(Competitor(f"PyTorch eager {short}", run, epochs, flops,
                                        group, acc_eval(pfn)))
            else:
                comps.append(Competitor(f"PyTorch eager {short}", lambda: None, epochs,
                                        extra={"note": note}))
        comps.append(Competitor(f"matmul only {short}",
                                make_matmul_only(X, init, dtype=dt, batch=batch,
                                                 epochs=epochs),
                                epochs, flops, group))
    if include_sklearn and batch:
        ok, note = sklearn_head_ok(head)
        for m in ("fit", "partial_fit"):
            name = f"scikit-learn f64 ({'fit, max_iter=N' if m == 'fit' else 'partial_fit ×N'})"
            if ok:
                def sk_eval(clf):
                    return {"accuracy": float(np.mean(clf.predict(X_test) == y_test))}
                comps.append(Competitor(
                    name, make_sklearn(X, labels, batch=batch, lr=lr, epochs=epochs,
                                       mode=m),
                    epochs, flops, f"{mode} f64", sk_eval))
            else:
                comps.append(Competitor(name, lambda: None, epochs, extra={"note": note}))
    return comps


def measure(rounds: int = 7, epochs_batch: int = 20, epochs_full: int = 100,
            progress=None, include_torch=True, include_sklearn=True) -> dict:
    """Mini-batch and full-batch comparisons; returns competitors and ratios."""
    data = load_data()
    init = glorot_init()
    head = "softmax" if softmax_head_available() else "sigmoid"
    threads = numpy_blas_threads()
    if include_torch and torch_available()[0]:
        import torch

        if threads:
            torch.set_num_threads(threads)
    results = {"head": head, "threads": threads, "rounds": rounds,
               "epochs_batch": epochs_batch, "epochs_full": epochs_full,
               "n_train": len(data[0])}
    for key, batch, lr, epochs in (("batch", BATCH, LR_BATCH, epochs_batch),
                                   ("full", None, LR_FULL, epochs_full)):
        comps = competitors(data, init, head=head, batch=batch, lr=lr, epochs=epochs,
                            include_sklearn=include_sklearn, include_torch=include_torch)
        runnable = [c for c in comps if "note" not in c.extra]
        if progress:
            progress(f"{key}: {len(runnable)} competitors, {rounds} rounds")
        interleave(runnable, rounds, progress=progress)
        results[key] = comps
    return results


def _by_name(comps):
    return {c.name: c for c in comps if c.times}


def bounds(comps) -> dict:
    """group → achievable matmul seconds per epoch (the 'matmul only' median)."""
    return {c.group: c.median for c in comps if c.name.startswith("matmul only") and c.times}


def param_gap(a, b) -> float | None:
    if a is None or b is None or "params" not in a.extra or "params" not in b.extra:
        return None
    return max(float(np.max(np.abs(p - q)))
               for (Wa, ba), (Wb, bb) in zip(a.extra["params"], b.extra["params"])
               for p, q in ((Wa, Wb), (ba, bb)))


def ratios(results) -> list[tuple[str, float | None, float | None, str]]:
    """(label, measured ratio, target, comparison) rows for the targets table."""
    from _harness import ratio

    b = _by_name(results["batch"])
    f = _by_name(results["full"])
    get = lambda d, k: d.get(k)  # noqa: E731
    rows = [
        ("mini-batch f64: deltarule ÷ hand-written NumPy",
         ratio(get(b, "deltarule f64"), get(b, "hand-written NumPy f64")), 1.0, "≤"),
        ("mini-batch f32: deltarule ÷ hand-written NumPy",
         ratio(get(b, "deltarule f32"), get(b, "hand-written NumPy f32")), None, ""),
        ("mini-batch f64: deltarule ÷ scikit-learn (fit)",
         ratio(get(b, "deltarule f64"), get(b, "scikit-learn f64 (fit, max_iter=N)")),
         1 / 2.5, "≤"),
        ("mini-batch f64: deltarule ÷ scikit-learn (partial_fit)",
         ratio(get(b, "deltarule f64"), get(b, "scikit-learn f64 (partial_fit ×N)")),
         None, ""),
        ("mini-batch f64: deltarule ÷ PyTorch eager",
         ratio(get(b, "deltarule f64"), get(b, "PyTorch eager f64")), 1.0, "<"),
        ("mini-batch f32: deltarule ÷ PyTorch eager",
         ratio(get(b, "deltarule f32"), get(b, "PyTorch eager f32")), 1.0, "<"),
        ("mini-batch: deltarule f32 ÷ f64",
         ratio(get(b, "deltarule f32"), get(b, "deltarule f64")), 0.7, "≤"),
        ("full batch f32: deltarule ÷ PyTorch eager",
         ratio(get(f, "deltarule f32"), get(f, "PyTorch eager f32")), 1.2, "≤"),
        ("full batch f64: deltarule ÷ PyTorch eager",
         ratio(get(f, "deltarule f64"), get(f, "PyTorch eager f64")), None, ""),
        ("full batch f32: deltarule ÷ hand-written NumPy",
         ratio(get(f, "deltarule f32"), get(f, "hand-written NumPy f32")), None, ""),
        ("full batch: deltarule f32 ÷ f64",
         ratio(get(f, "deltarule f32"), get(f, "deltarule f64")), None, ""),
    ]
    return rows


def verdict(value, target, op) -> str:
    if value is None:
        return "not measured"
    if target is None:
        return "(reference)"
    ok = value <= target if op == "≤" else value < target
    if ok:
        return "met"
    return f"NOT met ({value / target:.2f}× the target)"


def report(results, *, markdown=False) -> str:
    head = results["head"]
    lines = []
    model = ("softmax + cross-entropy (mean)" if head == "softmax"
             else "FALLBACK sigmoid output + squared error (mean): softmax/cross_entropy "
                  "not in the catalogue yet")
    lines.append(f"model 64-128-10, sigmoid hidden, {model}; {results['n_train']} "
                 f"training rows; BLAS threads {results['threads']}")
    for key, title, epochs in (("batch", f"mini-batch {BATCH}, lr {LR_BATCH}",
                                results["epochs_batch"]),
                               ("full", f"full batch, lr {LR_FULL}",
                                results["epochs_full"])):
        comps = results[key]
        lines.append("")
        lines.append(f"{title}, {epochs} epochs per run, {results['rounds']} rounds")
        lines.append(table(COMPETITOR_HEADERS, competitor_rows(comps, bounds(comps)),
                           markdown=markdown))
        by = _by_name(comps)
        for dt in ("f64", "f32"):
            gap = param_gap(by.get(f"deltarule {dt}"), by.get(f"hand-written NumPy {dt}"))
            if gap is not None:
                lines.append(f"  max |θ_deltarule − θ_hand| {dt}: {gap:.2e}")
    lines.append("")
    rows = [[label, "" if v is None else f"{v:.3f}",
             "" if t is None else f"{op} {t:.2f}", verdict(v, t, op)]
            for label, v, t, op in ratios(results)]
    lines.append(table(["ratio (median per epoch)", "measured", "target", "status"],
                       rows, markdown=markdown))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--epochs", type=int, default=20, help="mini-batch epochs per run")
    p.add_argument("--full-epochs", type=int, default=100, help="full-batch epochs per run")
    p.add_argument("--quick", action="store_true", help="2 rounds, 2 / 10 epochs")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    require_deltarule()
    if args.quick:
        args.rounds, args.epochs, args.full_epochs = 2, 2, 10
    res = measure(args.rounds, args.epochs, args.full_epochs, progress=say,
                  include_torch=not args.no_torch, include_sklearn=not args.no_sklearn)
    say(report(res, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

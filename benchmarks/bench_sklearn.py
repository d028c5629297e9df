"""deltarule.sklearn against scikit-learn's MLP, same parameters, per epoch.

    python benchmarks/bench_sklearn.py [--rounds 7] [--epochs 30] [--quick]
                                       [--threads N] [--markdown]

For each workload the drop-in (``deltarule.sklearn.MLPClassifier`` /
``MLPRegressor``) and scikit-learn's estimator get the *same* constructor
parameters, with the no-improvement stop switched off (``tol=0``,
``n_iter_no_change=epochs + 1``) so both run exactly ``epochs`` epochs of
``fit``.  Time per epoch = the whole ``fit`` call ÷ ``n_iter_`` (so input
validation, initialisation and the plugin manager are included).  Both run
in one process, interleaved round-robin (the first competitor rotates every
round, one untimed warm-up round); figures are medians over rounds, the
ratio column is scikit-learn ÷ deltarule (> 1: the drop-in is faster) with
the min–max of the per-round ratios.  The score column is the held-out score
(accuracy or R²) of the last round.

A second table splits a fit's time: a 1-epoch fit of each estimator
(timed in the same rounds) is its fixed cost plus one epoch, and
``(T_epochs − T_1) ÷ (epochs − 1)`` (``T`` the median time of the whole
fit) is the cost of each epoch after the first.

Workloads (features standardised except digits, which is /16):

* digits, defaults — 1797×64, 10 classes: ``hidden_layer_sizes=(100,)``,
  relu, adam, ``batch_size="auto"`` (200), ``alpha=1e-4``;
* digits, sgd — the same with ``solver="sgd"`` (Nesterov momentum 0.9),
  ``learning_rate_init=0.01``, ``batch_size=32``;
* moons, defaults — 2000×2, two classes (one logistic output);
* moons, tanh — the same with ``(50, 50)`` tanh layers: NumPy's ``tanh`` is
  slow (about 30 ns an element here), both estimators spend most of an
  epoch in it, and the ratio is smallest;
* friedman1 — 2000×10 regression, defaults.

A third row per workload, *shared work*, times only what both estimators must
compute whatever their overhead: per batch, the matrix products of the
forward and backward passes (``a W``, ``aᵀ δ``, ``δ Wᵀ``) and NumPy's hidden
activation (``tanh``, or ``max(z, 0)`` in its fastest form, against an array
of zeros) at the same shapes, batch sizes and epochs.  ``scikit-learn ÷ shared work`` is then the largest ratio any
implementation calling the same BLAS and ``tanh`` could reach against
scikit-learn on that workload.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import (  # noqa: E402
    Competitor,
    CpuMonitor,
    fmt_time,
    interleave,
    machine_lines,
    ratio_spread,
    require_deltarule,
    say,
    table,
)


def workloads(epochs: int):
    from sklearn.datasets import load_digits, make_friedman1, make_moons
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    digits = train_test_split(X / 16.0, y, test_size=0.2, random_state=0, stratify=y)
    yield "digits, defaults", "classifier", digits, {}
    yield "digits, sgd", "classifier", digits, {
        "solver": "sgd", "learning_rate_init": 0.01, "batch_size": 32}
    X, y = make_moons(2000, noise=0.2, random_state=0)
    X = StandardScaler().fit_transform(X)
    moons = train_test_split(X, y, test_size=0.2, random_state=0)
    yield "moons, defaults", "classifier", moons, {}
    yield "moons, tanh", "classifier", moons, {"hidden_layer_sizes": (50, 50),
                                               "activation": "tanh"}
    X, y = make_friedman1(2000, noise=0.5, random_state=0)
    X = StandardScaler().fit_transform(X)
    yield "friedman1", "regressor", train_test_split(X, y, test_size=0.2, random_state=0), {}


def competitors(kind, split, params, epochs):
    """Shared work, then each estimator's ``epochs``-epoch and 1-epoch fits; with
    numba installed, also the drop-in's fit on NumPy's passes alone
    (``deltarule.kernels.disabled``: the same numbers, the same process)."""
    import sklearn.neural_network as skl

    import deltarule.sklearn as drs
    from deltarule import kernels

    X_tr, X_te, y_tr, y_te = split
    common = dict(params, max_iter=epochs, tol=0.0, n_iter_no_change=epochs + 1,
                  random_state=0)
    variants = [("deltarule.sklearn", drs, epochs, None), ("scikit-learn", skl, epochs, None),
                ("deltarule.sklearn, 1 epoch", drs, 1, None),
                ("scikit-learn, 1 epoch", skl, 1, None)]
    if kernels.backend() == "numba":
        variants.append(("deltarule.sklearn, NumPy kernels", drs, epochs, kernels.disabled))
    out = [Competitor("shared work", _shared_work(X_tr, y_tr, kind, params, epochs), epochs)]
    for label, module, n_epochs, context in variants:
        cls = module.MLPClassifier if kind == "classifier" else module.MLPRegressor

        def run(cls=cls, settings=dict(common, max_iter=n_epochs), n_epochs=n_epochs):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = cls(**settings).fit(X_tr, y_tr)
            assert model.n_iter_ == n_epochs, (model.n_iter_, n_epochs)
            return model

        out.append(Competitor(label, run, n_epochs, context=context,
                              evaluate=lambda m: {"score": m.score(X_te, y_te)}))
    return out


def _shared_work(X, y, kind, params, epochs):
    """``() -> None``: the products and hidden activations of ``epochs`` epochs
    (see the module docstring), on buffers allocated once."""
    n, n_in = X.shape
    hidden = list(params.get("hidden_layer_sizes", (100,)))
    n_out = (1 if kind == "regressor" or len(np.unique(y)) == 2 else len(np.unique(y)))
    layers = [n_in, *hidden, n_out]
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((a, b)) * 0.1 for a, b in zip(layers[:-1], layers[1:])]
    zeros = {}

    def relu(z, out):
        # against an array of zeros: NumPy's fastest max(z, 0) (4× the scalar form)
        if z.shape not in zeros:
            zeros[z.shape] = np.zeros(z.shape)
        return np.maximum(z, zeros[z.shape], out=out)

    act = np.tanh if params.get("activation") == "tanh" else relu
    batch = params.get("batch_size", min(200, n))
    plans = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        x = np.ascontiguousarray(X[start:start + b], dtype=np.float64)
        zs = [np.empty((b, m)) for m in layers[1:]]
        gs = [np.empty((b, m)) for m in layers[1:]]
        grads = [np.empty_like(W) for W in weights]
        plans.append((x, zs, gs, grads))

    def run():
        for _ in range(epochs):
            for x, zs, gs, grads in plans:
                a = x
                for i, W in enumerate(weights):          # forward: a W, f(z)
                    np.dot(a, W, zs[i])
                    if i < len(weights) - 1:
                        act(zs[i], out=zs[i])
                    a = zs[i]
                ins = [x, *zs[:-1]]
                for i in range(len(weights) - 1, -1, -1):  # backward: aᵀ δ, δ Wᵀ
                    np.dot(ins[i].T, gs[i], grads[i])
                    if i:
                        np.dot(gs[i], weights[i].T, gs[i - 1])
        return None

    for g in (g for _, _, gs, _ in plans for g in gs):
        g.fill(0.01)
    return run


def _selected(title: str, only: str) -> bool:
    """``--only``: a workload runs when a ``;``-separated entry equals its title
    or its first word (``digits`` selects both digits workloads)."""
    wanted = [w.strip() for w in only.split(";") if w.strip()]
    return any(w == title or w == title.split(",")[0] for w in wanted)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--quick", action="store_true", help="3 rounds of 5 epochs")
    ap.add_argument("--threads", type=int, default=None, help="cap BLAS threads")
    ap.add_argument("--only", default=None,
                    help="';'-separated workload titles, or their first word: "
                         "e.g. 'digits, defaults;moons, tanh' or 'friedman1'")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    require_deltarule()
    if args.quick:
        args.rounds, args.epochs = 3, 5
    if args.epochs < 2:
        ap.error("--epochs must be at least 2 (the epochs after the first are timed too)")
    limit = contextlib.nullcontext()
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        limit = threadpool_limits(args.threads)
    for line in machine_lines():
        say(line)
    say(f"== deltarule.sklearn vs scikit-learn: {args.epochs} epochs of fit, "
        f"{args.rounds} rounds, median per epoch")
    rows, fixed_rows, numpy_rows = [], [], []
    with limit, CpuMonitor() as monitor:
        for title, kind, split, params in workloads(args.epochs):
            if args.only and not _selected(title, args.only):
                continue
            shared, ours, theirs, ours_1, theirs_1, *numpy_only = interleave(
                competitors(kind, split, params, args.epochs), args.rounds)
            lo, hi = ratio_spread(theirs, ours)
            later = [(c.median * args.epochs - c1.median) / (args.epochs - 1)
                     for c, c1 in ((ours, ours_1), (theirs, theirs_1))]
            fixed_rows.append([
                title, fmt_time(ours_1.median), fmt_time(theirs_1.median),
                fmt_time(later[0]), fmt_time(later[1]), f"{later[1] / later[0]:.2f}×",
            ])
            rows.append([
                title, fmt_time(ours.median), fmt_time(theirs.median),
                f"{theirs.median / ours.median:.2f}×", f"{lo:.2f} – {hi:.2f}",
                fmt_time(shared.median), f"{theirs.median / shared.median:.2f}×",
                f"{ours.extra['score']:.4f}", f"{theirs.extra['score']:.4f}",
            ])
            for c in numpy_only:
                numpy_rows.append([title, fmt_time(c.median),
                                   f"{theirs.median / c.median:.2f}×",
                                   f"{c.median / ours.median:.2f}×"])
    say(table(["workload", "deltarule.sklearn", "scikit-learn", "sklearn ÷ deltarule",
               "per-round min – max", "shared work", "sklearn ÷ shared work",
               "score (deltarule)", "score (sklearn)"], rows,
              markdown=args.markdown))
    say("== the fixed cost of a fit, and the epochs after the first: a 1-epoch fit "
        f"(median of its own rounds) and (T_{args.epochs} − T_1) ÷ {args.epochs - 1}")
    say(table(["workload", "fit, 1 epoch (deltarule)", "fit, 1 epoch (sklearn)",
               "each later epoch (deltarule)", "each later epoch (sklearn)",
               "sklearn ÷ deltarule"], fixed_rows, markdown=args.markdown))
    if numpy_rows:
        say("== the drop-in without its compiled kernels (deltarule.kernels.disabled: "
            "NumPy's passes, the same numbers), timed in the same rounds")
        say(table(["workload", "deltarule.sklearn, NumPy kernels", "sklearn ÷ it",
                   "it ÷ deltarule.sklearn (numba)"], numpy_rows, markdown=args.markdown))
    say(monitor.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""XOR: ``deltarule.train()`` against the document's hand-written loops.

    python benchmarks/bench_xor.py [--rounds 9] [--epochs 10000] [--quick]

The two examples of the source document (``../shared/seed/``): 2-3-1 and
2-3-2-1, sigmoid, learning rate 0.1, 10 000 epochs.  The competitor is the
document's loop body verbatim — ``np.dot``, ``np.sum``, ``sigmoid`` as
``1 / (1 + np.exp(-x))``, integer ``x`` and ``y`` — with one change: the
initial weights come from ``numpy.random.default_rng(seed).standard_normal``
in the document's order instead of the global ``np.random.randn``, so both
sides start from the same weights and the run can check they end at the same
weights too.  deltarule runs with its default plugins (randn init, sigmoid,
squared error, SGD, the bundled stop criteria), computes the loss every epoch
and calls the stop hook every epoch; the hand-written loop does neither.

Both run interleaved in one process.  The figure is deltarule's median
time per epoch ÷ the document loop's; the min – max beside it is the range of
the ratios taken within each round.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import (  # noqa: E402
    COMPETITOR_HEADERS,
    Competitor,
    competitor_rows,
    interleave,
    ratio,
    ratio_spread,
    require_deltarule,
    say,
    table,
)

LEARNING_RATE = 0.1
SEED = 1
TARGET = 1.0  # issue 6: deltarule ≤ 1.0 × the hand-written loop


# the document's code, verbatim: deltarule.specs.document (the specs use the
# same functions as their reference)
def document_example_1(num_iterations=10000, seed=SEED):
    """Example 1 of the document: 2-3-1."""
    from deltarule.specs import document

    return document.run([2, 3, 1], seed, num_iterations, LEARNING_RATE)


def document_example_2(num_iterations=10000, seed=SEED):
    """Example 2 of the document: 2-3-2-1."""
    from deltarule.specs import document

    return document.run([2, 3, 2, 1], seed, num_iterations, LEARNING_RATE)


EXAMPLES = {
    "2-3-1": ([2, 3, 1], document_example_1),
    "2-3-2-1": ([2, 3, 2, 1], document_example_2),
}


def _accuracy(y_hat) -> float:
    y = np.array([[1], [1], [0], [0]])
    return float(np.mean((np.asarray(y_hat) > 0.5) == y))


def competitors(epochs: int, examples=("2-3-1", "2-3-2-1")) -> list[Competitor]:
    """For each example: deltarule (defaults) and the document's loop."""
    import deltarule

    out = []
    for key in examples:
        layers, hand = EXAMPLES[key]
        x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
        y = np.array([[1], [1], [0], [0]])

        def run_deltarule(layers=layers, x=x, y=y):
            return deltarule.train(x, y, layers=layers, lr=LEARNING_RATE,
                                   max_epochs=epochs, seed=SEED)

        def eval_deltarule(res, x=x):
            return {"accuracy": _accuracy(res.predict(x)), "params": res.params,
                    "epochs_run": res.epochs, "loss": res.loss,
                    "stop_reason": res.stop_reason}

        def run_hand(hand=hand):
            return hand(epochs, SEED)

        def eval_hand(out, x=x):
            from deltarule.specs.document import sigmoid

            params, _ = out
            # a fresh forward pass on the final weights (the document's y_hat
            # is the output before the last update)
            a = x
            for W, b in params:
                a = sigmoid(np.dot(a, W) + b)
            return {"accuracy": _accuracy(a), "params": params}

        out.append(Competitor(f"deltarule.train {key}", run_deltarule, epochs,
                              group=key, evaluate=eval_deltarule))
        out.append(Competitor(f"document loop {key}", run_hand, epochs, group=key,
                              evaluate=eval_hand))
    return out


def max_param_gap(a: Competitor, b: Competitor) -> float:
    """Largest |θ_a − θ_b| over all final weights and biases."""
    gaps = [float(np.max(np.abs(np.asarray(p) - np.asarray(q))))
            for (Wa, ba), (Wb, bb) in zip(a.extra["params"], b.extra["params"])
            for p, q in ((Wa, Wb), (ba, bb))]
    return max(gaps)


def measure(rounds: int = 9, epochs: int = 10000, progress=None) -> dict:
    """Run the XOR comparison; return competitors and per-example ratios."""
    comps = competitors(epochs)
    interleave(comps, rounds, progress=progress)
    by_name = {c.name: c for c in comps}
    results = {"competitors": comps, "examples": {}, "epochs": epochs, "rounds": rounds}
    for key in EXAMPLES:
        d = by_name[f"deltarule.train {key}"]
        h = by_name[f"document loop {key}"]
        results["examples"][key] = {
            "ratio": ratio(d, h),
            "spread": ratio_spread(d, h),
            "param_gap": max_param_gap(d, h),
            "deltarule": d,
            "hand": h,
        }
    return results


def report(results: dict, *, markdown: bool = False) -> str:
    comps = results["competitors"]
    lines = [table(COMPETITOR_HEADERS[:4],
                   [r[:4] for r in competitor_rows(comps)], markdown=markdown), ""]
    rows = []
    for key, r in results["examples"].items():
        lo, hi = r["spread"]
        rows.append([
            key, f"{r['ratio']:.3f}", f"{lo:.3f} – {hi:.3f}",
            "met" if r["ratio"] <= TARGET else f"NOT met (+{100 * (r['ratio'] - 1):.1f} %)",
            f"{r['param_gap']:.1e}",
        ])
    lines.append(table(
        ["example", "deltarule ÷ document loop", "per-round min – max",
         f"target ≤ {TARGET:.1f}×", "max |Δθ| after run"], rows, markdown=markdown))
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=9, help="interleaved rounds (default 9)")
    p.add_argument("--epochs", type=int, default=10000, help="epochs per run (default 10000)")
    p.add_argument("--quick", action="store_true", help="3 rounds of 1000 epochs (smoke run)")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables")
    args = p.parse_args(argv)
    require_deltarule()
    rounds, epochs = (3, 1000) if args.quick else (args.rounds, args.epochs)
    say(f"XOR, {epochs} epochs, lr {LEARNING_RATE}, {rounds} interleaved rounds")
    results = measure(rounds, epochs, progress=say)
    say(report(results, markdown=args.markdown))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

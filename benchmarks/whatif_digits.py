"""What-if: how fast would the digits mini-batch loop be with the suggested changes?

    python benchmarks/whatif_digits.py [--rounds 7] [--dtype float64|float32]

A measuring aid for whoever optimises the loop, not a benchmark of the
released code: it monkeypatches deltarule's internals, for the duration of
each timed run only, with prototypes of the changes BENCHMARKS.md suggests,
and times each variant interleaved with the unpatched code and the
hand-written loop (``bench_digits.make_hand``):

* **fused** — the softmax + cross-entropy step computes ŷ itself (it needs
  ``exp(z − max)`` anyway), so the training workspace drops the output
  activation's own forward op; one-hot rows assumed (mass 1), row reductions
  via ``np.maximum.reduce`` / ``np.add.reduce`` into preallocated buffers.
* **setup** — a cheaper ``make_plugin_manager``: a ``PluginManager`` whose
  ``parse_hookimpl_opts`` skips every attribute not starting with
  ``deltarule_`` (what pytest's own manager does with ``pytest_``), and the
  entry-point list read once per process.

It first checks that a patched run ends at exactly the unpatched run's
weights.  It relies on ``deltarule.workspace.Workspace`` having ``fused`` and
``forward_ops`` and on ``deltarule.registry._load_entry_points``; if those
change it says so and stops.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import Competitor, CpuMonitor, interleave, require_deltarule, say, table  # noqa: E402


def prototypes():
    """``(patch(which) -> context manager)``, or raise LookupError."""
    import contextlib

    import pluggy

    from deltarule import registry as M
    from deltarule import workspace as N
    from deltarule.plugins import activations as A
    from deltarule.plugins import losses as L

    if not hasattr(M, "_load_entry_points") or not hasattr(L, "CrossEntropy"):
        raise LookupError("deltarule.registry._load_entry_points / CrossEntropy not found")
    orig_init = N.Workspace.__init__
    orig_fused = L.CrossEntropy.fused_delta
    orig_pm = M.pluggy.PluginManager
    orig_ep = M._load_entry_points

    def fused_all(self, activation):
        if not isinstance(activation, A.Softmax):
            return None
        mx, ad = np.maximum.reduce, np.add.reduce
        cache = {}

        def softmax_ce(y, y_hat, z, out):
            n = len(z)
            bufs = cache.get(n)
            if bufs is None:
                bufs = cache[n] = (np.empty((n, 1), z.dtype), np.empty((n, 1), z.dtype))
            rm, s = bufs
            mx(z, 1, None, rm, True)
            np.subtract(z, rm, y_hat)
            shifted = float(np.vdot(y, y_hat))          # Σ y (z − max)
            np.exp(y_hat, y_hat)
            ad(y_hat, 1, None, s, True)
            np.divide(y_hat, s, y_hat)                  # ŷ, so forward skips softmax
            np.subtract(y_hat, y, out)                  # δ_L for one-hot rows
            scale = self._scale(n)
            if scale != 1.0:
                np.multiply(out, scale, out)
            return (float(np.log(s).sum()) - shifted) * scale

        return softmax_ce

    def ws_init(self, net, loss, n_rows):
        orig_init(self, net, loss, n_rows)
        if not hasattr(self, "fused") or not hasattr(self, "forward_ops"):
            raise LookupError("Workspace has no fused / forward_ops")
        if self.fused is not None:
            self.forward_ops = self.forward_ops[:-1]

    class PrefixPM(orig_pm):
        def parse_hookimpl_opts(self, plugin, name):
            if not name.startswith("deltarule_"):
                return None
            return super().parse_hookimpl_opts(plugin, name)

    cached = []

    def cached_entry_points(reg):
        if not cached:
            cached.append(list(md.entry_points(group=M.ENTRY_POINT_GROUP)))
        for ep in cached[0]:
            reg.register(ep.load(), origin=f"entry point {ep.name} = {ep.value}",
                         name=ep.name)

    @contextlib.contextmanager
    def patch(which):
        try:
            if "fused" in which:
                L.CrossEntropy.fused_delta = fused_all
                N.Workspace.__init__ = ws_init
            if "setup" in which:
                M.pluggy.PluginManager = PrefixPM
                M._load_entry_points = cached_entry_points
            yield
        finally:
            L.CrossEntropy.fused_delta = orig_fused
            N.Workspace.__init__ = orig_init
            M.pluggy.PluginManager = orig_pm
            M._load_entry_points = orig_ep

    assert pluggy  # imported for the subclass's base
    return patch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    args = p.parse_args(argv)
    require_deltarule()
    import bench_digits as bd

    if not bd.softmax_head_available():
        say("softmax / cross_entropy not in the catalogue: nothing to try")
        return 1
    try:
        patch = prototypes()
    except LookupError as exc:
        say(f"the internals this what-if patches have changed: {exc}")
        return 1
    X, Y, *_ = bd.load_data()
    init = bd.glorot_init()
    kw = dict(head="softmax", dtype=args.dtype, batch=bd.BATCH, lr=bd.LR_BATCH,
              epochs=args.epochs)
    run_dr, params = bd.make_deltarule(X, Y, init, **kw)
    run_hand, _ = bd.make_hand(X, Y, init, **kw)
    try:
        with patch({"fused", "setup"}):
            patched = params(run_dr())
    except LookupError as exc:
        say(f"the internals this what-if patches have changed: {exc}")
        return 1
    plain = params(run_dr())
    gap = max(float(np.max(np.abs(a - b)))
              for pa, pb in zip(plain, patched) for a, b in zip(pa, pb))
    say(f"max |θ_patched − θ_as_is| after {args.epochs} epochs: {gap:.2e}")
    import statistics
    import time

    import deltarule

    def setup_time(which):
        ts = []
        for _ in range(30):
            with patch(which):
                t = time.perf_counter()
                deltarule.make_plugin_manager(entry_points=False)
                ts.append(time.perf_counter() - t)
        return statistics.median(ts)

    say(f"make_plugin_manager(entry_points=False): {setup_time(set()) * 1e3:.2f} ms as it "
        f"is, {setup_time({'setup'}) * 1e3:.2f} ms with the prefix filter")
    variants = [("deltarule as it is", None),
                ("+ fused softmax/CE writes ŷ", {"fused"}),
                ("+ cheaper run setup", {"setup"}),
                ("+ both", {"fused", "setup"})]
    comps = [Competitor(name, run_dr, args.epochs,
                        context=(lambda w=which: patch(w)) if which else None)
             for name, which in variants]
    comps.append(Competitor("hand-written NumPy", run_hand, args.epochs))
    mon = CpuMonitor()
    with mon:
        interleave(comps, args.rounds)
    hand = comps[-1].median
    say(table(["variant", f"{args.dtype} per epoch (median)", "÷ hand-written"],
              [[c.name, f"{c.median * 1e3:.3f} ms", f"{c.median / hand:.3f}"]
               for c in comps]))
    say(mon.describe())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

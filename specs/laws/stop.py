"""Laws of stop criteria: plugins implementing ``deltarule_stop(state)``, which
return a reason string to stop or None, and keep per-run bookkeeping in
``state.scratch`` (never in themselves).

A third-party criterion is asked before the bundled ones (pluggy calls the
latest registered first), so its answer is the one these laws check.  Losses
are scripted (:class:`deltarule.specs.harness.ScriptedLoss`).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from deltarule.specs import harness
from deltarule.specs.registry import law
from deltarule.specs.search import Violation, floats

# run options a stop criterion may wait for, drawn so that each can fire
STOP_SETTINGS = {
    "patience": st.integers(1, 5),
    "target_loss": floats(0.0, 10.0),
    "gradient_tol": st.sampled_from([1e-12, 1e9]),
    "time_budget": st.sampled_from([1e-9, 60.0]),
}
SCRIPTS = st.tuples(st.lists(floats(0.0, 10.0), min_size=1, max_size=25),
                    st.fixed_dictionaries({}, optional=STOP_SETTINGS))


def describe(e):
    return f"losses per epoch: {e[0]}, options: {e[1]}"


@law("stop.reports-reason")
def reports_reason(plugin, ctx):
    """Every run with the criterion ends with a non-empty string reason, the same in
    the result and in deltarule_train_end, within max_epochs, for any scripted loss
    trajectory and any of the run options a criterion may read (patience,
    target_loss, gradient_tol, time_budget).
    """
    def body(example):
        script, settings = example
        result, rec = harness.scripted_run(script, plugins=[plugin], **settings)
        reason = result.stop_reason
        if not isinstance(reason, str) or not reason:
            raise Violation(f"the run stopped with reason {reason!r}; a stop criterion "
                            f"must return a non-empty string or None\n  losses {script}, "
                            f"options {settings}")
        if rec.end_reason != reason:
            raise Violation(f"train_end saw stop_reason {rec.end_reason!r}, the result "
                            f"says {reason!r}")
        if result.epochs > len(script):
            raise Violation(f"ran {result.epochs} epochs with max_epochs={len(script)}")

    ctx.search(body, SCRIPTS, describe=describe, shrink=False, scale=0.5)


@law("stop.independent-runs")
def independent_runs(plugin, ctx):
    """One criterion serves interleaved runs: two runs sharing it, advanced epoch by
    epoch in turn (Trainer.steps), stop at the same epochs with the same reasons and
    parameters as each run alone (so its bookkeeping lives in state.scratch).
    """
    def run(script, settings):
        return harness.scripted_trainer(script, plugins=[plugin], **settings)

    def body(example):
        (s1, o1), (s2, o2) = example
        alone = []
        for s, o in ((s1, o1), (s2, o2)):
            t = run(s, o)
            alone.append(t.fit(harness.TINY_X, harness.TINY_Y))
        t1, t2 = run(s1, o1), run(s2, o2)
        gens = [t1.steps(harness.TINY_X, harness.TINY_Y),
                t2.steps(harness.TINY_X, harness.TINY_Y)]
        live = [True, True]
        while any(live):
            for k, g in enumerate(gens):
                if live[k]:
                    try:
                        next(g)
                    except StopIteration:
                        live[k] = False
        for k, (t, a) in enumerate(zip((t1, t2), alone), 1):
            r = t.result
            same = (r.epochs == a.epochs and r.stop_reason == a.stop_reason and all(
                np.array_equal(p, q) for P, Q in zip(r.params, a.params)
                for p, q in zip(P, Q)))
            if not same:
                raise Violation(
                    f"run {k} interleaved with another stopped after {r.epochs} epochs "
                    f"({r.stop_reason!r}); alone it stops after {a.epochs} ({a.stop_reason!r})"
                    f" or its parameters differ: the criterion keeps run state in itself "
                    f"(use state.scratch)\n  run 1: {describe((s1, o1))}\n"
                    f"  run 2: {describe((s2, o2))}")

    ctx.search(body, st.tuples(SCRIPTS, SCRIPTS), shrink=False, scale=0.3,
               describe=lambda e: f"run 1: {describe(e[0])}\nrun 2: {describe(e[1])}")

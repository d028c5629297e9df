"""Laws of the training loop itself: epochs, stop criteria, history, mini-batches,
warm starts, model files, precision and symmetry.

They drive :class:`deltarule.Trainer` through its public surface (the hooks,
``state``, ``TrainResult``), mostly with scripted losses
(:class:`deltarule.specs.harness.ScriptedLoss`: epoch ``k`` reports
``script[k-1]``) so the epoch at which a criterion must fire is known.

Conventions these laws state: ``history[k]`` is the training loss measured
during epoch ``k + 1``; with full batches that is the loss of the parameters
*entering* epoch ``k + 1`` (θ_k, θ_0 the initial ones).  ``val_history[k]`` is
the validation loss of the parameters at the *end* of epoch ``k + 1``.
"""

from __future__ import annotations

import functools
import math
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from deltarule.hookspecs import hookimpl
from deltarule.specs import harness
from deltarule.specs.protocol import loss_value
from deltarule.specs.registry import law
from deltarule.specs.search import (
    Skip,
    Violation,
    expect_close,
    expect_raises,
    floats,
    fmt,
    guarded,
)

STACK = ("activation:sigmoid", "loss:mse", "optimizer:sgd", "initializer:randn")


def _trainer(layers=(3, 4, 2), **options):
    from deltarule import Trainer

    options.setdefault("seed", 0)
    options.setdefault("entry_points", False)
    cap = options.get("max_epochs") or 100
    options["plugins"] = [harness.Guard(max(cap, 100)), *options.get("plugins", ())]
    return Trainer(list(layers), **options)


def _data(seed=0, n=11, n_in=3, n_out=2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, n_in))
    y = rng.uniform(0, 1, (n, n_out))
    return X, y


def _same_params(P, Q) -> bool:
    return all(np.array_equal(p, q) for A, B in zip(P, Q) for p, q in zip(A, B))


def _params_diff(P, Q) -> str:
    for l, ((W, b), (W2, b2)) in enumerate(zip(P, Q), 1):
        for what, p, q in ((f"W{l}", W, W2), (f"b{l}", b, b2)):
            if not np.array_equal(p, q):
                i = np.unravel_index(int(np.argmax(np.abs(p - q))), p.shape)
                return (f"{what}{list(int(k) for k in i)}: {p[i]!r} vs {q[i]!r} "
                        f"(|difference| {abs(p[i] - q[i]):.3g})")
    return "identical"


def assert_reported(result, rec):
    """The reason is a non-empty string, the same in the result, in
    ``deltarule_train_end`` and in the last ``deltarule_epoch_end`` only."""
    reason = result.stop_reason
    if not (isinstance(reason, str) and reason):
        raise Violation(f"stop reason {reason!r}")
    if rec.end_reason != reason or rec.epochs[-1][3] != reason:
        raise Violation(f"the result says {reason!r}, train_end saw {rec.end_reason!r}, "
                        f"the last epoch_end saw {rec.epochs[-1][3]!r}")
    if any(r is not None for *_, r in rec.epochs[:-1]):
        raise Violation("a stop reason was set before the last epoch")
    return reason


# ---------------------------------------------------------------- which criterion
class _ReadRecorder(dict):
    """A config mapping that notes which keys were read."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


PROBE_OPTIONS = dict(max_epochs=10**9, target_loss=-1.0, patience=3, min_delta=0.0,
                     time_budget=1e9, gradient_tol=1e-300)


@functools.lru_cache(maxsize=None)
def stop_plugins_reading(option: str) -> tuple[str, ...]:
    """Names of the registered stop criteria that read ``config[option]``."""
    from deltarule import Network, State, make_registry
    from deltarule.loop import RunLog
    from deltarule.plugins.activations import Sigmoid

    reg = make_registry([], entry_points=False)
    config = dict(_trainer((1, 1, 1), **PROBE_OPTIONS).config)
    readers = []
    for impl in reversed(reg.implementations("deltarule_stop", wrappers="defer") or ()):
        cfg = _ReadRecorder(config, layers=[1, 1, 1])
        net = Network([1, 1, 1], [Sigmoid()] * 2, [(np.ones((1, 1)), np.zeros(1))] * 2)
        log = RunLog([1.0])
        log.epoch, log.loss = 1, 1.0
        state = State(net, cfg, log=log)
        try:
            impl.call(state)
        except Exception:  # a probe only; the stop laws judge errors
            pass
        if option in cfg.read:
            readers.append(impl.plugin)
    return tuple(readers)


def requires_reader(option):
    readers = stop_plugins_reading(option)
    if not readers:
        raise Skip(f"no registered stop criterion reads config[{option!r}]")
    return readers


# ---------------------------------------------------------------- stop criteria
@law("loop.max-epochs", uses=("stop:max_epochs",))
def max_epochs(_, ctx):
    """max_epochs = n runs exactly n epochs and stops with reason "max_epochs",
    reported to the result, the last epoch_end and train_end (and no earlier).
    """
    def body(n):
        result, rec = harness.scripted_run([1.0], max_epochs=n)
        if not result.epochs == n == len(rec.epochs):
            raise Violation(f"max_epochs={n}: ran {result.epochs} epochs "
                            f"({len(rec.epochs)} epoch_end calls)")
        if assert_reported(result, rec) != "max_epochs":
            raise Violation(f"max_epochs={n}: stop reason {result.stop_reason!r}")

    for n in (1, 2, 3, 7, np.int64(4)):
        guarded(lambda: body(n), f"max_epochs = {n!r}")
    ctx.search(body, st.integers(1, 60), describe=lambda n: f"max_epochs = {n}", scale=0.5)


@law("loop.target-loss", uses=("stop:target_loss", "stop:max_epochs"))
def target_loss(_, ctx):
    """target_loss stops at the first epoch whose loss is at or below it (≤), with
    reason "target_loss" (at the last epoch both it and max_epochs answer:
    "target_loss" wins, see loop.criteria-order).
    """
    def body(example):
        script, target = example
        result, rec = harness.scripted_run(script, target_loss=target)
        if list(result.history) != script[:result.epochs]:
            raise Violation("the script did not drive the loss")
        hits = [k for k, v in enumerate(script, start=1) if v <= target]
        reason = assert_reported(result, rec)
        want = (hits[0], "target_loss") if hits else (len(script), "max_epochs")
        if (result.epochs, reason) != want:
            raise Violation(f"losses {script}, target_loss {target}: stopped after "
                            f"{result.epochs} epochs ({reason!r}); expected {want}")

    guarded(lambda: body(([1.0, 0.5, 0.5, 0.2], 0.5)), "losses [1, .5, .5, .2], target .5")
    # a NumPy number is a valid option value: the reason is still the string
    guarded(lambda: body(([1.0, 0.5, 0.5, 0.2], np.float64(0.5))),
            "losses [1, .5, .5, .2], target np.float64(0.5)")
    guarded(lambda: body(([3.0, 2.0], 2.0)), "losses [3, 2], target 2")
    ctx.search(body, st.tuples(st.lists(floats(0.0, 2.0), min_size=1, max_size=40),
                               floats(0.0, 2.0)),
               describe=lambda e: f"losses {e[0]}, target_loss {e[1]}")


def expected_patience_stop(script, patience, min_delta):
    """``(stop epoch or None, best epoch)``: improvement = loss < best − min_delta."""
    best, best_epoch, wait = math.inf, 0, 0
    for epoch, v in enumerate(script, start=1):
        if v < best - min_delta:
            best, best_epoch, wait = v, epoch, 0
        else:
            wait += 1
        if wait >= patience:
            return epoch, best_epoch
    return None, best_epoch


class _PairScript(harness.ScriptedLoss):
    """Training and validation losses from two scripts (one value call each per epoch)."""

    name = "scripted-pair"

    def __init__(self, train, val):
        super().__init__([v for pair in zip(train, val) for v in pair])


@law("loop.patience", uses=("stop:patience", "stop:max_epochs"))
def patience(_, ctx):
    """patience stops after that many epochs without improvement (an epoch improves
    when its loss is below the best so far minus min_delta) and ends the run with
    exactly the best epoch's parameters: with the training loss, those entering the
    best epoch (they produced its loss); with validation data, the validation loss
    is monitored and the parameters at the end of the best epoch are restored.
    """
    requires_reader("patience")

    def body(example):
        script, pat, min_delta, use_val = example
        rec = harness.Recorder(keep_params=True)
        if use_val:
            from deltarule import Trainer

            val_script = script
            train = [5.0] * len(script)
            trainer = Trainer([2, 3, 1], loss=_PairScript(train, val_script),
                              plugins=[rec], entry_points=False, seed=0,
                              max_epochs=len(script), patience=pat, min_delta=min_delta)
            result = trainer.fit(harness.TINY_X, harness.TINY_Y,
                                 validation_data=(harness.TINY_X, harness.TINY_Y))
            if list(result.val_history) != script[:result.epochs]:
                raise Violation("the script did not drive the validation loss")
        else:
            result, _ = harness.scripted_run(script, patience=pat, min_delta=min_delta,
                                             recorder=rec)
        stop, best = expected_patience_stop(script, pat, min_delta)
        reason = assert_reported(result, rec)
        label = (f"{'validation ' if use_val else ''}losses {script}, patience {pat}, "
                 f"min_delta {min_delta}")
        if stop is None:
            if result.epochs != len(script) or reason != "max_epochs":
                raise Violation(f"{label}: stopped after {result.epochs} ({reason!r}); "
                                f"patience never runs out")
            return
        if result.epochs != stop or reason != "patience":
            raise Violation(f"{label}: expected a stop after epoch {stop} ('patience'), "
                            f"got {reason!r} after {result.epochs}")
        if use_val:
            want = rec.params[best - 1]
            which = f"those at the end of epoch {best}"
        else:
            want = rec.start_params if best == 1 else rec.params[best - 2]
            which = f"those entering epoch {best}"
        if not _same_params(result.params, want):
            raise Violation(f"{label}: the best epoch is {best}; the run must end with "
                            f"its parameters ({which}): {_params_diff(result.params, want)}")

    # patience alone stops a run of unknown length (max_epochs=None)
    alone, _ = harness.scripted_run([3.0, 2.0, 2.5, 2.2, 2.1], patience=2, max_epochs=None)
    if (alone.stop_reason, alone.epochs) != ("patience", 4):
        raise Violation(f"patience=2 with max_epochs=None: {alone.stop_reason!r} after "
                        f"{alone.epochs} epochs; expected 'patience' after 4")
    for ex in (([3.0, 2.0, 2.5, 2.2, 2.1, 1.0], 3, 0.0, False),
               ([3.0, 2.0, 2.5, 2.2, 2.1, 1.0], 3, 0.0, True),
               ([1.0, 0.9, 0.95, 0.85, 0.9], 1, 0.06, False),
               ([1.0, 2.0, 3.0, 4.0], 2, 0.0, False)):  # the first epoch is the best
        guarded(lambda: body(ex), f"losses {ex[0]}, patience {ex[1]}, min_delta {ex[2]}, "
                                  f"validation {ex[3]}")
    ctx.search(body, st.tuples(st.lists(floats(0.0, 5.0), min_size=1, max_size=30),
                               st.integers(1, 6), st.sampled_from([0.0, 0.01, 0.5]),
                               st.booleans()),
               describe=lambda e: f"losses {e[0]}, patience {e[1]}, min_delta {e[2]}, "
                                  f"validation {e[3]}")


@law("loop.time-budget", uses=("stop:time_budget", "stop:max_epochs"))
def time_budget(_, ctx):
    """time_budget = s stops the first epoch at which s seconds have passed (reason
    "time_budget", elapsed ≥ s, overshooting by at most about one epoch); a budget
    that is not reached lets max_epochs stop the run.
    """
    import deltarule

    requires_reader("time_budget")
    rec = harness.Recorder()
    result = deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], seed=0,
                             max_epochs=10**8, time_budget=0.1,
                             plugins=[harness.Guard(seconds=5.0), rec],
                             entry_points=False)
    reason = assert_reported(result, rec)
    if reason != "time_budget":
        raise Violation(f"time_budget=0.1: the run stopped with {reason!r}, not "
                        "'time_budget' ('spec-guard': still running after 5 s or "
                        "100 000 epochs)")
    if not 0.1 <= result.elapsed < 0.1 + 10.0:
        raise Violation(f"time_budget=0.1: stopped after {result.elapsed:.3g} s")
    alone = deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], seed=0,
                            max_epochs=None, time_budget=np.float64(0.05),
                            plugins=[harness.Guard(seconds=5.0)], entry_points=False)
    if not (isinstance(alone.stop_reason, str) and alone.stop_reason == "time_budget"):
        raise Violation(f"time_budget=0.05 with max_epochs=None stopped with "
                        f"{alone.stop_reason!r}")
    quick, rec2 = harness.scripted_run([1.0], max_epochs=5, time_budget=3600.0)
    if quick.epochs != 5 or assert_reported(quick, rec2) != "max_epochs":
        raise Violation(f"time_budget=3600 cut a 5-epoch run: {quick.epochs} epochs, "
                        f"{quick.stop_reason!r}")


@law("loop.gradient-tol", uses=("stop:gradient_norm", "stop:max_epochs"))
def gradient_tol(_, ctx):
    """state.grad_norm is ‖∇θ L‖₂ of the last step's gradient (state.grads, to
    1e-12 relative), and gradient_tol stops at the first epoch whose norm is at or
    below it (≤, reason "gradient_norm").
    """
    import deltarule

    requires_reader("gradient_tol")
    free = harness.Recorder(keep_grads=True)
    deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], lr=0.5, seed=0,
                    max_epochs=120, plugins=[harness.Guard(120), free], entry_points=False)
    norms = [g for _, _, g, _ in free.epochs]
    for k, (grads, norm) in enumerate(zip(free.grads, norms), 1):
        ref = math.sqrt(sum(float(np.sum(g * g)) for pair in grads for g in pair))
        if not math.isclose(norm, ref, rel_tol=1e-12):
            raise Violation(f"epoch {k}: state.grad_norm = {norm!r}, ‖state.grads‖₂ = {ref!r}")
    for tol in (sorted(norms)[len(norms) // 2], norms[40], min(norms)):
        expected = next(k for k, g in enumerate(norms, start=1) if g <= tol)
        rec = harness.Recorder()
        result = deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], lr=0.5,
                                 seed=0, max_epochs=120, gradient_tol=tol,
                                 plugins=[harness.Guard(120), rec], entry_points=False)
        reason = assert_reported(result, rec)
        if result.epochs != expected or (reason != "gradient_norm" and expected != 120):
            raise Violation(f"gradient_tol = {tol!r} (the norm of epoch {expected} exactly): "
                            f"stopped after {result.epochs} epochs ({reason!r}); expected "
                            f"{expected} ('gradient_norm')")
    alone = deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], lr=0.5,
                            seed=0, max_epochs=None, gradient_tol=np.float64(min(norms)),
                            plugins=[harness.Guard(120)], entry_points=False)
    if not isinstance(alone.stop_reason, str) or (alone.stop_reason, alone.epochs) != (
            "gradient_norm", norms.index(min(norms)) + 1):
        raise Violation(f"gradient_tol with max_epochs=None: {alone.stop_reason!r} after "
                        f"{alone.epochs} epochs")
    never, rec3 = harness.scripted_run([1.0], max_epochs=5, gradient_tol=1e-300)
    if never.epochs != 5 or assert_reported(never, rec3) != "max_epochs":
        raise Violation("gradient_tol=1e-300 stopped a run early")


class _Answer:
    """A third-party criterion answering ``reason`` from epoch ``at`` on, and
    counting the epochs it was asked."""

    def __init__(self, reason, at):
        self.name = f"spec-{reason}"
        self.reason, self.at, self.asked = reason, at, 0

    @hookimpl
    def deltarule_stop(self, state):
        self.asked += 1
        return self.reason if state.epoch >= self.at else None


@law("loop.criteria-order", uses=("stop:max_epochs", "stop:target_loss", "stop:patience"))
def criteria_order(_, ctx):
    """When several criteria answer in one epoch, the first in pluggy's call order
    gives the reason: third-party criteria (the latest registered first), then the
    bundled gradient_norm, time_budget, patience, target_loss, max_epochs; every
    criterion is asked every epoch, even after another has answered.
    """
    cases = [
        # target_loss and max_epochs at epoch 3
        (dict(script=[2.0, 1.0, 0.5], target_loss=0.5), [], "target_loss"),
        # patience and max_epochs at epoch 3
        (dict(script=[1.0, 1.0, 1.0], patience=2), [], "patience"),
        # patience and target_loss at epoch 2 (0.95 is no improvement by 0.1)
        (dict(script=[1.0, 0.95, 0.95], patience=1, min_delta=0.1, target_loss=0.95), [],
         "patience"),
        (dict(script=[1.0] * 4, gradient_tol=1e9, time_budget=1e-9, patience=1), [],
         "gradient_norm"),
        (dict(script=[1.0] * 4, time_budget=1e-9, patience=1, target_loss=5.0), [],
         "time_budget"),
        (dict(script=[1.0] * 3, target_loss=2.0), [("mine", 1)], "mine"),
        (dict(script=[1.0] * 3), [("first", 3), ("second", 3)], "second"),
    ]
    for opts, third, want in cases:
        opts = dict(opts)
        script = opts.pop("script")
        plugins = [_Answer(r, at) for r, at in third]
        counter = _Answer("never", 10**9)
        result, rec = harness.scripted_run(script, plugins=[counter, *plugins], **opts)
        reason = assert_reported(result, rec)
        label = f"losses {script}, options {opts}" + (
            f", third-party criteria {[p.reason for p in plugins]}" if plugins else "")
        if reason != want:
            raise Violation(f"{label}: reason {reason!r}; the documented order gives "
                            f"{want!r}")
        for p in [counter, *plugins]:
            if p.asked != result.epochs:
                raise Violation(f"{label}: criterion {p.name!r} was asked {p.asked} times "
                                f"in {result.epochs} epochs; every criterion is asked "
                                "every epoch")


# ---------------------------------------------------------------- divergence
class _Linear:
    name = "spec-linear"

    def forward(self, z):
        return np.array(z, dtype=np.float64)

    def derivative(self, z, a):
        return np.ones_like(z)


@law("loop.divergence", uses=("loss:mse", "optimizer:sgd", "initializer:randn"))
def divergence(_, ctx):
    """A non-finite loss stops the run (reason "diverged") and restores the
    parameters of the last epoch whose loss was finite — with full batches, those
    that produced history[−2] (they score it again); if no epoch had a finite loss,
    the initial parameters (or the run is refused before the first epoch).  With mini-batches the parameters left are finite and
    score a finite loss.
    """
    import deltarule
    from deltarule.plugins.losses import MSE

    X = np.array([[1.0], [2.0]])
    y = np.array([[1.0], [-1.0]])
    for lr, seed in ((50.0, 0), (20.0, 1), (200.0, 2)):
        rec = harness.Recorder(keep_params=True)
        result = deltarule.train(X, y, layers=[1, 4, 1], activation=_Linear(), lr=lr,
                                 seed=seed, max_epochs=10000,
                                 plugins=[harness.Guard(10000), rec], entry_points=False)
        label = f"lr {lr}, seed {seed}"
        if assert_reported(result, rec) != "diverged" or math.isfinite(result.history[-1]):
            raise Violation(f"{label}: expected a 'diverged' stop on a non-finite loss; got "
                            f"{result.stop_reason!r}, last loss {result.history[-1]!r}")
        E = result.epochs
        if E < 2 or not math.isfinite(result.history[-2]):
            raise Violation(f"{label}: diverged after {E} epochs; the law needs a finite "
                            "loss before (the spec's problem is wrong)")
        want = rec.start_params if E == 2 else rec.params[E - 3]
        if not _same_params(result.params, want):
            raise Violation(f"{label}: diverged at epoch {E}; the parameters left must be "
                            f"those entering epoch {E - 1} (loss history[-2] = "
                            f"{result.history[-2]!r}): {_params_diff(result.params, want)}")
        again = loss_value(MSE(), y, result.predict(X))
        if not math.isclose(again, result.history[-2], rel_tol=1e-12):
            raise Violation(f"{label}: the parameters left score {again!r}, not "
                            f"history[-2] = {result.history[-2]!r}")
        rec_b = harness.Recorder()
        mb = deltarule.train(X, y, layers=[1, 4, 1], activation=_Linear(), lr=lr, seed=seed,
                             max_epochs=10000, batch_size=1,
                             plugins=[harness.Guard(10000), rec_b], entry_points=False)
        if mb.stop_reason != "diverged" or not all(
                np.isfinite(W).all() and np.isfinite(b).all() for W, b in mb.params) or \
                not math.isfinite(loss_value(MSE(), y, mb.predict(X))):
            raise Violation(f"{label}, batch_size 1: after {mb.stop_reason!r} the "
                            "parameters left must be finite and score a finite loss")
    # no finite epoch at all: the initial parameters stay
    init = [(np.full((1, 4), 1e200), np.zeros(4)), (np.full((4, 1), 1e200), np.zeros(1))]
    try:
        result = deltarule.train(X, y, layers=[1, 4, 1], activation=_Linear(), init=init,
                                 max_epochs=10, plugins=[harness.Guard(10)],
                                 entry_points=False)
    except deltarule.DeltaRuleError:
        return  # refused before the first epoch (a non-finite loss for finite input)
    if result.stop_reason != "diverged" or result.epochs != 1 or not _same_params(
            result.params, init):
        raise Violation(f"a first epoch with a non-finite loss must stop ('diverged') with "
                        f"the initial parameters; got {result.stop_reason!r} after "
                        f"{result.epochs} epochs, {_params_diff(result.params, init)}")


class _StaysInfinite:
    """Squared error whose *value* is ``inf`` from its ``after``-th call on (a loss
    plugin that breaks for good); its gradient stays the squared error's.
    ``broken_on``: the targets of the batch it first failed on."""

    name = "spec-stays-infinite"

    def __init__(self, after: int):
        self.after, self.calls, self.broken_on = after, 0, None

    def value(self, y, y_hat, weights=None):
        self.calls += 1
        if self.calls >= self.after:
            if self.broken_on is None:
                self.broken_on = np.array(y)
            return float("inf")
        r = (np.asarray(y_hat) - y) ** 2
        return 0.5 * float(np.sum(r if weights is None else r * np.reshape(weights, (-1, 1))))

    def gradient(self, y, y_hat, out=None):
        return np.subtract(y_hat, y, out=out)


@law("loop.divergence-fallback", uses=("optimizer:sgd", "initializer:randn", "loss:mse"))
def divergence_fallback(_, ctx):
    """When no saved parameters score a finite loss (the loss itself stays
    non-finite), the guard keeps the newest finite parameters: those the run
    held when the loss first came back non-finite.  Full batch: the parameters
    entering the diverging epoch E (the failing step does not update).  Batches
    of 2 rows in order: those after the finite batches of epoch E — E − 1 epochs,
    then those batches.
    """
    import deltarule
    from deltarule.plugins.losses import MSE

    X, y = _data(5, n=6, n_in=2, n_out=1)
    common = dict(layers=[2, 3, 1], activation="tanh", lr=0.05, shuffle=False,
                  plugins=[harness.Guard(200)], entry_points=False)
    for batch, after in ((None, 12), (None, 25), (2, 12), (2, 26)):
        loss = _StaysInfinite(after)
        result = deltarule.train(X, y, loss=loss, seed=after, max_epochs=200,
                                 batch_size=batch, **common)
        E = result.epochs
        if result.stop_reason != "diverged" or E < 3 or loss.broken_on is None:
            raise Violation(f"a loss that becomes inf at its call {after}: expected a "
                            f"'diverged' stop after at least 3 epochs; got "
                            f"{result.stop_reason!r} after {E}")
        want = deltarule.train(X, y, loss=MSE(), seed=after, max_epochs=E - 1,
                               batch_size=batch, **common).params
        done = 0
        if batch is not None:
            done = next(k for k in range(0, len(X), batch)
                        if np.array_equal(y[k:k + batch], loss.broken_on))
            if done == 0:
                raise Violation("the spec's loss broke on an epoch's first batch; the law "
                                "needs it mid-epoch (the spec's problem is wrong)")
            want = deltarule.train(X[:done], y[:done], loss=MSE(), init=want, max_epochs=1,
                                   batch_size=batch, **common).params
        if not _same_params(result.params, want):
            raise Violation(
                f"batch_size {batch}, loss inf from call {after} (epoch {E}, after {done} "
                f"rows of it): no candidate scores a finite loss, so the newest finite "
                f"parameters must be kept: {_params_diff(result.params, want)}")


@law("loop.validation-split", uses=STACK)
def validation_split(_, ctx):
    """``validation_split`` holds out rows and says which: after the run
    ``trainer.validation_rows`` is ``(train_rows, validation_rows)``, disjoint,
    together every row once; the run is the run on ``X[train_rows]`` with
    ``validation_data = (X[validation_rows], y[validation_rows])`` (same
    parameters and loss histories, bit for bit, full batch from the same initial
    parameters); a later run of the same trainer that is refused (one row
    cannot be split) leaves ``None``, never the rows of the run before.
    """
    from deltarule import DeltaRuleError

    X, y = _data(6, n=13)
    init = [(np.random.default_rng(1).uniform(-1, 1, (3, 4)), np.zeros(4)),
            (np.random.default_rng(2).uniform(-1, 1, (4, 2)), np.zeros(2))]
    for split in (0.25, 0.5):
        trainer = _trainer(max_epochs=6, init=init, validation_split=split)
        got = trainer.fit(X, y)
        rows = trainer.validation_rows
        if rows is None or len(rows) != 2:
            raise Violation(f"validation_split {split}: trainer.validation_rows is {rows!r}; "
                            "expected (train_rows, validation_rows)")
        tr, va = (np.asarray(r) for r in rows)
        if len(va) == 0 or len(tr) == 0 or sorted(np.concatenate([tr, va]).tolist()) != \
                list(range(len(X))):
            raise Violation(f"validation_split {split}: train rows {tr.tolist()} and validation "
                            f"rows {va.tolist()} must split rows 0..{len(X) - 1}, each once")
        ref = _trainer(max_epochs=6, init=init).fit(X[tr], y[tr],
                                                    validation_data=(X[va], y[va]))
        if got.history != ref.history or got.val_history != ref.val_history or \
                not _same_params(got.params, ref.params):
            raise Violation(f"validation_split {split}: the run differs from the run on "
                            f"X[train_rows] with validation_data = X[validation_rows]: history "
                            f"{got.history} vs {ref.history}, validation {got.val_history} vs "
                            f"{ref.val_history}; {_params_diff(got.params, ref.params)}")
        # a run refused at the split must not leave the rows of the run before
        try:
            trainer.fit(X[:1], y[:1])
        except DeltaRuleError:
            pass
        if trainer.validation_rows is not None:
            raise Violation(f"a run refused at validation_split {split} (one row) after a "
                            "successful one: trainer.validation_rows is "
                            f"{trainer.validation_rows!r}, not None (stale rows)")


# ---------------------------------------------------------------- history
@law("loop.history", uses=STACK)
def history(_, ctx):
    """history[k] is the training loss of the parameters entering epoch k+1 (θ_k;
    full batch, to 1e-12 relative), val_history[k] the validation loss of the
    parameters at the end of epoch k+1 (a summed loss times n_train / n_val, on the
    training set's scale); state.epoch, state.loss, state.val_loss,
    state.history and state.val_history say the same at every epoch_end, and the
    result's history, val_history, epochs and loss agree; a run of unknown length
    keeps every epoch, and a State built by hand over given logs shows them.
    """
    from deltarule.plugins.losses import MSE

    class Watch(harness.Recorder):
        @hookimpl
        def deltarule_epoch_end(self, state):
            super().deltarule_epoch_end(state)
            self.seen.append((state.epoch, state.loss, state.val_loss,
                              list(state.history), list(state.val_history)))

    X, y = _data(1)
    Xv, yv = _data(2, n=5)
    for opts in (dict(optimizer="sgd", lr=0.5), dict(optimizer="adam", lr=0.05,
                                                   activation="tanh")):
        rec = Watch(keep_params=True)
        rec.seen = []
        act = opts.get("activation", "sigmoid")
        trainer = _trainer(max_epochs=6, plugins=[rec], **opts)
        result = trainer.fit(X, y, validation_data=(Xv, yv))
        from deltarule import Network

        def loss_of(params, A, B):
            acts = [trainer.catalogue.get("activations", act)] * 2
            return loss_value(MSE(), B, Network([3, 4, 2], acts, params).forward(A))

        thetas = [rec.start_params] + rec.params
        for k in range(result.epochs):
            want = loss_of(thetas[k], X, y)
            if not math.isclose(result.history[k], want, rel_tol=1e-12):
                raise Violation(f"{opts}: history[{k}] = {result.history[k]!r}; the loss of "
                                f"the parameters entering epoch {k + 1} is {want!r}")
            # a summed loss's validation value is put on the training set's scale
            want_v = loss_of(thetas[k + 1], Xv, yv) * len(X) / len(Xv)
            if not math.isclose(result.val_history[k], want_v, rel_tol=1e-12):
                raise Violation(f"{opts}: val_history[{k}] = {result.val_history[k]!r}; the "
                                f"validation loss at the end of epoch {k + 1} is {want_v!r}")
            epoch, loss, val, hist, vhist = rec.seen[k]
            expected = (k + 1, result.history[k], result.val_history[k],
                        result.history[:k + 1], result.val_history[:k + 1])
            if (epoch, loss, val, hist, vhist) != expected:
                raise Violation(f"{opts}: at epoch_end {k + 1} the state says epoch {epoch}, "
                                f"loss {loss!r}, val_loss {val!r}, history {hist}, "
                                f"val_history {vhist}; expected {expected}")
        if result.epochs != 6 or result.loss != result.history[-1] or \
                len(result.val_history) != 6:
            raise Violation(f"{opts}: result.epochs {result.epochs}, loss {result.loss!r}, "
                            f"{len(result.val_history)} validation losses")
    # a State built by hand over given logs shows them
    from deltarule import Network, State

    net = Network([1, 1], [trainer.catalogue.get("activations", "sigmoid")],
                  [(np.ones((1, 1)), np.zeros(1))])
    hand = State(net, {}, [3.0, 2.0], [4.0])
    if list(hand.history) != [3.0, 2.0] or list(hand.val_history) != [4.0]:
        raise Violation(f"State(net, config, [3.0, 2.0], [4.0]) shows history "
                        f"{list(hand.history)} and val_history {list(hand.val_history)}")
    # a run of unknown length (max_epochs=None): the logs grow as it goes
    script = [10.0 - 0.1 * k for k in range(70)]
    pair = _PairScript(script, [s + 1.0 for s in script])
    from deltarule import Trainer

    long = Trainer([2, 3, 1], loss=pair, max_epochs=None, target_loss=script[-1], seed=0,
                   entry_points=False, plugins=[harness.Guard(200)]).fit(
        harness.TINY_X, harness.TINY_Y, validation_data=(harness.TINY_X, harness.TINY_Y))
    if long.history != script or long.val_history != [s + 1.0 for s in script]:
        raise Violation(f"a 70-epoch run with max_epochs=None logged {len(long.history)} "
                        f"losses and {len(long.val_history)} validation losses; the logs "
                        "must keep every epoch")


# ---------------------------------------------------------------- mini-batches
class _Spy:
    """Squared error that records the targets of every batch it is given."""

    name = "spec-spy"

    def __init__(self, reduction="sum"):
        from deltarule.plugins.losses import MSE

        self.inner = MSE(reduction=reduction)
        self.reduction = reduction
        self.batches = []

    def value(self, y, y_hat):
        return self.inner.value(y, y_hat)

    def gradient(self, y, y_hat):
        return self.inner.gradient(y, y_hat)

    def value_and_gradient(self, y, y_hat, out=None):
        self.batches.append(np.array(y[:, 0]))
        return self.inner.value_and_gradient(y, y_hat, out)


def _batch_orders(n, batch, epochs, seed=0, shuffle=True):
    """Per epoch, the row ids of every batch, as the loop fed them."""
    spy = _Spy()
    X = np.random.default_rng(9).uniform(-1, 1, (n, 2))
    y = np.column_stack([np.arange(n, dtype=np.float64), np.linspace(0, 1, n)])
    _trainer((2, 3, 2), loss=spy, batch_size=batch, shuffle=shuffle, seed=seed,
             max_epochs=epochs).fit(X, y)
    per_epoch = -(-n // batch)
    return [spy.batches[e * per_epoch:(e + 1) * per_epoch] for e in range(epochs)], spy


@law("loop.batch-rows", uses=STACK)
def batch_rows(_, ctx):
    """With batch_size b < n, every epoch feeds every row exactly once, in
    ⌈n/b⌉ batches of b rows and a last one of n mod b; without shuffle in the
    data's order; with shuffle in an order reproducible from the seed (the same seed,
    the same orders; another seed, others) that changes from epoch to epoch.
    """
    for n, b in ((7, 3), (10, 5), (5, 1), (9, 4), (6, 5)):
        label = f"n = {n}, batch_size = {b}"
        orders, spy = _batch_orders(n, b, 3)
        if len(spy.batches) != 3 * -(-n // b):
            raise Violation(f"{label}: {len(spy.batches)} batches in 3 epochs; expected "
                            f"{3 * -(-n // b)}")
        sizes = [b] * (n // b) + ([n % b] if n % b else [])
        for e, batches in enumerate(orders, 1):
            if [len(x) for x in batches] != sizes:
                raise Violation(f"{label}, epoch {e}: batch sizes {[len(x) for x in batches]};"
                                f" expected {sizes}")
            rows = np.sort(np.concatenate(batches))
            if not np.array_equal(rows, np.arange(n)):
                raise Violation(f"{label}, epoch {e}: rows fed {fmt(np.concatenate(batches))};"
                                " every row must be fed exactly once")
        plain, _ = _batch_orders(n, b, 2, shuffle=False)
        for e, batches in enumerate(plain, 1):
            if not np.array_equal(np.concatenate(batches), np.arange(n)):
                raise Violation(f"{label}, shuffle=False, epoch {e}: rows fed in the order "
                                f"{fmt(np.concatenate(batches))}")
        again, _ = _batch_orders(n, b, 3)
        other, _ = _batch_orders(n, b, 3, seed=1)
        flat = lambda o: np.concatenate([np.concatenate(x) for x in o])  # noqa: E731
        if not np.array_equal(flat(orders), flat(again)):
            raise Violation(f"{label}: the same seed gave different batch orders")
        if n >= 5 and b < n:
            if np.array_equal(flat(orders), flat(other)):
                raise Violation(f"{label}: seeds 0 and 1 gave the same batch orders")
            if all(np.array_equal(np.concatenate(orders[0]), np.concatenate(o))
                   for o in orders[1:]):
                raise Violation(f"{label}: shuffling gave every epoch the same order")


@law("loop.batch-full", uses=STACK)
def batch_full(_, ctx):
    """batch_size ≥ n is full-batch training: the same history and parameters, bit
    for bit, as batch_size=None, with and without shuffle, for SGD and Adam.
    """
    X, y = _data(3, n=8)
    for opts in (dict(optimizer="sgd"), dict(optimizer="adam", lr=0.05)):
        ref = _trainer(max_epochs=5, **opts).fit(X, y)
        for b in (8, 9, 100):
            for shuffle in (True, False):
                got = _trainer(max_epochs=5, batch_size=b, shuffle=shuffle, **opts).fit(X, y)
                if got.history != ref.history or not _same_params(got.params, ref.params):
                    raise Violation(f"{opts}, n = 8, batch_size = {b}, shuffle = {shuffle}: "
                                    f"history {got.history} vs full batch {ref.history}; "
                                    f"{_params_diff(got.params, ref.params)}")


@law("loop.batch-loss", uses=("loss:mse", "loss:binary_cross_entropy",
                              "loss:cross_entropy"))
def batch_loss(_, ctx):
    """The epoch loss of mini-batches weighs each batch by its share of the rows
    (reduction "mean") or sums the batches (reduction "sum"), so it is the
    full-batch loss: with the parameters frozen, equal to it to 1e-12 relative, for
    every bundled loss and both reductions, batch sizes 1, 2, 3, 5 of 7 rows.
    """
    from deltarule.plugins import losses as L

    rng = ctx.rng("loop.batch-loss")
    X = rng.uniform(-1, 1, (7, 3))
    cases = []
    for red in ("sum", "mean"):
        cases.append((L.MSE(reduction=red), "sigmoid", rng.uniform(0, 1, (7, 2)), 2))
        cases.append((L.BinaryCrossEntropy(reduction=red), "sigmoid",
                      (rng.random((7, 2)) < 0.5).astype(float), 2))
        cases.append((L.CrossEntropy(reduction=red), ["tanh", "softmax"],
                      np.eye(3)[rng.integers(0, 3, 7)], 3))
    for loss, act, y, k in cases:
        full = _trainer((3, 4, k), loss=loss, activation=act,
                        optimizer=harness.FrozenOptimizer, max_epochs=2).fit(X, y)
        for b in (1, 2, 3, 5):
            mb = _trainer((3, 4, k), loss=loss, activation=act, batch_size=b,
                          optimizer=harness.FrozenOptimizer, max_epochs=2).fit(X, y)
            for e, (got, want) in enumerate(zip(mb.history, full.history), 1):
                if not math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-300):
                    raise Violation(f"{loss!r}, batch_size {b} of 7 rows, epoch {e}: the "
                                    f"epoch loss is {got!r}; with the parameters frozen it "
                                    f"must be the full-batch loss {want!r}")


# ---------------------------------------------------------------- weights and L2
def _penalty_cases(rng, n):
    """``(name, loss, activations, y, outputs)``: both reductions, plain and fused
    output deltas (sigmoid + BCE, softmax + cross-entropy are fused)."""
    from deltarule.plugins import losses as L

    return [("mse sum", L.MSE(), "sigmoid", rng.uniform(0, 1, (n, 2)), 2),
            ("mse mean", L.MSE(reduction="mean"), ["tanh", "sigmoid"],
             rng.uniform(0, 1, (n, 2)), 2),
            ("bce sum (fused)", L.BinaryCrossEntropy(reduction="sum"), "sigmoid",
             (rng.random((n, 2)) < 0.5).astype(float), 2),
            ("cross-entropy mean (fused)", L.CrossEntropy(), ["tanh", "softmax"],
             np.eye(3)[rng.integers(0, 3, n)], 3)]


def _init_params(rng, layers):
    return [(rng.uniform(-1, 1, (a, b)), rng.uniform(-0.5, 0.5, b))
            for a, b in zip(layers[:-1], layers[1:])]


def _one_epoch(X, y, init, loss, act, **options):
    return _trainer((X.shape[1], 4, y.shape[1]), loss=loss, activation=act, init=init,
                    optimizer="sgd", lr=0.3, max_epochs=1, shuffle=False, **options)


def _close_params(what, got, want, tol=1e-12):
    for l, ((W, b), (W2, b2)) in enumerate(zip(got, want), 1):
        for name, p, q in ((f"W{l}", W, W2), (f"b{l}", b, b2)):
            expect_close(f"{what}: {name}", p, q, tol * (1.0 + np.abs(q)))


@law("loop.l2-penalty", uses=("loss:mse", "loss:binary_cross_entropy",
                              "loss:cross_entropy", "optimizer:sgd"))
def l2_penalty(_, ctx):
    """``l2 = λ`` adds ``½ λ c Σ_l ‖W_l‖²`` to every batch's loss and ``λ c W_l``
    to its weight gradients, biases untouched, with ``c = 1`` for a summed loss
    and ``c = 1 / rows of the batch`` for a mean one.  Checked on one SGD epoch
    (lr η) from fixed parameters against the run without the penalty:
    ``history[0] = L + ½ λ c Σ ‖W_l‖²``, ``W_l ← W_l(no penalty) − η λ c W_l``,
    ``b_l ← b_l(no penalty)`` (1e-12 relative); unshuffled mini-batches of 3, 3
    and 1 of 7 rows equal the full-batch epochs on each batch in turn (each its
    own ``c``), the epoch loss their sum (weighted by rows for a mean loss).
    """
    rng = ctx.rng("loop.l2-penalty")
    X = rng.uniform(-1, 1, (7, 3))
    lam, lr = 0.3, 0.3
    for name, loss, act, y, k in _penalty_cases(rng, len(X)):
        init = _init_params(rng, (3, 4, k))
        mean = loss.reduction == "mean"
        c = 1.0 / len(X) if mean else 1.0
        plain = _one_epoch(X, y, init, loss, act).fit(X, y)
        got = _one_epoch(X, y, init, loss, act, l2=lam).fit(X, y)
        penalty = 0.5 * lam * c * sum(float(np.sum(W * W)) for W, _ in init)
        if not math.isclose(got.history[0], plain.history[0] + penalty, rel_tol=1e-12):
            raise Violation(f"{name}, l2={lam}, full batch of {len(X)}: the loss is "
                            f"{got.history[0]!r}; expected L + ½ λ c Σ‖W‖² = "
                            f"{plain.history[0]!r} + {penalty!r} (c = {c:.4g})")
        want = [(W - lr * lam * c * W0, b) for (W, b), (W0, _) in zip(plain.params, init)]
        _close_params(f"{name}, l2={lam}, full batch: W ← W(no penalty) − η λ c W, "
                      "b ← b(no penalty)", got.params, want)
        # mini-batches: each batch is a full-batch epoch on its own rows
        batched = _one_epoch(X, y, init, loss, act, l2=lam, batch_size=3).fit(X, y)
        params, total = init, 0.0
        for start in range(0, len(X), 3):
            rows = slice(start, start + 3)
            part = _one_epoch(X[rows], y[rows], params, loss, act, l2=lam).fit(X[rows], y[rows])
            params = part.params
            total += part.history[0] * (len(X[rows]) / len(X) if mean else 1.0)
        _close_params(f"{name}, l2={lam}, batches of 3 of 7 rows vs full-batch epochs on "
                      "each batch (c = 1/rows of the batch for a mean loss)",
                      batched.params, params)
        if not math.isclose(batched.history[0], total, rel_tol=1e-12):
            raise Violation(f"{name}, l2={lam}, batches of 3 of 7 rows: the epoch loss is "
                            f"{batched.history[0]!r}; the batches' penalised losses give "
                            f"{total!r}")


@law("loop.sample-weights", uses=("loss:mse", "loss:binary_cross_entropy",
                                  "loss:cross_entropy", "optimizer:sgd"))
def sample_weights(_, ctx):
    """Integer sample weights ``w`` are repeated rows: one SGD epoch with
    ``sample_weight=w`` equals the unweighted epoch on ``np.repeat(X, w)`` (a
    weight of 0 drops the row) — loss and parameters to 1e-12 relative, with and
    without the L2 penalty (``c = 1 / Σ w`` for a mean loss), for both
    reductions and the fused output deltas; the validation loss with weights
    ``w_val`` is that of the repeated validation rows (a summed loss is put on
    the training scale by ``Σ w / Σ w_val``, the repeated rows' count ratio);
    unshuffled weighted mini-batches
    equal weighted full-batch epochs on each batch in turn.
    """
    rng = ctx.rng("loop.sample-weights")
    X = rng.uniform(-1, 1, (7, 3))
    w = np.array([2, 0, 1, 3, 1, 0, 2])
    Xv = rng.uniform(-1, 1, (4, 3))
    wv = np.array([1, 3, 0, 2])
    for name, loss, act, y, k in _penalty_cases(rng, len(X) + len(Xv)):
        y, yv = y[:len(X)], y[len(X):]
        init = _init_params(rng, (3, 4, k))
        rep = (np.repeat(X, w, axis=0), np.repeat(y, w, axis=0))
        rep_val = (np.repeat(Xv, wv, axis=0), np.repeat(yv, wv, axis=0))
        for lam in (0.0, 0.25):
            got = _one_epoch(X, y, init, loss, act, l2=lam).fit(
                X, y, sample_weight=w.astype(float), validation_data=(Xv, yv, wv))
            want = _one_epoch(*rep, init, loss, act, l2=lam).fit(*rep, validation_data=rep_val)
            what = f"{name}, l2={lam}, sample_weight {w.tolist()}"
            if not math.isclose(got.history[0], want.history[0], rel_tol=1e-12):
                raise Violation(f"{what}: the loss is {got.history[0]!r}; the unweighted "
                                f"loss of the rows repeated w times is {want.history[0]!r}")
            _close_params(f"{what} vs the rows repeated w times", got.params, want.params)
            # a summed loss is scaled by Σ w / Σ w_val, which for the repeated rows
            # is their count ratio: the two reports must agree either way
            if not math.isclose(got.val_history[0], want.val_history[0], rel_tol=1e-12):
                raise Violation(f"{what}, validation weights {wv.tolist()}: the validation "
                                f"loss is {got.val_history[0]!r}; the repeated validation "
                                f"rows give {want.val_history[0]!r}")
        # weighted mini-batches: each batch a weighted full-batch epoch on its rows
        batched = _one_epoch(X, y, init, loss, act, l2=0.25, batch_size=3).fit(
            X, y, sample_weight=w.astype(float))
        params = init
        for start in range(0, len(X), 3):
            rows = slice(start, start + 3)  # every batch of w has a weight above 0
            params = _one_epoch(X[rows], y[rows], params, loss, act, l2=0.25).fit(
                X[rows], y[rows], sample_weight=w[rows].astype(float)).params
        _close_params(f"{name}, l2=0.25, sample_weight {w.tolist()}, batches of 3 vs "
                      "weighted full-batch epochs on each batch", batched.params, params)


# ---------------------------------------------------------------- plugin faults
class _Tripwire:
    """A tanh that raises ValueError on its ``at``-th forward call once armed."""

    name = "spec_tripwire_tanh"

    def __init__(self):
        self.armed, self.at, self.calls = False, 0, 0

    def forward(self, z, out=None):
        if self.armed:
            self.calls += 1
            if self.calls == self.at:
                self.armed = False
                raise ValueError("spec tripwire")
        return np.tanh(z, out=out)

    def derivative(self, z, a, out=None):
        return np.subtract(1.0, a * a, out=out)


class _FaultPlugin:
    """Arms the tripwire after epoch ``arm_after``; its stop hook raises in epoch
    ``stop_raises``; its train_end hook raises when ``end_raises``."""

    def __init__(self, wire, arm_after=0, stop_raises=0, end_raises=False, answer=None):
        self.wire, self.arm_after, self.stop_raises = wire, arm_after, stop_raises
        self.end_raises, self.end_reason, self.answer = end_raises, None, answer

    @hookimpl
    def deltarule_activations(self):
        return [self.wire]

    @hookimpl
    def deltarule_stop(self, state):
        if state.epoch == self.stop_raises:
            raise KeyError("spec stop hook")
        if self.answer is not None and state.epoch == self.answer[0]:
            return self.answer[1]  # neither None nor a reason
        return None

    @hookimpl
    def deltarule_epoch_end(self, state):
        if state.epoch == self.arm_after:
            self.wire.armed = True

    @hookimpl
    def deltarule_train_end(self, state):
        self.end_reason = state.stop_reason
        if self.end_raises:
            raise RuntimeError("spec train_end hook")


class _ShapeShifter:
    """A tanh whose output, once armed, is its first column alone for inputs of
    ``bad_rows`` rows: ``(n, 1)``, which NumPy would broadcast over ``(n, k)``."""

    name = "spec_shape_shifter"

    def __init__(self, bad_rows, armed):
        self.bad_rows, self.armed = bad_rows, armed

    def forward(self, z):
        a = np.tanh(z)
        return a[:, :1] if self.armed and len(z) == self.bad_rows else a

    def derivative(self, z, a):
        return 1.0 - a * a


class _RowLoss:
    """A summed squared error whose value, once armed, is one number per row for
    batches of ``bad_rows`` rows: a value the loop cannot use, raised about by
    the loop itself (the traceback names no plugin)."""

    name = "spec_row_loss"
    reduction = "sum"

    def __init__(self, bad_rows, armed):
        self.bad_rows, self.armed = bad_rows, armed

    def value(self, y, y_hat):
        per_row = 0.5 * np.sum((y_hat - y) ** 2, axis=1)
        return per_row if self.armed and len(y) == self.bad_rows else float(per_row.sum())

    def gradient(self, y, y_hat):
        return y_hat - y


class _Arms:
    def __init__(self, component, after):
        self.component, self.after = component, after

    @hookimpl
    def deltarule_activations(self):
        return [self.component] if hasattr(self.component, "forward") else None

    @hookimpl
    def deltarule_losses(self):
        return [self.component] if hasattr(self.component, "value") else None

    @hookimpl
    def deltarule_epoch_end(self, state):
        if state.epoch == self.after:
            self.component.armed = True


class _Failing:
    """An optimizer factory or initializer that raises whenever it is called."""

    def __init__(self, name):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.name} cannot be built")


class _Provides:
    def __init__(self, family, component):
        self.family, self.component = family, component

    @hookimpl
    def deltarule_optimizers(self):
        return [self.component] if self.family == "optimizers" else None

    @hookimpl
    def deltarule_initializers(self):
        return [self.component] if self.family == "initializers" else None


@law("loop.plugin-fault", uses=STACK)
def plugin_fault(_, ctx):
    """A plugin that raises during a run ends it with a PluginError chained to
    the plugin's exception (``__cause__``), naming the component or hook and the
    epoch; nothing reached is lost: ``trainer.result`` has stop reason
    ``"error"`` (as ``deltarule_train_end`` sees it, unless it is the one
    raising) and the parameters of the
    last whole epoch — an activation raising in batch 3 of epoch E rolls back to
    the parameters entering E (the run of E − 1 epochs), a stop criterion raising
    after epoch E's steps keeps E's (the run of E epochs), and a train_end hook
    raising keeps the finished run's.  A component returning an array of another
    shape mid-run is named (never broadcast into the loop's buffers); one
    returning a value the loop cannot use otherwise (the loop raises) is named
    after its contract is checked again on the run's batch shape; ``partial_fit``
    on a new batch shape checks the contract before its first epoch.  An optimizer factory or initializer
    raising when called is a chained PluginError naming it, before the first
    epoch.  A stop criterion answering neither None nor a non-empty string is a
    PluginError naming that plugin alone.
    """
    from deltarule import PluginError, Trainer

    X, y = _data(9, n=10)
    init = [(np.random.default_rng(3).uniform(-1, 1, (3, 4)), np.zeros(4)),
            (np.random.default_rng(4).uniform(-1, 1, (4, 2)), np.zeros(2))]

    def run(plugin=None, epochs=20):
        acts = ["spec_tripwire_tanh" if plugin else "tanh", "sigmoid"]
        return Trainer([3, 4, 2], activation=acts, init=init, batch_size=3,
                       shuffle=False, max_epochs=epochs, lr=0.2, entry_points=False,
                       plugins=[harness.Guard(100)] + ([plugin] if plugin else []))

    cases = [(dict(arm_after=E - 1), E, E - 1, f"the activation raising in batch 3 of "
              f"epoch {E}", "spec_tripwire_tanh", ValueError) for E in (4, 5)]
    cases += [(dict(stop_raises=E), E, E, f"the stop criterion raising in epoch {E}",
               "deltarule_stop", KeyError) for E in (4, 5)]
    cases += [(dict(end_raises=True), None, 20, "the train_end hook raising",
               "deltarule_train_end", RuntimeError)]
    # an optimizer or initializer failing while the run is set up: named, chained,
    # "before the first epoch"
    for family, option in (("optimizers", "optimizer"), ("initializers", "init")):
        component = _Failing(f"spec_failing_{option}")
        trainer = Trainer([3, 4, 2], entry_points=False, max_epochs=3,
                          plugins=[_Provides(family, component)],
                          **{option: component.name})
        expect_raises(f"an {option} raising RuntimeError when called",
                      lambda: trainer.fit(X, y), PluginError, component.name,
                      "before the first epoch", cause=RuntimeError)
    # an array of another shape mid-run: refused by the loop's copy, never broadcast
    shifter = _ShapeShifter(bad_rows=3, armed=False)
    trainer = Trainer([3, 4, 2], activation=[shifter.name, "sigmoid"], batch_size=3,
                      max_epochs=10, entry_points=False, plugins=[_Arms(shifter, 2)])
    expect_raises("an activation returning shape (3, 1) for 3-row batches from epoch 3",
                  lambda: trainer.fit(X, y), PluginError, shifter.name, "epoch 3")
    # a loss value the loop cannot use: the traceback names no plugin, so the
    # contract is checked again on the run's batch shape (3 rows), which names it
    row_loss = _RowLoss(bad_rows=3, armed=False)
    trainer = Trainer([3, 4, 2], loss=row_loss.name, batch_size=3, max_epochs=10,
                      entry_points=False, plugins=[_Arms(row_loss, 2)])
    expect_raises("a loss whose value is one number per row for 3-row batches from "
                  "epoch 3", lambda: trainer.fit(X, y), PluginError, row_loss.name,
                  "epoch 3", "returned an array of shape (3,)")
    # partial_fit on a new batch shape checks the contract again, before its epochs
    shifter = _ShapeShifter(bad_rows=5, armed=True)
    trainer = Trainer([3, 4, 2], activation=[shifter.name, "sigmoid"], max_epochs=3,
                      entry_points=False, plugins=[_Arms(shifter, 0)])
    trainer.fit(X, y)
    expect_raises("partial_fit on 5 rows with an activation that fails on 5 rows",
                  lambda: trainer.partial_fit(X[:5], y[:5], epochs=2), PluginError,
                  shifter.name, "before the first epoch")
    # a stop criterion answering neither None nor a reason is named, alone
    wire = _Tripwire()
    trainer = run(_FaultPlugin(wire, answer=(3, True)))
    try:
        trainer.fit(X, y)
    except PluginError as exc:
        text = str(exc)
        if "_FaultPlugin" not in text or "one of the plugins" in text or \
                "returned True" not in text or "epoch 3" not in text:
            raise Violation(f"a stop criterion answering True in epoch 3: the error must "
                            f"name that plugin alone, the answer and the epoch: {text}"
                            ) from None
    else:
        raise Violation("a stop criterion answering True (neither None nor a reason) "
                        "was accepted")
    for options, E, kept, what, where, cause in cases:
        wire = _Tripwire()
        wire.at = 3
        plugin = _FaultPlugin(wire, **options)
        trainer = run(plugin)
        words = [where, cause.__name__] + ([f"epoch {E}"] if E is not None else [])
        expect_raises(what, lambda: trainer.fit(X, y), PluginError, *words, cause=cause)
        result = trainer.result
        # train_end is told why the run ended; raising there is what makes it "error"
        seen = "max_epochs" if options.get("end_raises") else "error"
        if result is None or result.stop_reason != "error" or plugin.end_reason != seen:
            raise Violation(f"{what}: stop reason {getattr(result, 'stop_reason', None)!r} "
                            f"(train_end saw {plugin.end_reason!r}); expected 'error' "
                            f"(train_end seeing {seen!r})")
        want = run(epochs=kept).fit(X, y)
        if len(result.history) != kept or not _same_params(result.params, want.params):
            raise Violation(f"{what}: the result holds {len(result.history)} epochs; the "
                            f"parameters of the run of {kept} epochs must be kept: "
                            f"{_params_diff(result.params, want.params)}")


# ---------------------------------------------------------------- warm starts
_RUNS = [
    dict(optimizer="sgd", lr=0.5),
    dict(optimizer="adam", lr=0.05, batch_size=3,
         optimizer_options={"schedule": "step", "decay_rate": 0.5, "decay_steps": 4}),
    dict(optimizer="momentum", lr=0.1, batch_size=4, shuffle=True, validation_split=0.25),
    dict(optimizer="rmsprop", lr=0.01, activation="tanh"),
]


@law("loop.partial-fit", uses=STACK)
def partial_fit(_, ctx):
    """partial_fit(k) then partial_fit(m) equals fit for k + m epochs bit for bit —
    parameters, histories and validation histories — with full batches, shuffled
    mini-batches, stateful optimizers with schedules and validation splits.
    """
    X, y = _data(4, n=10)
    for opts in _RUNS:
        for k, m in ((1, 1), (2, 3), (3, 1)):
            whole = _trainer(max_epochs=k + m, **opts).fit(X, y)
            t = _trainer(max_epochs=99, **opts)
            first = t.partial_fit(X, y, epochs=k)
            second = t.partial_fit(X, y, epochs=m)
            hist = first.history + second.history
            vhist = first.val_history + second.val_history
            if hist != whole.history or vhist != whole.val_history or not _same_params(
                    second.params, whole.params):
                raise Violation(f"{opts}: partial_fit({k}) + partial_fit({m}) gives history "
                                f"{hist} (validation {vhist}); fit({k + m}) gives "
                                f"{whole.history} ({whole.val_history}); parameters: "
                                f"{_params_diff(second.params, whole.params)}")


@law("loop.steps", uses=STACK)
def steps(_, ctx):
    """Trainer.steps yields the state after every epoch (state.epoch = 1, 2, ...),
    the loop body running with the caller's NumPy error settings; breaking out after j epochs ends the run with stop_reason "caller" and exactly
    the parameters of fit with max_epochs = j, and partial_fit then continues it like
    one run (fit for j + m epochs).
    """
    X, y = _data(5, n=9)
    for opts in _RUNS[:3]:
        for j, m in ((1, 2), (3, 1)):
            t = _trainer(max_epochs=50, **opts)
            seen = []
            with np.errstate(all="raise"):
                for state in t.steps(X, y):
                    seen.append(state.epoch)
                    if np.geterr()["over"] != "raise":
                        raise Violation("the body of a steps() loop ran without the "
                                        "caller's NumPy error settings")
                    if state.epoch == j:
                        break
            r = t.result
            ref = _trainer(max_epochs=j, **opts).fit(X, y)
            if seen != list(range(1, j + 1)) or r.stop_reason != "caller" or \
                    r.epochs != j or not _same_params(r.params, ref.params) or \
                    r.history != ref.history:
                raise Violation(f"{opts}: breaking after epoch {j} saw epochs {seen}, "
                                f"reason {r.stop_reason!r}, {r.epochs} epochs; fit({j}) "
                                f"{_params_diff(r.params, ref.params)}")
            more = t.partial_fit(X, y, epochs=m)
            whole = _trainer(max_epochs=j + m, **opts).fit(X, y)
            if not _same_params(more.params, whole.params):
                raise Violation(f"{opts}: steps() broken after {j} epochs, then "
                                f"partial_fit({m}), differs from fit({j + m}): "
                                f"{_params_diff(more.params, whole.params)}")


# ---------------------------------------------------------------- files, precision
@law("loop.save-load", uses=("activation:leaky_relu", "activation:softmax"))
def save_load(_, ctx):
    """A trained model saved then loaded predicts identically (bit for bit), with
    its layers, dtype, parameters and activations (their options too), in float64
    and float32.
    """
    import deltarule

    X, _ = _data(6, n=8)
    y = np.eye(3)[np.arange(8) % 3]
    for dtype in ("float64", "float32"):
        result = _trainer((3, 5, 4, 3), activation=[("leaky_relu", {"slope": 0.2}), "tanh",
                                                    "softmax"],
                          loss="cross_entropy", max_epochs=5, dtype=dtype).fit(X, y)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.npz"
            result.save(path)
            net = deltarule.load(path, entry_points=False)
        want = result.predict(X)
        got = net.predict(X)
        if got.dtype != want.dtype or not np.array_equal(got, want):
            raise Violation(f"{dtype}: the loaded model predicts {fmt(got)} "
                            f"({got.dtype.name}); the trained one {fmt(want)}")
        if tuple(net.layers) != (3, 5, 4, 3) or not _same_params(net.params, result.params):
            raise Violation(f"{dtype}: loaded layers {net.layers}, parameters "
                            f"{_params_diff(net.params, result.params)}")
        if getattr(net.activations[0], "slope", None) != 0.2:
            raise Violation("the first activation's option slope=0.2 was not restored")


@law("loop.float32", uses=STACK)
def float32(_, ctx):
    """dtype="float32" trains in float32 end to end (parameters, gradients,
    predictions) and follows the float64 run from the same initial parameters: after
    five epochs every parameter within 1e-4 (+1e-4·|θ|) and every loss within 1e-5
    relative.
    """
    rng = ctx.rng("loop.float32")
    X, y = _data(7, n=12)
    init = [(rng.normal(0, 1, (3, 4)), rng.normal(0, 1, 4)),
            (rng.normal(0, 1, (4, 2)), rng.normal(0, 1, 2))]
    for opts in (dict(optimizer="sgd", lr=0.5), dict(optimizer="adam", lr=0.05,
                                                   batch_size=5, shuffle=False)):
        rec = harness.Recorder(keep_grads=True)
        r32 = _trainer(init=init, max_epochs=5, dtype="float32", plugins=[rec],
                       **opts).fit(X, y)
        r64 = _trainer(init=init, max_epochs=5, **opts).fit(X, y)
        dts = {a.dtype for P in r32.params for a in P} | {
            g.dtype for G in rec.grads for p in G for g in p} | {r32.predict(X).dtype}
        if dts != {np.dtype(np.float32)}:
            raise Violation(f"{opts}: a float32 run produced dtypes {sorted(map(str, dts))}")
        for (W32, b32), (W64, b64) in zip(r32.params, r64.params):
            for p32, p64 in ((W32, W64), (b32, b64)):
                expect_close(f"{opts}: float32 parameter vs float64 after 5 epochs", p32, p64,
                             1e-4 + 1e-4 * np.abs(p64))
        expect_close(f"{opts}: float32 losses vs float64", np.array(r32.history),
                     np.array(r64.history), 1e-5 * np.abs(np.array(r64.history)))


@law("loop.permutation", uses=("activation:tanh", "activation:identity", "loss:mse"))
def permutation(_, ctx):
    """Permuting hidden units together with their weights permutes the activations
    and the loop's gradients the same way and leaves the loss unchanged (to 1e-12
    relative): the loop treats every unit alike.
    """
    rng = ctx.rng("loop.permutation")
    for trial in range(3):
        layers = [3, 5, 4, 2]
        params = [(rng.normal(0, 1, (a, b)), rng.normal(0, 0.5, b))
                  for a, b in zip(layers[:-1], layers[1:])]
        X, y = rng.uniform(-1, 1, (6, 3)), rng.uniform(-1, 1, (6, 2))
        p1, p2 = rng.permutation(5), rng.permutation(4)
        (W1, b1), (W2, b2), (W3, b3) = params
        permuted = [(W1[:, p1], b1[p1]), (W2[p1][:, p2], b2[p2]), (W3[p2], b3)]
        acts = ["tanh", "tanh", "identity"]
        L, g = harness.loop_gradient(layers, acts, "mse", params, X, y)
        Lp, gp = harness.loop_gradient(layers, acts, "mse", permuted, X, y)
        if not math.isclose(L, Lp, rel_tol=1e-12):
            raise Violation(f"the loss changed under a permutation of hidden units: {L!r} "
                            f"vs {Lp!r}")
        (gW1, gb1), (gW2, gb2), (gW3, gb3) = g
        want = [(gW1[:, p1], gb1[p1]), (gW2[p1][:, p2], gb2[p2]), (gW3[p2], gb3)]
        for l, ((a, b), (c, d)) in enumerate(zip(gp, want), 1):
            expect_close(f"∂L/∂W{l} of the permuted network vs the permuted gradient", a, c,
                         1e-300 + 1e-12 * (np.abs(c) + np.abs(c).max()))
            expect_close(f"∂L/∂b{l} of the permuted network vs the permuted gradient", b, d,
                         1e-300 + 1e-12 * (np.abs(d) + np.abs(d).max()))
        from deltarule.plugins.activations import Identity, Tanh

        a_orig, _ = harness.forward(params, [Tanh(), Tanh(), Identity()], X)
        a_perm, _ = harness.forward(permuted, [Tanh(), Tanh(), Identity()], X)
        expect_close("hidden activations of the permuted network", a_perm[1], a_orig[1][:, p1],
                     1e-13 * (1 + np.abs(a_orig[1][:, p1])))


# ---------------------------------------------------------------- hooks
@law("loop.observers", uses=STACK)
def observers(_, ctx):
    """Observers see the run — every one of them, one to three registered:
    deltarule_train_start once before the first epoch (epoch 0),
    deltarule_epoch_end once per epoch in order, deltarule_train_end once
    with the stop reason; state.params, state.grads, state.history and
    state.val_history are read-only (writing to them raises).
    """
    class Watch:
        def __init__(self):
            self.calls = []

        @hookimpl
        def deltarule_train_start(self, state):
            self.calls.append(("start", state.epoch))

        @hookimpl
        def deltarule_epoch_end(self, state):
            self.calls.append(("epoch", state.epoch))
            arrays = [x for pair in list(state.params) + list(state.grads) for x in pair]
            for arr in arrays + [state.history, state.val_history]:
                try:
                    arr[...] = 0.0
                except ValueError:
                    continue
                raise Violation("an observer could write into state.params, "
                                "state.grads or state.history")

        @hookimpl
        def deltarule_train_end(self, state):
            self.calls.append(("end", state.stop_reason))

    X, y = _data(8)
    for opts in (dict(max_epochs=4), dict(max_epochs=3, batch_size=4)):
        for n_watchers in (1, 2, 3):
            watchers = [Watch() for _ in range(n_watchers)]
            r = _trainer(plugins=watchers, **opts).fit(X, y)
            want = ([("start", 0)] + [("epoch", k) for k in range(1, r.epochs + 1)]
                    + [("end", r.stop_reason)])
            for k, w in enumerate(watchers, 1):
                if w.calls != want or r.epochs != opts["max_epochs"]:
                    raise Violation(f"{opts}, observer {k} of {n_watchers}: calls "
                                    f"{w.calls}; expected {want}")


class _PassThrough:
    """Hook wrappers around deltarule_stop and deltarule_epoch_end: the loop must
    then go through pluggy, and behave the same."""

    name = "spec-wrapper"

    def __init__(self):
        self.ends = 0

    @hookimpl(wrapper=True)
    def deltarule_stop(self, state):
        return (yield)

    @hookimpl(wrapper=True)
    def deltarule_epoch_end(self, state):
        self.ends += 1
        return (yield)


class _Overrider:
    """A wrapper that adds its own answer at epoch ``at``: honoured only through pluggy."""

    name = "spec-overrider"

    def __init__(self, at):
        self.at = at

    @hookimpl(wrapper=True)
    def deltarule_stop(self, state):
        answers = yield
        return ["overridden", *answers] if state.epoch == self.at else answers


@law("loop.hook-wrappers", uses=("stop:max_epochs", "stop:target_loss", "stop:patience"))
def hook_wrappers(_, ctx):
    """Hook wrappers around deltarule_stop and deltarule_epoch_end are honoured (the
    loop then calls through pluggy): a pass-through wrapper changes nothing — the
    same epochs, stop reason, history and parameters, the first non-None answer as
    the reason — and a wrapper adding its own answer stops the run with it.
    """
    cases = [dict(script=[3.0, 2.0, 1.0, 0.5], target_loss=1.0),
             dict(script=[2.0, 2.0, 1.0], target_loss=1.0),   # with max_epochs at 3
             dict(script=[1.0, 0.5, 0.7, 0.8, 0.9], patience=2),
             dict(script=[1.0] * 4),
             dict(script=[1.0] * 5, third=("mine", 3))]
    for case in cases:
        case = dict(case)
        script = case.pop("script")
        third = case.pop("third", None)
        runs = []
        for wrap in (False, True):
            plugins = [_PassThrough()] if wrap else []
            if third:
                plugins.append(_Answer(*third))
            rec = harness.Recorder()
            runs.append(harness.scripted_run(script, plugins=plugins, recorder=rec, **case))
        (a, ra), (b, rb) = runs
        if (a.epochs, a.stop_reason, a.history) != (b.epochs, b.stop_reason, b.history) or \
                not _same_params(a.params, b.params) or len(ra.epochs) != len(rb.epochs):
            raise Violation(f"losses {script}, options {case}: with a hook wrapper the run "
                            f"stops after {b.epochs} epochs ({b.stop_reason!r}); without, "
                            f"after {a.epochs} ({a.stop_reason!r})")
    wrapper = _PassThrough()
    r, _ = harness.scripted_run([1.0] * 6, plugins=[wrapper, _Overrider(2)])
    if r.stop_reason != "overridden" or r.epochs != 2 or wrapper.ends != 2:
        raise Violation(f"a wrapper adding the answer 'overridden' at epoch 2 was ignored "
                        f"(the run stopped with {r.stop_reason!r} after {r.epochs} epochs; "
                        f"the epoch_end wrapper saw {wrapper.ends} epochs)")


@law("loop.inputs-untouched", uses=STACK)
def inputs_untouched(_, ctx):
    """Training never modifies the caller's arrays (X, y, validation data, explicit
    initial parameters), and the parameters a result returns are copies: writing
    into them changes neither the trainer's network nor later predictions.
    """
    X, y = _data(9)
    Xv, yv = _data(10, n=4)
    init = [(np.full((3, 4), 0.5), np.zeros(4)), (np.ones((4, 2)), np.zeros(2))]
    before = [a.copy() for a in (X, y, Xv, yv)] + [p.copy() for P in init for p in P]
    t = _trainer(init=init, max_epochs=3, batch_size=4)
    r = t.fit(X, y, validation_data=(Xv, yv))
    after = [X, y, Xv, yv] + [p for P in init for p in P]
    for what, a, b in zip(["X", "y", "X_val", "y_val", "W1", "b1", "W2", "b2"], before, after):
        if not np.array_equal(a, b):
            raise Violation(f"training modified the caller's {what}")
    pred = r.predict(X)
    W, _ = r.params[0]
    W[...] = 123.0
    if not np.array_equal(r.predict(X), pred) or np.any(t.network.theta == 123.0):
        raise Violation("result.params are views of the network, not copies")


# ---------------------------------------------------------------- optional methods
def _plain_activation(inner):
    """``inner`` with only the required protocol: no ``out=``."""
    attrs = {"name": f"{inner.name}-plain", "forward": lambda self, z: inner.forward(z)}
    if callable(getattr(inner, "derivative", None)):
        attrs["derivative"] = lambda self, z, a: inner.derivative(z, a)
    else:
        attrs["vjp"] = lambda self, z, a, g: inner.vjp(z, a, g)
    return type("PlainActivation", (), attrs)()


def _loss_variant(inner, kind):
    """``inner`` offering only: "plain" value/gradient; "out" gradient(out=);
    "vg" value_and_gradient without out=."""
    attrs = {"name": f"{inner.name}-{kind}", "value": lambda self, y, p: inner.value(y, p),
             "reduction": getattr(inner, "reduction", "sum")}
    if kind == "out":
        attrs["gradient"] = lambda self, y, p, out=None: inner.gradient(y, p, out=out)
    else:
        attrs["gradient"] = lambda self, y, p: inner.gradient(y, p)
    if kind == "vg":
        attrs["value_and_gradient"] = lambda self, y, p: (inner.value(y, p),
                                                          inner.gradient(y, p))
    return type("LossVariant", (), attrs)()


@law("loop.optional-methods", uses=("activation:tanh", "activation:sigmoid",
                                    "activation:softmax", "loss:mse", "loss:cross_entropy"))
def optional_methods(_, ctx):
    """The optional methods change nothing but speed: components offering only the
    required protocol (no out= buffers; a loss with value and gradient only, with
    gradient(out=) only, or with value_and_gradient without out=) train bit for bit
    like the bundled ones they wrap (full batch and mini-batches); with a fused
    delta the run agrees to 1e-9 relative.
    """
    from deltarule.plugins.activations import Sigmoid, Softmax, Tanh
    from deltarule.plugins.losses import MSE, CrossEntropy

    rng = ctx.rng("loop.optional-methods")
    X = rng.uniform(-1, 1, (9, 3))
    cases = [([Tanh(), Sigmoid()], MSE(), rng.uniform(0, 1, (9, 2)), 2, True),
             ([Tanh(), Softmax()], CrossEntropy(), np.eye(3)[rng.integers(0, 3, 9)], 3,
              False)]
    for acts, loss, y, k, exact in cases:
        for batch in (None, 4):
            def fit(a, l):
                return _trainer((3, 4, k), activation=list(a), loss=l, max_epochs=4,
                                batch_size=batch, optimizer="momentum").fit(X, y)

            ref = fit(acts, loss)
            plain_acts = [_plain_activation(a) for a in acts]
            for kind in ("plain", "out", "vg"):
                got = fit(plain_acts, _loss_variant(loss, kind))
                label = f"{[a.name for a in acts]} × {loss.name} ({kind} loss, " \
                        f"activations without out=, batch_size {batch})"
                if exact:
                    if got.history != ref.history or not _same_params(got.params, ref.params):
                        raise Violation(f"{label}: history {got.history} vs the bundled "
                                        f"components' {ref.history}; "
                                        f"{_params_diff(got.params, ref.params)}")
                else:
                    expect_close(f"{label}: losses vs the fused run", np.array(got.history),
                                 np.array(ref.history), 1e-9 * np.abs(ref.history))
                    for (W, b), (W2, b2) in zip(got.params, ref.params):
                        expect_close(f"{label}: parameters vs the fused run", W, W2,
                                     1e-9 * (1 + np.abs(W2)))
                        expect_close(f"{label}: parameters vs the fused run", b, b2,
                                     1e-9 * (1 + np.abs(b2)))


# ---------------------------------------------------------------- final parameters
class _Restorer:
    """Asks for ``target`` parameters in every epoch before ``ask_until`` (all, if
    None), and stops at ``stop_at``."""

    name = "spec-restorer"

    def __init__(self, stop_at=None, ask_until=None):
        self.stop_at, self.ask_until, self.target = stop_at, ask_until, None

    @hookimpl
    def deltarule_train_start(self, state):
        self.target = [(np.array(W) + 1.0, np.array(b) - 1.0) for W, b in state.params]

    @hookimpl
    def deltarule_stop(self, state):
        if self.ask_until is None or state.epoch < self.ask_until:
            state.set_final_params(self.target)
        return "restored" if state.epoch == self.stop_at else None


@law("loop.final-params", uses=STACK)
def final_params(_, ctx):
    """state.set_final_params(p) ends the run with p only when the run stops in that
    epoch (whichever criterion stops it): a criterion asking for it and stopping
    gets p; asking in earlier epochs only (another criterion stops later) changes
    nothing; after a divergence the last finite parameters win.
    """
    import deltarule

    X, y = _data(11)
    plain = _trainer(max_epochs=5).fit(X, y)
    r = _Restorer(stop_at=3)
    got = _trainer(max_epochs=5, plugins=[r]).fit(X, y)
    if got.stop_reason != "restored" or not _same_params(got.params, r.target):
        raise Violation(f"a criterion stopping at epoch 3 with set_final_params(p) ended "
                        f"with {got.stop_reason!r} and other parameters: "
                        f"{_params_diff(got.params, r.target)}")
    idle = _trainer(max_epochs=5, plugins=[_Restorer(ask_until=5)]).fit(X, y)
    if idle.stop_reason != "max_epochs" or not _same_params(idle.params, plain.params):
        raise Violation("set_final_params in epochs where the run did not stop changed the "
                        f"end of the run: {_params_diff(idle.params, plain.params)}")
    Xd, yd = np.array([[1.0], [2.0]]), np.array([[1.0], [-1.0]])
    opts = dict(layers=[1, 4, 1], activation=_Linear(), lr=50.0, seed=0, max_epochs=1000,
                entry_points=False)
    ref = deltarule.train(Xd, yd, plugins=[harness.Guard(1000)], **opts)
    div = deltarule.train(Xd, yd, plugins=[harness.Guard(1000), _Restorer()], **opts)
    if div.stop_reason != "diverged" or not _same_params(div.params, ref.params):
        raise Violation("after a divergence, parameters asked for by set_final_params "
                        "replaced the last finite ones")


@law("loop.final-loss", uses=("loss:mse", "loss:cross_entropy", "optimizer:sgd"))
def final_loss(_, ctx):
    """``result.loss`` and ``result.val_loss`` are those of the parameters
    returned: the last epoch's ``history[-1]`` and ``val_history[-1]`` when the
    run ends on them; when a criterion restores other parameters ``p``,
    ``L(y, f_p(X))`` over the whole training set (sample weights and the L2 term
    included, as the loop adds them) and the validation loss of ``p`` on the
    validation curve's scale (``Σ w / n_val`` times a summed loss), to 1e-12;
    after a divergence, the finite loss of the parameters the guard kept.
    """
    import deltarule
    from deltarule import Network
    from deltarule.plugins import losses as L

    rng = ctx.rng("loop.final-loss")
    X, Xv = rng.uniform(-1, 1, (9, 3)), rng.uniform(-1, 1, (5, 3))
    w = rng.integers(1, 4, 9).astype(float)
    for loss, act, k in ((L.MSE(), "sigmoid", 2), (L.CrossEntropy(), ["tanh", "softmax"], 3)):
        if k == 2:
            y, yv = rng.uniform(0, 1, (9, 2)), rng.uniform(0, 1, (5, 2))
        else:
            y, yv = np.eye(3)[rng.integers(0, 3, 9)], np.eye(3)[rng.integers(0, 3, 5)]
        common = dict(loss=loss, activation=act, max_epochs=5, l2=0.1)
        plain = _trainer((3, 4, k), **common).fit(X, y, sample_weight=w,
                                                  validation_data=(Xv, yv))
        if plain.loss != plain.history[-1] or plain.val_loss != plain.val_history[-1]:
            raise Violation(f"{loss!r}: a run ending on its last epoch's parameters reports "
                            f"loss {plain.loss!r}, val_loss {plain.val_loss!r}; expected "
                            f"history[-1] = {plain.history[-1]!r}, val_history[-1] = "
                            f"{plain.val_history[-1]!r}")
        r = _Restorer(stop_at=3)
        got = _trainer((3, 4, k), plugins=[r], **common).fit(
            X, y, sample_weight=w, validation_data=(Xv, yv))
        net = Network([3, 4, k], got.network.activations, r.target)
        mean = loss.reduction == "mean"
        c = 1.0 / w.sum() if mean else 1.0
        want = float(loss.value(y, net.forward(X), weights=w)) + \
            0.5 * 0.1 * c * sum(float(np.sum(W * W)) for W, _ in r.target)
        want_val = float(loss.value(yv, net.forward(Xv))) * (1.0 if mean else w.sum() / len(Xv))
        for what, value, expected in (("loss", got.loss, want), ("val_loss", got.val_loss,
                                                                  want_val)):
            if value is None or not math.isclose(value, expected, rel_tol=1e-12):
                raise Violation(f"{loss!r}, weighted, l2 0.1, parameters restored at epoch "
                                f"3: result.{what} is {value!r}; those parameters score "
                                f"{expected!r}")
    # the divergence guard's parameters: the loss they score, finite
    Xd, yd = np.array([[1.0], [2.0]]), np.array([[1.0], [-1.0]])
    div = deltarule.train(Xd, yd, layers=[1, 4, 1], activation=_Linear(), lr=50.0, seed=0,
                          max_epochs=1000, plugins=[harness.Guard(1000)], entry_points=False)
    want = float(L.MSE().value(yd, div.network.forward(Xd)))
    if div.stop_reason != "diverged" or not math.isclose(div.loss, want, rel_tol=1e-12):
        raise Violation(f"a diverged run ({div.stop_reason!r}): result.loss is {div.loss!r}; "
                        f"the parameters it kept score {want!r}")


@law("loop.warnings", uses=("activation:sigmoid", "activation:identity", "loss:mse",
                            "optimizer:sgd"))
def run_warnings(_, ctx):
    """A run warns once, with a ``DeltaRuleWarning`` the user can filter:
    whole-number labels ``0, 1, 2, …`` (at least three) in one target column on
    an output that cannot reach them (sigmoid) raise a ``ClassTargetWarning``
    before the first epoch, suggesting one-hot encoding (none for the same
    labels on an identity output, or targets in range); a run that diverged
    ends with one ``DivergenceWarning``; a run stopped by ``max_epochs`` while
    its loss still fell by more than 1 % over the last tenth of its epochs ends
    with one ``ConvergenceWarning``; a run that reached ``target_loss`` raises
    none.
    """
    import warnings

    import deltarule
    from deltarule import ClassTargetWarning, ConvergenceWarning, DivergenceWarning

    class _Seen:
        at_start = None

        def __init__(self, recording):
            self.recording = recording

        @hookimpl
        def deltarule_train_start(self, state):
            self.at_start = len(self.recording)

    def caught_in(run):
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            seen = _Seen(got)
            result = run(seen)
        return result, seen.at_start, list(got)

    X = np.random.default_rng(2).uniform(-1, 1, (12, 3))
    labels = np.arange(12.0).reshape(-1, 1) % 3
    for y, act, expected in ((labels, "sigmoid", 1), (labels, ["sigmoid", "identity"], 0),
                             (labels / 2.0, "sigmoid", 0)):
        _, at_start, got = caught_in(lambda seen: _trainer(
            (3, 4, 1), activation=act, max_epochs=1, plugins=[seen]).fit(X, y))
        mine = [m for m in got if issubclass(m.category, ClassTargetWarning)]
        what = f"targets {sorted(set(y[:, 0].tolist()))} on a {act} output"
        if len(mine) != expected or (expected and ("one-hot" not in str(mine[0].message)
                                                   or not at_start)):
            raise Violation(f"{what}: {len(mine)} ClassTargetWarning(s) "
                            f"({[str(m.message) for m in mine]}), {at_start} warning(s) "
                            f"before the first epoch; expected {expected}, before "
                            "training, suggesting one-hot encoding")
    Xd, yd = np.array([[1.0], [2.0]]), np.array([[1.0], [-1.0]])
    Xx = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
    yx = np.array([[0], [1], [1], [0]], dtype=float)
    runs = [("a diverging run", DivergenceWarning, lambda seen: deltarule.train(
                Xd, yd, layers=[1, 4, 1], activation=_Linear(), lr=50.0, seed=0,
                max_epochs=1000, plugins=[harness.Guard(1000), seen], entry_points=False)),
            ("a linear target stopped at max_epochs=40 with the loss still falling",
             ConvergenceWarning, lambda seen: deltarule.train(
                 X, X @ np.array([[1.0], [-2.0], [0.5]]), layers=[3, 4, 1],
                 activation=["sigmoid", "identity"], lr=0.03, seed=1, max_epochs=40,
                 plugins=[seen], entry_points=False)),
            ("a run that reached target_loss", None, lambda seen: deltarule.train(
                Xx, yx, layers=[2, 3, 1], lr=0.5, seed=1, max_epochs=40, target_loss=10.0,
                plugins=[seen], entry_points=False))]
    for what, category, run in runs:
        _, _, got = caught_in(run)
        ours = [m for m in got if issubclass(m.category, deltarule.DeltaRuleWarning)]
        want = [] if category is None else [category]
        if [m.category for m in ours] != want and not (
                category and len(ours) == 1 and issubclass(ours[0].category, category)):
            seen = [(m.category.__name__, str(m.message)) for m in ours]
            raise Violation(f"{what}: warnings {seen}; expected "
                            f"{[c.__name__ for c in want] or 'none'}, once")


# ---------------------------------------------------------------- interrupts and errors
class _Raiser:
    name = "spec-raiser"

    def __init__(self, exc, at):
        self.exc, self.at, self.end_reason = exc, at, None

    @hookimpl
    def deltarule_epoch_end(self, state):
        if state.epoch == self.at:
            raise self.exc

    @hookimpl
    def deltarule_train_end(self, state):
        self.end_reason = state.stop_reason


@law("loop.interrupt", uses=STACK)
def interrupt(_, ctx):
    """Ctrl-C (KeyboardInterrupt) ends a run cleanly: trainer.result holds the
    parameters reached (those of fit for that many epochs), stop_reason
    "interrupted", seen by train_end (the interrupt may then go on to the caller);
    a KeyboardInterrupt subclass with a non-empty string ``stop_reason`` gives that
    reason instead; if the last step overflowed, the last finite parameters are
    kept.  An
    exception from a plugin propagates (chained to the original), after train_end
    saw stop_reason "error".
    """
    import deltarule

    def interrupted(trainer, *data):
        try:
            trainer.fit(*data)
        except KeyboardInterrupt:
            pass  # it goes on to the caller, after the run ended cleanly
        return trainer.result

    X, y = _data(12)
    for at in (1, 3):
        raiser = _Raiser(KeyboardInterrupt(), at)
        r = interrupted(_trainer(max_epochs=10, plugins=[raiser]), X, y)
        ref = _trainer(max_epochs=at).fit(X, y)
        if (r.stop_reason, raiser.end_reason, r.epochs) != ("interrupted", "interrupted",
                                                             at) or not _same_params(
                r.params, ref.params):
            raise Violation(f"Ctrl-C at epoch {at}: stop reason {r.stop_reason!r} (train_end "
                            f"saw {raiser.end_reason!r}) after {r.epochs} epochs; "
                            f"{_params_diff(r.params, ref.params)}")
    # a KeyboardInterrupt subclass may name the reason (the command line's SIGTERM:
    # "terminated"); anything but a non-empty string means "interrupted"
    for given, want in (("terminated", "terminated"), ("", "interrupted"),
                        (1, "interrupted")):
        exc = type("_Stopped", (KeyboardInterrupt,), {"stop_reason": given})()
        r = interrupted(_trainer(max_epochs=10, plugins=[_Raiser(exc, 2)]), X, y)
        if r.stop_reason != want:
            raise Violation(f"a KeyboardInterrupt whose stop_reason is {given!r}: the run's "
                            f"stop reason is {r.stop_reason!r}, expected {want!r}")
    # the first step overflows (loss finite, update infinite): Ctrl-C right then
    init = [(np.array([[1e75]]), np.zeros(1)), (np.array([[1e75]]), np.zeros(1))]
    raiser = _Raiser(KeyboardInterrupt(), 1)
    r = interrupted(deltarule.Trainer([1, 1, 1], activation=_Linear(), init=init, lr=1e100,
                                      max_epochs=5, plugins=[harness.Guard(5), raiser],
                                      entry_points=False),
                    np.array([[1.0]]), np.array([[0.0]]))
    if r.stop_reason != "interrupted" or not _same_params(r.params, init):
        raise Violation(f"Ctrl-C after an overflowing step: {r.stop_reason!r}, parameters "
                        f"{_params_diff(r.params, init)} (the last finite ones are the "
                        "initial parameters)")
    boom = RuntimeError("spec: an observer failed")
    raiser = _Raiser(boom, 2)
    t = _trainer(max_epochs=10, plugins=[raiser])
    try:
        t.fit(X, y)
    except Exception as exc:  # noqa: BLE001 - the library may wrap it (PluginError)
        chain, e = [], exc
        while e is not None:
            chain.append(e)
            e = e.__cause__ or e.__context__
        if boom not in chain:
            raise Violation(f"a plugin's RuntimeError came out as {exc!r}, not chained "
                            "to the original") from None
    else:
        raise Violation("a plugin's exception was swallowed: fit returned normally")
    if raiser.end_reason != "error" or t.result is None or t.result.epochs != 2:
        raise Violation(f"after a plugin's exception at epoch 2, train_end saw "
                        f"{raiser.end_reason!r} and the result has "
                        f"{getattr(t.result, 'epochs', None)} epochs; expected 'error', 2")


# ---------------------------------------------------------------- optimizer options
@law("loop.optimizer-options", uses=("optimizer:momentum",))
def optimizer_options(_, ctx):
    """The run's optimizer is built as asked: a (name, {options}) pair,
    optimizer_options and a built instance (deep-copied per run, itself untouched)
    train identically; lr in the options overrides the run's lr; other options do
    change the run.
    """
    from deltarule.plugins.optimizers import Momentum

    X, y = _data(13)
    base = dict(max_epochs=4, lr=0.2)
    pair = _trainer(optimizer=("momentum", {"momentum": 0.5}), **base).fit(X, y)
    opts = _trainer(optimizer="momentum", optimizer_options={"momentum": 0.5},
                    **base).fit(X, y)
    inst = Momentum(lr=0.2, momentum=0.5)
    built = _trainer(optimizer=inst, **base)
    first, again = built.fit(X, y), built.fit(X, y)
    default = _trainer(optimizer="momentum", **base).fit(X, y)
    lr_opt = _trainer(optimizer="momentum", optimizer_options={"lr": 0.05, "momentum": 0.5},
                      max_epochs=4, lr=0.9).fit(X, y)
    lr_run = _trainer(optimizer="momentum", optimizer_options={"momentum": 0.5},
                      max_epochs=4, lr=0.05).fit(X, y)
    for what, r in (("optimizer_options", opts), ("a built instance", first),
                    ("the same instance again", again)):
        if not _same_params(r.params, pair.params):
            raise Violation(f"momentum 0.5 given as {what} trains differently from the "
                            f"pair ('momentum', {{'momentum': 0.5}}): "
                            f"{_params_diff(r.params, pair.params)}")
    if inst.t != 0:
        raise Violation("the optimizer instance given to the run was stepped itself "
                        "(it must be copied per run)")
    if _same_params(default.params, pair.params):
        raise Violation("momentum 0.5 and the default 0.9 trained identically: the option "
                        "did not reach the optimizer")
    if not _same_params(lr_opt.params, lr_run.params):
        raise Violation("optimizer_options={'lr': 0.05} did not override the run's lr")


# ---------------------------------------------------------------- fused outputs
@law("loop.fused-output", uses=("activation:sigmoid", "activation:softmax",
                                "loss:binary_cross_entropy", "loss:cross_entropy"))
def fused_output(_, ctx):
    """When the output activation and the loss fuse (sigmoid with
    binary_cross_entropy, softmax with cross_entropy), the loop uses the fused delta
    whatever the hidden layers' activations: its loss is exact from z where ŷ
    rounds to 0 or 1 (|z| in the hundreds), to 1e-12 relative.
    """
    from deltarule.plugins.losses import BinaryCrossEntropy, CrossEntropy
    from deltarule.specs.laws.loss import _bce_fused, _ce_fused

    rng = ctx.rng("loop.fused-output")
    X = rng.uniform(-1, 1, (6, 2))
    # targets on the far side of the saturated outputs: the general path (ŷ
    # clipped or floored) cannot give the exact loss there
    cases = [(["tanh", "sigmoid"], BinaryCrossEntropy(),
              lambda z: (z < 0) * 1.0, 1, 200.0, _bce_fused),
             (["relu", "softmax"], CrossEntropy(),
              lambda z: np.eye(3)[np.argmin(z, axis=1)], 3, 800.0, _ce_fused)]
    for acts, loss, target, k, scale, exact in cases:
        params = [(rng.uniform(0.5, 1.0, (2, 3)), np.ones(3)),
                  (rng.uniform(-scale, scale, (3, k)), np.zeros(k))]
        comps = [_trainer((2, 3, k)).catalogue.get("activations", a) for a in acts]
        _, zs = harness.forward(params, comps, X)
        y = target(zs[-1])
        L_ref = float(exact(y, zs[-1])[0]) / len(y)
        with np.errstate(all="ignore"):
            L, _ = harness.loop_gradient([2, 3, k], comps, loss, params, X, y)
        if not abs(L - L_ref) <= 1e-12 * abs(L_ref):
            raise Violation(f"{acts} × {loss.name}, output |z| up to {scale:g}: the loop's "
                            f"loss is {L!r}; the fused loss, exact from z, is {L_ref!r} "
                            "(the loop did not use the fused delta)")

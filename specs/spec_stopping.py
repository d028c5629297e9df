"""Stop criteria: each stops exactly when it says, and every stop says why.

Losses are scripted (:class:`deltarule.specs.harness.ScriptedLoss`: epoch
``k`` reports ``script[k-1]``, while the parameters still follow the squared
error's gradient), so the epoch at which a criterion must fire is known.

``max_epochs`` and ``target_loss`` are always present.  The others
(``patience``/``min_delta``, ``time_budget``, ``gradient_tol``) are found
through the run options they read: a spec runs only if some registered
``deltarule_stop`` implementation reads its option from ``state.config``,
and is skipped (saying so) otherwise.  The divergence guard belongs to the
loop itself.
"""

import functools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import deltarule
from deltarule import Network, State, Trainer
from deltarule.loop import RunLog
from deltarule.registry import make_plugin_manager
from deltarule.plugins.activations import Sigmoid
from deltarule.specs import harness
from deltarule.specs.profiles import spec_settings

PROBE_OPTIONS = dict(max_epochs=10**9, target_loss=-1.0, patience=3, min_delta=0.0,
                     time_budget=1e9, gradient_tol=1e-300)


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


@functools.lru_cache(maxsize=None)
def stop_plugins_reading(option: str) -> tuple[str, ...]:
    """Names of the registered stop criteria that read ``config[option]``."""
    reg = make_plugin_manager([])
    config = dict(Trainer([1, 1, 1], **PROBE_OPTIONS, entry_points=False).config)
    readers = []
    for impl in reversed(reg.implementations("deltarule_stop", wrappers="defer") or ()):
        cfg = _ReadRecorder(config, layers=[1, 1, 1])
        net = Network([1, 1, 1], [Sigmoid()] * 2,
                      [(np.ones((1, 1)), np.zeros(1))] * 2)
        log = RunLog([1.0])
        log.epoch, log.loss = 1, 1.0
        state = State(net, cfg, log=log)
        try:
            impl.call(state)
        except Exception:  # a probe only; the component laws judge errors
            pass
        if option in cfg.read:
            readers.append(impl.plugin)
    return tuple(readers)


def requires_reader(option):
    readers = stop_plugins_reading(option)
    if not readers:
        pytest.skip(f"no registered stop criterion reads config[{option!r}]")
    return readers


def assert_reported(result, rec):
    """The reason is a non-empty string, the same in the result, in
    ``deltarule_train_end`` and in the last ``deltarule_epoch_end``."""
    reason = result.stop_reason
    assert isinstance(reason, str) and reason, f"stop reason {reason!r}"
    assert rec.end_reason == reason
    assert rec.epochs[-1][3] == reason
    assert all(r is None for *_, r in rec.epochs[:-1]), "a reason before the last epoch"
    return reason


@spec_settings()
@given(st.integers(1, 60))
def test_max_epochs_runs_exactly_that_many_epochs(n):
    result, rec = harness.scripted_run([1.0], max_epochs=n)
    assert result.epochs == n == len(rec.epochs)
    assert assert_reported(result, rec) == "max_epochs"


@spec_settings()
@given(st.lists(st.floats(0.0, 2.0), min_size=1, max_size=40), st.floats(0.0, 2.0))
def test_target_loss_stops_at_the_first_epoch_at_or_below_it(script, target):
    result, rec = harness.scripted_run(script, target_loss=target)
    assert list(result.history) == script[:result.epochs], "the script did not drive the loss"
    hits = [k for k, v in enumerate(script, start=1) if v <= target]
    reason = assert_reported(result, rec)
    if hits:
        assert result.epochs == hits[0]
        # at the last epoch both criteria may fire; either reason is honest
        assert reason == "target_loss" or (reason == "max_epochs"
                                           and hits[0] == len(script))
    else:
        assert result.epochs == len(script) and reason == "max_epochs"


def test_divergence_stops_with_finite_parameters():
    class Linear:
        name = "spec-linear"

        def forward(self, z):
            return np.array(z, dtype=np.float64)

        def derivative(self, z, a):
            return np.ones_like(z)

    rec = harness.Recorder()
    X = np.array([[1.0], [2.0]])
    y = np.array([[1.0], [-1.0]])
    result = deltarule.train(X, y, layers=[1, 4, 1], activation=Linear(), lr=50.0,
                             seed=0, max_epochs=10000, plugins=[rec])
    assert assert_reported(result, rec) == "diverged"
    assert result.epochs < 10000 and not math.isfinite(result.history[-1])
    for W, b in result.params:
        assert np.isfinite(W).all() and np.isfinite(b).all()


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


@spec_settings()
@given(st.lists(st.floats(0.0, 5.0), min_size=1, max_size=30), st.integers(1, 6),
       st.sampled_from([0.0, 0.01, 0.5]))
def test_patience_stops_after_that_many_epochs_without_improvement(script, patience,
                                                                   min_delta):
    requires_reader("patience")
    rec = harness.Recorder(keep_params=True)
    result, _ = harness.scripted_run(script, patience=patience, min_delta=min_delta,
                                     recorder=rec)
    stop, best = expected_patience_stop(script, patience, min_delta)
    reason = assert_reported(result, rec)
    if stop is None or stop == len(script) and reason == "max_epochs":
        assert result.epochs == len(script)
        return
    assert result.epochs == stop and reason != "max_epochs", (
        f"losses {script}, patience {patience}, min_delta {min_delta}: expected a stop "
        f"after epoch {stop}, got {reason!r} after {result.epochs}")
    # the run ends with the parameters that produced the best loss: those at the
    # start of the best epoch (full batch)
    start = rec.start_params if best == 1 else rec.params[best - 2]
    for (W, b), (W0, b0) in zip(result.params, start):
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)


def test_time_budget_stops_a_run_in_time():
    requires_reader("time_budget")
    rec = harness.Recorder()
    result = deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], seed=0,
                             max_epochs=10**8, time_budget=0.25, plugins=[rec])
    reason = assert_reported(result, rec)
    assert reason != "max_epochs" and result.epochs < 10**8
    assert 0.25 <= result.elapsed < 0.25 + 10.0  # generous: shared CI machines stall
    quick, rec2 = harness.scripted_run([1.0], max_epochs=5, time_budget=3600.0)
    assert quick.epochs == 5 and assert_reported(quick, rec2) == "max_epochs"


def test_gradient_tol_stops_at_the_first_epoch_at_or_below_it():
    requires_reader("gradient_tol")
    free = harness.Recorder()
    deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], lr=0.5, seed=0,
                    max_epochs=300, plugins=[free])
    norms = [g for _, _, g, _ in free.epochs]
    tol = sorted(norms)[len(norms) // 2]
    expected = next(k for k, g in enumerate(norms, start=1) if g <= tol)
    rec = harness.Recorder()
    result = deltarule.train(harness.TINY_X, harness.TINY_Y, layers=[2, 3, 1], lr=0.5,
                             seed=0, max_epochs=300, gradient_tol=tol, plugins=[rec])
    assert result.epochs == expected
    assert assert_reported(result, rec) != "max_epochs" or expected == 300
    never, rec3 = harness.scripted_run([1.0], max_epochs=5, gradient_tol=1e-300)
    assert never.epochs == 5 and assert_reported(never, rec3) == "max_epochs"

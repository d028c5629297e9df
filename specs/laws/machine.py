"""A hypothesis state machine driving one :class:`deltarule.Trainer`."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import seed as hypothesis_seed
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from deltarule.specs.registry import law
from deltarule.specs.search import Violation

FIT_EPOCHS = 3
CONFIGS = (
    dict(optimizer="sgd", lr=0.5),
    dict(optimizer="adam", lr=0.05, batch_size=4,
         optimizer_options={"schedule": "inverse_time", "decay_rate": 1.0,
                            "decay_steps": 5}),
    dict(optimizer="nesterov", lr=0.1, batch_size=3, activation="tanh",
         validation_split=0.3),
)
_rng = np.random.default_rng(20240601)
X = _rng.uniform(-1, 1, (10, 3))
Y = _rng.uniform(0, 1, (10, 2))


def _trainer(config, max_epochs=FIT_EPOCHS):
    from deltarule import Trainer

    return Trainer([3, 4, 2], seed=7, entry_points=False, max_epochs=max_epochs,
                   **CONFIGS[config])


@functools.lru_cache(maxsize=64)
def _reference(config, epochs):
    """The parameters and history of one fit for ``epochs`` epochs."""
    r = _trainer(config, epochs).fit(X, Y)
    return r.params, tuple(r.history)


def _forward(params, acts, X):
    a = X
    for (W, b), f in zip(params, acts):
        a = f.forward(a @ W + b)
    return a


class TrainerMachine(RuleBasedStateMachine):
    """fit, partial_fit, steps-and-break, save/load, predict — in any order."""

    def __init__(self):
        super().__init__()
        self.log = []
        self.trainer = None
        self.total = None   # epochs since the last fresh start

    def fail(self, what):
        raise Violation(f"{what}\n  after: {' → '.join(self.log)}")

    @initialize(config=st.integers(0, len(CONFIGS) - 1))
    def start(self, config):
        self.config = config
        self.trainer = _trainer(config)
        self.log.append(f"Trainer({CONFIGS[config]})")

    @rule()
    def fit(self):
        r = self.trainer.fit(X, Y)
        self.total = FIT_EPOCHS
        self.log.append("fit")
        if r.epochs != FIT_EPOCHS or r.stop_reason != "max_epochs":
            self.fail(f"fit ran {r.epochs} epochs ({r.stop_reason!r})")

    @rule(m=st.integers(1, 3))
    def partial_fit(self, m):
        r = self.trainer.partial_fit(X, Y, epochs=m)
        self.total = m if self.total is None else self.total + m
        self.log.append(f"partial_fit({m})")
        if r.epochs != m or len(r.history) != m:
            self.fail(f"partial_fit({m}) ran {r.epochs} epochs")

    @rule(j=st.integers(1, FIT_EPOCHS))
    def steps_and_break(self, j):
        for state in self.trainer.steps(X, Y):
            if state.epoch == j:
                break
        self.total = j
        self.log.append(f"steps-break({j})")
        # breaking after the epoch that stopped the run leaves its reason
        want = "caller" if j < FIT_EPOCHS else "max_epochs"
        if self.trainer.result.stop_reason != want:
            self.fail(f"breaking out of steps() after epoch {j} gave "
                      f"{self.trainer.result.stop_reason!r}, not {want!r}")

    @precondition(lambda self: self.total is not None)
    @rule()
    def save_load(self):
        import deltarule

        self.log.append("save+load")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "m.npz"
            self.trainer.result.save(path)
            net = deltarule.load(path, entry_points=False)
        if not np.array_equal(net.predict(X), self.trainer.result.predict(X)):
            self.fail("the loaded model predicts differently from the saved one")

    @precondition(lambda self: self.total is not None)
    @rule()
    def predict(self):
        self.log.append("predict")
        r = self.trainer.result
        got = r.predict(X)
        want = _forward(r.params, r.network.activations, X)
        if not np.array_equal(got, want):
            self.fail("predict(X) differs from the forward pass of the result's parameters")

    @invariant()
    def parameters_are_one_fit(self):
        if self.total is None:
            return
        params, _ = _reference(self.config, self.total)
        got = self.trainer.result.params
        live = self.trainer.network.params
        same = all(np.array_equal(p, q) for A, B in zip(got, params) for p, q in zip(A, B))
        if not same:
            self.fail(f"the parameters differ from one fit of {self.total} epochs")
        if not all(np.array_equal(p, q) for A, B in zip(got, live) for p, q in zip(A, B)):
            self.fail("trainer.result.params differ from trainer.network's")


@law("loop.stateful", uses=("activation:sigmoid", "loss:mse", "optimizer:sgd",
                            "optimizer:adam", "optimizer:nesterov"))
def stateful(_, ctx):
    """A hypothesis state machine drives one Trainer through fit, partial_fit,
    steps-and-break, save + load and predict in any order (full batch and shuffled
    mini-batches, stateful optimizers, a validation split); after every step the
    parameters are bit for bit those of one fit for the epochs run since the last
    fresh start, predict is the forward pass of the result's parameters, and a
    loaded model predicts like the saved one.
    """
    hs = settings(ctx.hsettings, max_examples=max(2, ctx.max_examples // 3),
                  stateful_step_count=6)
    machine = TrainerMachine
    if ctx.seed is not None:
        machine = hypothesis_seed(ctx.seed)(type("SeededMachine", (TrainerMachine,), {}))
    from deltarule.specs.profiles import quiet

    run_state_machine_as_test(machine, settings=quiet(hs))

"""Instruments the specs use to look inside real training runs.

Everything here drives the library through its public surface
(:class:`deltarule.Trainer`, the hooks, ``state.grads``), so a spec checks
what the loop really does, not a re-implementation of it.

``loop_gradient``   the loop's ``∂L/∂W_l``, ``∂L/∂b_l`` and ``L`` for explicit
                    parameters, read from ``state.grads`` after one epoch
                    with a frozen optimizer;
``forward``         the textbook forward pass ``a_l = f(a_{l-1} W_l + b_l)``,
                    independent of :class:`deltarule.Network`;
``ScriptedLoss``    a loss whose values follow a script, to drive stop criteria;
``Recorder``        an observer plugin keeping every epoch's loss, gradient
                    norm, parameters and the final stop reason.
"""

from __future__ import annotations

import numpy as np

from deltarule.hookspecs import hookimpl


class FrozenOptimizer:
    """An optimizer that never moves: ``step`` only counts its calls."""

    name = "frozen"

    def __init__(self, **options):
        self.calls = 0

    def step(self, params, grads):
        self.calls += 1


class Guard:
    """Stop criterion of last resort: ends a run that goes past ``epochs`` epochs or
    ``seconds`` seconds with reason ``"spec-guard"``, so a broken criterion makes a
    law fail instead of running forever.  Registered before the plugins under test,
    it is asked after them."""

    name = "spec-guard"

    def __init__(self, epochs: int = 100_000, seconds: float = 60.0):
        self.epochs, self.seconds = epochs, seconds
        self.asked = 0

    @hookimpl
    def deltarule_train_start(self, state):
        self.asked = 0

    @hookimpl
    def deltarule_stop(self, state):
        # counted here too: a loop whose epoch counter is broken still ends
        self.asked += 1
        if max(self.asked, state.epoch) > self.epochs or state.elapsed >= self.seconds:
            return "spec-guard"
        return None


class Recorder:
    """Observer plugin: per epoch ``(epoch, loss, grad_norm, stop_reason)``,
    gradient and parameter copies; ``end_reason`` from ``deltarule_train_end``."""

    name = "spec-recorder"

    def __init__(self, keep_params: bool = False, keep_grads: bool = False):
        self.keep_params = keep_params
        self.keep_grads = keep_grads
        self.epochs: list[tuple[int, float, float, object]] = []
        self.params: list = []
        self.grads: list = []
        self.start_params = None
        self.end_reason = None

    @hookimpl
    def deltarule_train_start(self, state):
        self.start_params = [(np.array(W), np.array(b)) for W, b in state.params]

    @hookimpl
    def deltarule_epoch_end(self, state):
        self.epochs.append((state.epoch, state.loss, state.grad_norm, state.stop_reason))
        if self.keep_params:
            self.params.append([(np.array(W), np.array(b)) for W, b in state.params])
        if self.keep_grads:
            self.grads.append([(np.array(W), np.array(b)) for W, b in state.grads])

    @hookimpl
    def deltarule_train_end(self, state):
        self.end_reason = state.stop_reason


def loop_gradient(layers, activations, loss, params, X, y, *, plugins=()):
    """``(L, [(∂L/∂W_1, ∂L/∂b_1), ...])`` as the training loop computes them.

    Two full-batch epochs from ``params`` with an optimizer that does not
    move; the gradient is read from ``state.grads`` by an observer.  With the
    parameters frozen both epochs must agree to the bit: a component that
    modifies the loop's buffers (``y``, ``ŷ``, ``z``, …) shows up here.
    ``activations`` is one component or a list with one per layer.
    """
    from deltarule import Trainer

    rec = Recorder(keep_grads=True)
    trainer = Trainer(
        list(layers), activation=activations, loss=loss, optimizer=FrozenOptimizer,
        init=params, max_epochs=2, plugins=[rec, *plugins], entry_points=False,
    )
    result = trainer.fit(X, y)
    first, second = result.history
    same = (first == second or (first != first and second != second)) and all(
        np.array_equal(p, q, equal_nan=True)
        for pair_1, pair_2 in zip(rec.grads[0], rec.grads[1])
        for p, q in zip(pair_1, pair_2)
    )
    if not same:
        raise AssertionError(
            f"two epochs with frozen parameters differ (loss {first!r} then {second!r}): "
            "a component modified the loop's buffers (its inputs y, y_hat, z or a)"
        )
    return first, rec.grads[0]


def forward(params, activations, X):
    """``[a_0 = X, a_1, ..., a_L]`` and ``[z_1, ..., z_L]`` for ``[(W, b), ...]``."""
    if not isinstance(activations, (list, tuple)):
        activations = [activations] * len(params)
    a, acts, zs = np.asarray(X, dtype=np.float64), [], []
    acts.append(a)
    with np.errstate(over="ignore", under="ignore"):
        for (W, b), f in zip(params, activations):
            z = a @ W + b
            a = np.asarray(f.forward(z), dtype=np.float64)
            zs.append(z)
            acts.append(a)
    return acts, zs


class ScriptedLoss:
    """A loss whose value at epoch ``k`` is ``script[k-1]`` (then the last entry).

    Its gradient is the squared error's, ``ŷ − y``, so parameters still
    move.  Full-batch runs only: the loop asks for the loss once per epoch.
    """

    name = "scripted"
    minimum = 0.0
    model_axis = True  # in a train_many run every model gets the scripted value

    def __init__(self, script):
        self.script = [float(v) for v in script]
        self.calls = 0

    def value(self, y, y_hat):
        v = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        return np.full(len(y_hat), v) if np.ndim(y_hat) == 3 else v

    def gradient(self, y, y_hat):
        return np.subtract(y_hat, y)


TINY_X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
TINY_Y = np.array([[1.0], [1.0], [0.0], [0.0]])


def scripted_trainer(script, *, plugins=(), **options):
    """A :class:`deltarule.Trainer` of the 2-3-1 XOR net whose loss follows
    ``script`` (:class:`ScriptedLoss`); ``max_epochs`` defaults to its length."""
    from deltarule import Trainer

    options.setdefault("seed", 0)
    options.setdefault("max_epochs", len(script))
    guard = Guard(epochs=10 * (options["max_epochs"] or len(script)) + 10)
    return Trainer([2, 3, 1], loss=ScriptedLoss(script), plugins=[guard, *plugins],
                   entry_points=False, **options)


def scripted_run(script, *, plugins=(), recorder=None, **options):
    """Train the 2-3-1 XOR net with :class:`ScriptedLoss` (``script``); return
    ``(result, recorder)``.  ``options`` are :class:`deltarule.Trainer` options."""
    rec = recorder or Recorder()
    trainer = scripted_trainer(script, plugins=[rec, *plugins], **options)
    result = trainer.fit(TINY_X, TINY_Y)
    return result, rec

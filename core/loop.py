"""The epoch loop: the document's five steps, with every step from a plugin.

Per epoch: forward through every layer, the loss, the delta rule backward,
one optimizer step (per batch), then the stop criteria and the observers.
Components are resolved once per run (by :mod:`deltarule.trainer`); the
per-step path calls their bound methods directly and never goes through
``pm.hook``.
"""

from __future__ import annotations

import math
import time
from types import MappingProxyType
from typing import Any

import numpy as np

from .network import Network
from .threads import limit_blas_threads
from .workspace import Workspace


class State:
    """What stop criteria and observers see of a run; read-only for them.

    Attributes: ``epoch`` (epochs completed, 1-based), ``loss`` (training
    loss of that epoch), ``val_loss`` (``None`` without validation data),
    ``history`` / ``val_history`` (read-only arrays of the losses so far), ``params`` (read-only
    views ``[(W1, b1), ...]`` of the live parameters), ``grads`` (read-only
    views of the last batch's gradients), ``grad_norm`` (their L2 norm),
    ``elapsed`` (seconds since the run started), ``config`` (the run's
    options, read-only), ``stop_reason`` (set once the run stops), and
    ``scratch`` (a per-run dict where plugins may keep bookkeeping);
    :meth:`predict` gives the live network's output for any ``X``.
    """

    __slots__ = (
        "_epoch", "_loss", "_val_loss", "_hist", "_n", "_val_hist", "_n_val", "_net",
        "_params", "_grads", "_start", "_config", "_stop_reason", "scratch",
        "_final_params", "restored_loss", "restored_val_loss",
    )

    def __init__(self, net: Network, config: dict, history=(), val_history=(),
                 capacity: int | None = None):
        self._epoch = 0
        self._loss = math.nan
        self._val_loss = None
        # the loss logs are allocated once per run (max_epochs entries when
        # known), so an epoch allocates nothing, not even a float object
        cap = max(capacity or 0, len(history), len(val_history), 16)
        self._hist = np.empty(cap)
        self._n = len(history)
        self._hist[: self._n] = history
        self._val_hist = np.empty(cap)
        self._n_val = len(val_history)
        self._val_hist[: self._n_val] = val_history
        self._net = net
        self._params = net.readonly_params()
        self._grads = net.readonly_grads()
        self._start = time.perf_counter()
        self._config = MappingProxyType(config)
        self._stop_reason = None
        self._final_params = None
        # set when the run ends on other parameters than the last epoch's
        # (restored by a stop criterion, or by the divergence guard)
        self.restored_loss = None
        self.restored_val_loss = None
        self.scratch: dict[str, Any] = {}

    epoch = property(lambda self: self._epoch, doc="Epochs completed so far (1-based).")
    loss = property(lambda self: self._loss, doc="Training loss of the last epoch.")
    val_loss = property(lambda self: self._val_loss, doc="Validation loss, or None.")
    params = property(lambda self: self._params, doc="Read-only [(W, b), ...] views.")
    grads = property(lambda self: self._grads, doc="Read-only gradient views.")
    config = property(lambda self: self._config, doc="The run's options (read-only).")
    stop_reason = property(lambda self: self._stop_reason, doc="Why the run stopped.")

    @property
    def history(self) -> np.ndarray:
        """The loss of every epoch so far: a read-only float64 array view."""
        return _readonly(self._hist[: self._n])

    @property
    def val_history(self) -> np.ndarray:
        """The validation loss of every epoch so far (read-only), or empty."""
        return _readonly(self._val_hist[: self._n_val])

    def _grow(self) -> None:
        """Double the loss logs (runs without a known ``max_epochs``)."""
        for attr in ("_hist", "_val_hist"):
            old = getattr(self, attr)
            new = np.empty(2 * len(old))
            new[: len(old)] = old
            setattr(self, attr, new)

    @property
    def grad_norm(self) -> float:
        """``‖∇θ L‖₂`` of the last batch (computed when asked)."""
        g = self._net.grad
        return math.sqrt(float(np.dot(g, g)))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def predict(self, X) -> np.ndarray:
        """The live network's output for ``X`` ``(n_samples, layers[0])``:
        ``(n_samples, layers[-1])``, as :meth:`Network.predict` (a new array)."""
        return self._net.predict(X)

    def set_final_params(self, params) -> None:
        """Ask the loop to end the run with ``params`` (e.g. the best seen).

        For stop criteria such as ``patience`` that restore earlier
        parameters; takes effect only if the run stops at this epoch.
        """
        self._final_params = [(np.array(W), np.array(b)) for W, b in params]

    def __repr__(self):
        return (
            f"State(epoch={self._epoch}, loss={self._loss!r}, "
            f"val_loss={self._val_loss!r}, stop_reason={self._stop_reason!r})"
        )


def _readonly(view: np.ndarray) -> np.ndarray:
    view.flags.writeable = False
    return view



def _direct_calls(registry, hook_name: str):
    """The hook's implementations as plain ``f(state)`` calls, in pluggy's order.

    ``None`` if any implementation is a wrapper (then the caller must go
    through pluggy).  Calling them directly saves pluggy's ~1.5 µs per call.
    """
    impls = registry.implementations(hook_name, wrappers="defer")
    return None if impls is None else [impl.call for impl in impls]


def run_epochs(registry, net: Network, loss_c, optimizer, X, y, val, state: State, rng,
               *, caller_code: bool = False, weights=None):
    """The epoch loop, as a generator yielding ``state`` after every epoch.

    Everything that can be decided once is decided here, before the first
    epoch: workspaces and their op lists, the stop criteria and observers as
    plain functions, the optimizer's bound ``step``.  ``weights``: the
    training rows' sample weights ``(n,)`` or None; ``val`` is ``(X_val,
    y_val)`` or ``(X_val, y_val, w_val)``.
    """
    pm = registry.pm
    cfg = state.config
    opt_step = optimizer.step
    params, grads = [net.theta], [net.grad]
    n = len(X)
    batch = cfg["batch_size"]
    full = batch is None or batch >= n
    l2 = cfg.get("l2") or 0.0
    if full:
        ws = Workspace(net, loss_c, n, x=X, y=y, w=weights, l2=l2)
        fwd_ops, loss_value, bwd_ops = ws.forward_ops, ws.loss_value, ws.backward_ops
    else:
        run_batches = _batch_runner(net, loss_c, X, y, batch, cfg["shuffle"], rng,
                                    opt_step, params, grads, weights, l2)
    val_loss = None
    if val is not None:
        # a summed loss grows with the rows: put the validation loss on the
        # training set's scale, so the two curves can be compared
        scale = 1.0
        if getattr(loss_c, "reduction", "sum") != "mean":
            n_val = len(val[0]) if len(val) < 3 else float(np.sum(val[2]))
            n_tr = n if weights is None else float(np.sum(weights))
            scale = n_tr / n_val
        val_loss = _validation_loss(net, loss_c, *val, scale=scale)
    # two generations of backups: the divergence guard's "last finite parameters"
    theta = net.theta
    backup = [theta.copy(), theta.copy()]

    stop_hook = pm.hook.deltarule_stop
    stop_fns = _direct_calls(registry, "deltarule_stop")
    epoch_end = pm.hook.deltarule_epoch_end
    end_fns = _direct_calls(registry, "deltarule_epoch_end")
    has_end = bool(epoch_end.get_hookimpls())

    isfinite = math.isfinite
    copyto = np.copyto
    epoch = state._epoch
    # the loop silences NumPy's floating-point warnings (it checks the loss
    # itself); code between steps() epochs gets the caller's settings back
    outer_errstate = np.geterr() if caller_code else None
    reason = None

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"), \
            limit_blas_threads(cfg["threads"]):
        pm.hook.deltarule_train_start(state=state)
        try:
            while reason is None:
                epoch += 1
                copyto(backup[epoch & 1], theta)
                if full:
                    for op in fwd_ops:
                        op()
                    loss = float(loss_value())
                    if isfinite(loss):
                        for op in bwd_ops:
                            op()
                        opt_step(params, grads)
                else:
                    loss = run_batches()
                if state._n == len(state._hist):
                    state._grow()
                state._hist[state._n] = loss
                state._n += 1
                state._epoch = epoch
                state._loss = loss
                if not isfinite(loss):
                    reason = "diverged"
                    _restore_finite(net, backup, epoch, X, y, loss_c)
                    _score_restored(state, net, loss_c, X, y, weights, l2, val)
                else:
                    if val_loss is not None:
                        v = val_loss()
                        state._val_loss = v
                        state._val_hist[state._n_val] = v
                        state._n_val += 1
                    if stop_fns is None:
                        reason = next((r for r in stop_hook(state=state) if r is not None),
                                      None)
                    else:
                        # every criterion is asked (they may keep bookkeeping);
                        # the first answer in pluggy's order is the reason
                        for f in stop_fns:
                            answer = f(state)
                            if reason is None:
                                reason = answer
                if reason is not None:
                    state._stop_reason = reason
                    if state._final_params is not None and reason != "diverged":
                        net.set_params(state._final_params)
                        _score_restored(state, net, loss_c, X, y, weights, l2, val)
                else:
                    state._final_params = None  # asked for by a criterion that did not stop
                if has_end:
                    if end_fns is None:
                        epoch_end(state=state)
                    else:
                        for f in end_fns:
                            f(state)
                if outer_errstate is None:
                    yield state
                else:  # the caller's loop body runs with its own NumPy error settings
                    with np.errstate(**outer_errstate):
                        yield state
        except KeyboardInterrupt:
            # Ctrl-C ends the run cleanly: the parameters reached are kept (the
            # trainer's result), then the interrupt goes on to the caller, so a
            # script of several runs stops as a whole
            state._stop_reason = "interrupted"
            if not np.isfinite(theta).all():
                _restore_finite(net, backup, epoch, X, y, loss_c)
            raise
        except GeneratorExit:
            if state._stop_reason is None:
                state._stop_reason = "caller"
            raise
        except Exception:
            # a plugin (or component) raised: the parameters reached are kept
            state._stop_reason = "error"
            raise
        finally:
            if state._stop_reason is None:
                state._stop_reason = reason or "caller"
            pm.hook.deltarule_train_end(state=state)


def _score_restored(state, net, loss_c, X, y, weights, l2, val) -> None:
    """Record the losses of the parameters the run ends with, when they are
    not the last epoch's: on the whole training set (with the L2 term) and
    the validation set."""
    state.restored_loss = full_loss(net, loss_c, X, y, weights, l2)
    if val is not None:
        value = full_loss(net, loss_c, *val)
        if getattr(loss_c, "reduction", "sum") != "mean":  # as _validation_loss scales it
            n_val = len(val[0]) if len(val) < 3 else float(np.sum(val[2]))
            value *= (len(X) if weights is None else float(np.sum(weights))) / n_val
        state.restored_val_loss = value


def full_loss(net: Network, loss_c, X, y, weights=None, l2: float = 0.0) -> float:
    """``L(y, ŷ(X))`` of the current parameters over all of ``X`` (one batch),
    weighted by ``weights``, plus the L2 term as the workspace adds it."""
    y_hat = net.forward(X)
    if weights is None:
        value = float(loss_c.value(y, y_hat))
        total = len(X)
    else:
        value = float(loss_c.value(y, y_hat, weights=weights))
        total = float(np.sum(weights))
    if l2:
        c = 1.0 / total if getattr(loss_c, "reduction", "sum") == "mean" else 1.0
        value += 0.5 * l2 * c * sum(float(np.vdot(W, W)) for W in net.weights)
    return value


def _filled_workspace(net: Network, loss_c, X, y, backward: bool = True) -> Workspace:
    """A workspace over the whole of ``X``, ``y`` (the run's private copies)."""
    return Workspace(net, loss_c, len(X), x=X, y=y, backward=backward)


def _batch_runner(net, loss_c, X, y, batch, shuffle, rng, opt_step, params, grads,
                  weights=None, l2=0.0):
    """``() -> epoch loss`` for mini-batches, reshuffled each epoch with ``rng``.

    The epoch loss sums the batch losses (``reduction="sum"``) or weighs them
    by their share of the rows (``reduction="mean"``), so it is comparable
    with the full-batch loss.  A non-finite batch loss ends the epoch before
    its step.
    """
    n = len(X)
    weighted = weights is not None
    spaces = {batch: Workspace(net, loss_c, batch, weighted=weighted, l2=l2)}
    if n % batch:
        spaces[n % batch] = Workspace(net, loss_c, n % batch, weighted=weighted, l2=l2)
    mean = getattr(loss_c, "reduction", "sum") == "mean"
    plan = []
    for start in range(0, n, batch):
        ws = spaces[min(batch, n - start)]
        weight = ws.n_rows / n if mean else 1.0
        plan.append((slice(start, start + ws.n_rows), ws.x, ws.y, ws.w, ws.forward_ops,
                     ws.loss_value, ws.backward_ops, weight))
    unshuffled = np.arange(n)
    order = unshuffled.copy()
    take_x, take_y, isfinite = X.take, y.take, math.isfinite
    take_w = weights.take if weighted else None

    def run_batches() -> float:
        if shuffle:
            # from arange each epoch, so partial_fit continues exactly like one run
            np.copyto(order, unshuffled)
            rng.shuffle(order)
        total = 0.0
        for rows, xb, yb, wb, fwd_ops, loss_value, bwd_ops, weight in plan:
            idx = order[rows]
            take_x(idx, 0, xb)
            take_y(idx, 0, yb)
            if weighted:
                take_w(idx, 0, wb)
            for op in fwd_ops:
                op()
            part = float(loss_value())
            if not isfinite(part):
                return part
            total += part * weight
            for op in bwd_ops:
                op()
            opt_step(params, grads)
        return total

    return run_batches


def _validation_loss(net: Network, loss_c, Xv, yv, wv=None, *, scale: float = 1.0):
    """``() -> scale · L(y_val, ŷ_val)`` with the current parameters (weighted by
    ``wv``); ``scale`` is ``n_train / n_val`` for a summed loss."""
    ws = _filled_workspace(net, loss_c, Xv, yv, backward=False)
    fwd_ops, value, y_hat = ws.forward_ops, loss_c.value, ws.y_hat

    if wv is not None:
        def val_loss() -> float:
            for op in fwd_ops:
                op()
            return scale * float(value(yv, y_hat, weights=wv))
        return val_loss

    def val_loss() -> float:
        for op in fwd_ops:
            op()
        return scale * float(value(yv, y_hat))

    return val_loss


def _restore_finite(net: Network, backup, epoch: int, X, y, loss_c) -> None:
    """Put back the newest parameters that are finite *and* score a finite loss.

    Candidates, newest first: the epoch's starting parameters, then the
    previous epoch's.  Full batch, the first scored the non-finite loss, so
    the second — the parameters behind ``history[-2]`` — is kept.  Failing
    both, the newest finite parameters are kept (never NaN parameters).
    """
    candidates = [net.theta.copy(), backup[epoch & 1], backup[(epoch + 1) & 1]]
    finite = [c for c in candidates if np.isfinite(c).all()]
    for theta in finite:
        np.copyto(net.theta, theta)
        if math.isfinite(float(loss_c.value(y, net.forward(X)))):
            return
    if finite:
        np.copyto(net.theta, finite[0])

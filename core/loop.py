"""The epoch loop: the document's five steps, with every step from a plugin.

Every epoch, for every batch (a full batch is one batch of every row):

1. **forward**         ``a_l = f_l(a_{l-1} W_l + b_l)`` through every layer;
2. **error**           the loss ``L(y, ŷ)``, leaving ``∂L/∂ŷ`` (or ``δ_L``);
3. **back-propagate**  the delta rule, ``δ_l`` and ``∂L/∂W_l``, ``∂L/∂b_l``;
4. **update**          one optimizer step;

then, once per epoch,

5. **stop?**           the stop criteria, then the observers.

Everything that can be decided once is decided before the first epoch, by
:class:`Run`: the workspaces and their pre-bound op lists
(:mod:`deltarule.workspace`), the stop criteria and observers as plain
calls, the optimizer's bound ``step``.  The per-step path never calls
``pm.hook`` and allocates no array.

The run's record is a :class:`RunLog`, written only here; plugins see it
through :class:`State`, a read-only view, and the trainer builds its
``TrainResult`` from it.
"""

from __future__ import annotations

import math
import time
from functools import partial
from operator import attrgetter
from types import MappingProxyType
from typing import Any, Callable, Iterator

import numpy as np

from .faults import bad_stop_answer
from .network import Network
from .protocols import capabilities
from .threads import limit_blas_threads
from .workspace import Workspace


class RunLog:
    """The record of one run, written by the loop alone.

    ``epoch`` (epochs completed), ``loss`` / ``val_loss`` (of the last
    epoch), ``history`` / ``val_history`` (every epoch's, read-only arrays),
    ``stop_reason`` (``None`` while running), ``final_params`` (parameters a
    stop criterion asked to end with, or ``None``), ``start`` (the
    ``time.perf_counter()`` at which the run started), and
    ``restored_loss`` / ``restored_val_loss``: when the run ends on other
    parameters than the last epoch's (restored by a stop criterion or by the
    divergence guard), the losses those parameters score, else ``None``.
    """

    __slots__ = ("epoch", "loss", "val_loss", "stop_reason", "final_params", "start",
                 "restored_loss", "restored_val_loss",
                 "_hist", "_n", "_val_hist", "_n_val")

    def __init__(self, history=(), val_history=(), capacity: int | None = None):
        self.epoch = 0
        self.loss = math.nan
        self.val_loss = None
        self.stop_reason = None
        self.final_params = None
        self.restored_loss = None
        self.restored_val_loss = None
        self.start = time.perf_counter()
        # the loss logs are allocated once per run (max_epochs entries when
        # known), so an epoch allocates nothing, not even a float object
        cap = max(capacity or 0, len(history), len(val_history), 16)
        self._hist = np.empty(cap)
        self._n = len(history)
        self._hist[: self._n] = history
        self._val_hist = np.empty(cap)
        self._n_val = len(val_history)
        self._val_hist[: self._n_val] = val_history

    def record(self, loss: float) -> None:
        """Close an epoch: it is one more, and ``loss`` was its training loss."""
        n = self._n
        if n == len(self._hist):
            self._grow()
        self._hist[n] = loss
        self._n = n + 1
        self.epoch += 1
        self.loss = loss

    def record_val(self, val_loss: float) -> None:
        """The validation loss measured after the epoch just recorded."""
        self._val_hist[self._n_val] = val_loss
        self._n_val += 1
        self.val_loss = val_loss

    def _grow(self) -> None:
        """Double the loss logs (runs without a known ``max_epochs``)."""
        for attr in ("_hist", "_val_hist"):
            old = getattr(self, attr)
            new = np.empty(2 * len(old))
            new[: len(old)] = old
            setattr(self, attr, new)

    @property
    def history(self) -> np.ndarray:
        """The loss of every epoch so far: a read-only float64 array view."""
        return _readonly(self._hist[: self._n])

    @property
    def val_history(self) -> np.ndarray:
        """The validation loss of every epoch so far (read-only), or empty."""
        return _readonly(self._val_hist[: self._n_val])

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class State:
    """What stop criteria and observers see of a run: a read-only view of it.

    Attributes: ``epoch`` (epochs completed, 1-based), ``loss`` (training
    loss of that epoch), ``val_loss`` (``None`` without validation data),
    ``history`` / ``val_history`` (read-only arrays of the losses so far),
    ``params`` (read-only views ``[(W1, b1), ...]`` of the live parameters),
    ``grads`` (read-only views of the last batch's gradients), ``grad_norm``
    (their L2 norm), ``elapsed`` (seconds since the run started), ``config``
    (the run's options, read-only), ``stop_reason`` (set once the run
    stops), and ``scratch`` (a per-run dict where plugins may keep
    bookkeeping); :meth:`predict` gives the live network's output for any
    ``X``.

    ``State(net, config, history, val_history)`` builds a state over a log of
    its own (for driving a plugin by hand, pass ``log=RunLog()`` and write
    the log).
    """

    __slots__ = ("_log", "_net", "_params", "_grads", "_config", "scratch")

    def __init__(self, net: Network, config: dict, history=(), val_history=(),
                 capacity: int | None = None, *, log: RunLog | None = None):
        self._log = RunLog(history, val_history, capacity) if log is None else log
        self._net = net
        self._params = net.readonly_params()
        self._grads = net.readonly_grads()
        self._config = MappingProxyType(config)
        self.scratch: dict[str, Any] = {}

    # attrgetter: read per epoch by every stop criterion, so no Python frame
    epoch = property(attrgetter("_log.epoch"), doc="Epochs completed so far (1-based).")
    loss = property(attrgetter("_log.loss"), doc="Training loss of the last epoch.")
    val_loss = property(attrgetter("_log.val_loss"), doc="Validation loss, or None.")
    stop_reason = property(attrgetter("_log.stop_reason"), doc="Why the run stopped.")
    history = property(attrgetter("_log.history"),
                       doc="The loss of every epoch so far (read-only array).")
    val_history = property(attrgetter("_log.val_history"),
                           doc="The validation loss of every epoch so far (read-only).")
    params = property(attrgetter("_params"), doc="Read-only [(W, b), ...] views.")
    grads = property(attrgetter("_grads"), doc="Read-only gradient views.")
    config = property(attrgetter("_config"), doc="The run's options (read-only).")

    @property
    def grad_norm(self) -> float:
        """``‖∇θ L‖₂`` of the last batch (computed when asked)."""
        g = self._net.grad
        return math.sqrt(float(np.dot(g, g)))

    @property
    def elapsed(self) -> float:
        return self._log.elapsed

    def predict(self, X) -> np.ndarray:
        """The live network's output for ``X`` ``(n_samples, layers[0])``:
        ``(n_samples, layers[-1])``, as :meth:`Network.predict` (a new array)."""
        return self._net.predict(X)

    def set_final_params(self, params) -> None:
        """Ask the loop to end the run with ``params`` (e.g. the best seen).

        For stop criteria such as ``patience`` that restore earlier
        parameters; takes effect only if the run stops at this epoch.
        """
        self._log.final_params = [(np.array(W), np.array(b)) for W, b in params]

    def __repr__(self):
        log = self._log
        return (
            f"State(epoch={log.epoch}, loss={log.loss!r}, "
            f"val_loss={log.val_loss!r}, stop_reason={log.stop_reason!r})"
        )


def _readonly(view: np.ndarray) -> np.ndarray:
    view.flags.writeable = False
    return view


# -- steps 1-4: one epoch --------------------------------------------------------


def batch_plan(net: Network, loss_c, X, y, batch_size, order: np.ndarray, weights=None,
               l2: float = 0.0):
    """``[(forward_ops, error, backward_ops, weight), ...]``: every batch of an epoch.

    A full batch (``batch_size`` ``None`` or ``≥ len(X)``) is one batch that
    reads ``X`` and ``y`` in place.  Mini-batch ``k`` starts by gathering the
    rows ``order[k·b : (k+1)·b]`` into its workspace: ``order`` is shuffled
    in place each epoch, so the pre-bound gathers follow it.  ``weight``
    makes the epoch loss comparable with the full-batch loss: 1 for
    ``reduction="sum"``, the batch's share of the rows for ``"mean"``.
    ``weights`` ``(n,)``: the rows' sample weights; ``l2``: the penalty's
    ``λ`` (see :mod:`deltarule.workspace`).
    """
    n = len(X)
    if batch_size is None or batch_size >= n:
        ws = Workspace(net, loss_c, n, x=X, y=y, w=weights, l2=l2)
        return [(ws.forward_ops, ws.loss_value, ws.backward_ops, 1.0)]
    weighted = weights is not None
    spaces = {batch_size: Workspace(net, loss_c, batch_size, weighted=weighted, l2=l2)}
    if n % batch_size:
        spaces[n % batch_size] = Workspace(net, loss_c, n % batch_size, weighted=weighted,
                                           l2=l2)
    mean = capabilities(loss_c).reduction == "mean"
    plan = []
    for start in range(0, n, batch_size):
        ws = spaces[min(batch_size, n - start)]
        rows = order[start:start + ws.n_rows]  # a view: follows the shuffles
        # mode "clip": ``rows`` is a permutation of range(n), so nothing is ever
        # clipped, and unlike "raise" it does not buffer ``out`` (10× faster)
        gather = [partial(X.take, rows, 0, ws.x, "clip"),
                  partial(y.take, rows, 0, ws.y, "clip")]
        if weighted:
            gather.append(partial(weights.take, rows, 0, ws.w, "clip"))
        plan.append((gather + ws.forward_ops, ws.loss_value, ws.backward_ops,
                     ws.n_rows / n if mean else 1.0))
    return plan


def step(forward, error, backward, opt_step, params, grads) -> float:
    """Steps 1-4 on one batch; returns its loss (no update if it is not finite)."""
    for op in forward:            # 1. forward
        op()
    loss = float(error())         # 2. error: L(y, ŷ), leaving ∂L/∂ŷ or δ_L
    if math.isfinite(loss):
        for op in backward:       # 3. back-propagate: δ_l, ∂L/∂W_l, ∂L/∂b_l
            op()
        opt_step(params, grads)   # 4. update
    return loss


def epoch_function(net: Network, loss_c, optimizer, X, y, batch_size, shuffle, rng,
                   weights=None, l2: float = 0.0) -> Callable[[], float]:
    """``() -> epoch loss``: :func:`step` on every batch, reshuffled with ``rng``.

    The epoch loss sums the batches' losses, each times its weight; a
    non-finite batch loss ends the epoch there.
    """
    n = len(X)
    unshuffled = np.arange(n)
    order = unshuffled.copy()
    plan = batch_plan(net, loss_c, X, y, batch_size, order, weights, l2)
    opt_step, params, grads = optimizer.step, [net.theta], [net.grad]
    if len(plan) == 1:  # a full batch: the epoch is one step (weight 1)
        forward, error, backward, _ = plan[0]
        return partial(step, forward, error, backward, opt_step, params, grads)
    isfinite, copyto, permute = math.isfinite, np.copyto, rng.shuffle

    def epoch() -> float:
        if shuffle:
            # from arange each epoch, so partial_fit continues exactly like one run
            copyto(order, unshuffled)
            permute(order)
        total = 0.0
        for forward, error, backward, weight in plan:
            loss = step(forward, error, backward, opt_step, params, grads)
            if not isfinite(loss):
                return loss
            total += loss * weight
        return total

    return epoch


def validation_loss(net: Network, loss_c, Xv, yv, wv=None, *, scale: float = 1.0
                    ) -> Callable[[], float]:
    """``() -> scale · L(y_val, ŷ_val)`` with the current parameters (weighted by
    ``wv``); ``scale`` puts a summed loss on the training set's scale."""
    ws = Workspace(net, loss_c, len(Xv), x=Xv, y=yv, backward=False)
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


def validation_scale(loss_c, n_train: float, val) -> float:
    """``n_train / n_val`` for a summed loss (by total sample weight when the
    rows are weighted), 1 for a mean: a summed loss grows with the rows, and
    the validation loss is reported on the training set's scale so the two
    curves can be compared."""
    if capabilities(loss_c).reduction == "mean":
        return 1.0
    n_val = len(val[0]) if len(val) < 3 else float(np.sum(val[2]))
    return n_train / n_val


def full_loss(net: Network, loss_c, X, y, weights=None, l2: float = 0.0) -> float:
    """``L(y, ŷ(X))`` of the current parameters over all of ``X`` (one batch),
    weighted by ``weights``, plus the L2 term as the workspace adds it."""
    y_hat = net.forward(X)
    if weights is None:
        value, total = float(loss_c.value(y, y_hat)), len(X)
    else:
        value, total = float(loss_c.value(y, y_hat, weights=weights)), float(np.sum(weights))
    if l2:
        # ½ θ·(θ ⊙ decay), decay = λc at the weights: as the workspace computes it
        mean = capabilities(loss_c).reduction == "mean"
        lam_c = (l2 / total if weights is None else l2 * (1.0 / total)) if mean else l2
        theta = net.theta
        value += 0.5 * float(np.vdot(theta, theta * net.weight_mask(lam_c)))
    return value


# -- step 5: stop? and the observers --------------------------------------------


def stop_criteria(registry) -> list[Callable[[State], str | None]]:
    """The stop criteria as plain ``state -> reason or None`` calls, in pluggy's order.

    If a wrapper needs pluggy, the list is one call through ``pm.hook`` that
    answers with the first reason.
    """
    calls = _plain_calls(registry, "deltarule_stop")
    if calls is None:
        hook = registry.pm.hook.deltarule_stop
        return [lambda state: next((r for r in hook(state=state) if r is not None), None)]
    return calls


def observers(registry, hook_name: str) -> Callable[[State], None] | None:
    """``state -> None`` calling every implementation of ``hook_name``; ``None`` if none."""
    calls = _plain_calls(registry, hook_name)
    if calls is None:
        hook = getattr(registry.pm.hook, hook_name)
        return lambda state: hook(state=state)
    if not calls:
        return None
    if len(calls) == 1:
        return calls[0]

    def notify(state: State) -> None:
        for call in calls:
            call(state)

    return notify


def _plain_calls(registry, hook_name: str):
    """The hook's implementations as ``f(state)``, or ``None`` if pluggy must run them."""
    impls = registry.implementations(hook_name, wrappers="defer")
    return None if impls is None else [impl.call for impl in impls]


# -- the run ---------------------------------------------------------------------


class Run:
    """One run of the loop over prepared data: everything decided before epoch 1.

    ``registry`` supplies the stop criteria and observers; ``loss_c`` and
    ``optimizer`` are the resolved components; ``X``, ``y`` (and ``val``,
    ``(X_val, y_val)``, ``(X_val, y_val, w_val)`` or ``None``) are the run's
    own C-contiguous arrays in the network's dtype, ``weights`` the training
    rows' sample weights or ``None``; ``config`` the run's options; ``rng``
    shuffles.
    :attr:`log` is the run's record and :attr:`state` the plugins' view of it.
    """

    def __init__(self, registry, net: Network, loss_c, optimizer, X, y, val, config: dict,
                 rng: np.random.Generator, *, weights=None, on_fault=None):
        """``weights``: the training rows' sample weights, or None.
        ``on_fault(exc, epoch)``, if given, is asked when anything raises during
        the run; it may return the exception to raise instead (a ``PluginError``
        naming the plugin), chained to ``exc``."""
        self.registry, self.net, self.loss, self.X, self.y = registry, net, loss_c, X, y
        self.on_fault = on_fault
        self.config, self.weights, self.val = config, weights, val
        self.l2 = config.get("l2") or 0.0
        self.log = RunLog(capacity=min(config["max_epochs"] or 0, 1 << 16))
        self.state = State(net, config, log=self.log)
        self.epoch = epoch_function(net, loss_c, optimizer, X, y, config["batch_size"],
                                    config["shuffle"], rng, weights, self.l2)
        self.val_scale = 1.0
        if val is not None:
            n_train = len(X) if weights is None else float(np.sum(weights))
            self.val_scale = validation_scale(loss_c, n_train, val)
        self.val_loss = None if val is None else validation_loss(
            net, loss_c, *val, scale=self.val_scale)
        self.stop_calls = stop_criteria(registry)
        # who answered what, should an answer be neither None nor a reason
        self.stop_source = registry.implementations("deltarule_stop", wrappers="defer") \
            or registry
        self.epoch_end = observers(registry, "deltarule_epoch_end")
        # two generations of backups: the divergence guard's "last finite parameters"
        self.backup = [net.theta.copy(), net.theta.copy()]
        self.current = 0  # the epoch running (or just run)

    def epochs(self, *, caller_code: bool = False) -> Iterator[State]:
        """Run epochs until a stop criterion answers, yielding the state after each.

        With ``caller_code``, the code between epochs (the caller's loop body)
        runs with the caller's NumPy error settings; the loop itself silences
        floating-point warnings, since it checks the loss itself.
        """
        log, state, hook = self.log, self.state, self.registry.pm.hook
        outer_errstate = np.geterr() if caller_code else None
        with np.errstate(all="ignore"), limit_blas_threads(self.config["threads"]):
            try:
                hook.deltarule_train_start(state=state)
                while log.stop_reason is None:
                    self.run_epoch()
                    if outer_errstate is None:
                        yield state
                    else:
                        with np.errstate(**outer_errstate):
                            yield state
            except KeyboardInterrupt as exc:
                # Ctrl-C ends the run cleanly: the parameters reached are kept (the
                # trainer's result), then the interrupt goes on to the caller, so a
                # script of several runs stops as a whole.  A KeyboardInterrupt
                # subclass may name the reason (the command line's SIGTERM and
                # SIGHUP: "terminated")
                given = getattr(exc, "stop_reason", None)
                log.stop_reason = given if isinstance(given, str) and given else "interrupted"
                if not np.isfinite(self.net.theta).all():
                    self.restore_finite()
                raise
            except GeneratorExit:
                log.stop_reason = log.stop_reason or "caller"
                raise
            except Exception as exc:
                # a plugin (or component) raised: keep the last epoch's parameters
                log.stop_reason = "error"
                if log.epoch < self.current or not np.isfinite(self.net.theta).all():
                    # mid-epoch: back to the epoch's start, history[-1]'s parameters
                    np.copyto(self.net.theta, self.backup[self.current & 1])
                self.fault(exc, self.current)
            finally:
                log.stop_reason = log.stop_reason or "caller"
                try:
                    hook.deltarule_train_end(state=state)
                except Exception as exc:
                    log.stop_reason = "error"
                    self.fault(exc, log.epoch)

    def fault(self, exc: Exception, epoch: int):
        """Re-raise ``exc``, or the error ``on_fault`` makes of it, chained to it."""
        error = self.on_fault(exc, epoch) if self.on_fault is not None else None
        if error is None or error is exc:
            raise exc
        raise error from exc

    def run_epoch(self) -> None:
        """One epoch: steps 1-4 on every batch, then 5, stop?, and the observers."""
        log, state = self.log, self.state
        self.current = epoch = log.epoch + 1
        np.copyto(self.backup[epoch & 1], self.net.theta)
        loss = self.epoch()                      # 1-4 on every batch
        log.record(loss)
        reason = None
        if not math.isfinite(loss):
            self.restore_finite()
            self.score_restored()
            reason = "diverged"
        else:
            if self.val_loss is not None:
                log.record_val(self.val_loss())
            # 5. stop? every criterion is asked (they may keep bookkeeping);
            # the first answer in pluggy's order is the reason
            for ask in self.stop_calls:
                answer = ask(state)
                if answer is not None:
                    if type(answer) is not str or not answer:
                        raise bad_stop_answer(ask, answer, self.stop_source, epoch)
                    if reason is None:
                        reason = answer
        if reason is None:
            log.final_params = None  # asked for by a criterion that did not stop
        else:
            log.stop_reason = reason
            if log.final_params is not None and reason != "diverged":
                self.net.set_params(log.final_params)
                self.score_restored()
        if self.epoch_end is not None:
            self.epoch_end(state)

    def score_restored(self) -> None:
        """Record the losses of the parameters the run ends with, when they are
        not the last epoch's: on the whole training set (with the L2 term) and
        on the validation set (on the scale of the validation curve)."""
        log = self.log
        log.restored_loss = full_loss(self.net, self.loss, self.X, self.y, self.weights,
                                      self.l2)
        if self.val is not None:
            log.restored_val_loss = self.val_scale * full_loss(self.net, self.loss, *self.val)

    def restore_finite(self) -> None:
        """Put back the newest parameters that are finite *and* score a finite loss.

        Candidates, newest first: the current parameters, the epoch's
        starting parameters, then the previous epoch's.  Full batch, the
        epoch's start scored the non-finite loss, so the previous epoch's —
        the parameters behind ``history[-2]`` — are kept.  Failing every
        candidate, the newest finite parameters are kept (never NaN).
        """
        net, epoch = self.net, self.current
        candidates = [net.theta.copy(), self.backup[epoch & 1], self.backup[(epoch + 1) & 1]]
        finite = [c for c in candidates if np.isfinite(c).all()]
        for theta in finite:
            np.copyto(net.theta, theta)
            if math.isfinite(float(self.loss.value(self.y, net.forward(self.X)))):
                return
        if finite:
            np.copyto(net.theta, finite[0])

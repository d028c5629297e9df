"""Stop criteria: ``deltarule_stop(state)`` returns a reason string or None.

Each declares the options it reads (``deltarule_options``), then reads them
from ``state.config`` (the run's options) and keeps
any per-run bookkeeping in ``state.scratch``, never in themselves, so one
instance serves every run, including runs interleaved in one thread.  A
setting left at ``None`` switches its criterion off.

==================  ==================================  =================
reason              stops after the epoch where          setting(s)
==================  ==================================  =================
``max_epochs``      ``state.epoch ≥ max_epochs``         ``max_epochs``
``target_loss``     ``state.loss ≤ target_loss``         ``target_loss``
``patience``        no improvement for ``patience``      ``patience``,
                    epochs (restores the best            ``min_delta``
                    parameters)
``time_budget``     ``state.elapsed ≥ time_budget`` s    ``time_budget``
``gradient_norm``   ``‖∇θ L‖₂ ≤ gradient_tol``           ``gradient_tol``
==================  ==================================  =================

The divergence guard (``"diverged"``: a non-finite loss) is part of the loop
itself, not a plugin.

Model axis: every criterion here declares ``model_axis = True``.  In a
``deltarule.train_many`` run it is asked once per epoch with the stacked
:class:`deltarule.stacked.ManyState`, whose ``loss``, ``val_loss`` and
``grad_norm`` are arrays with one entry per model and whose ``config``
holds an array where a setting differs between models; it answers with
``None`` (no model stops), one reason for every model, or an array with a
reason or ``None`` per model.  The same comparisons serve both: each
model is judged on its own numbers.
"""

from __future__ import annotations

import math

import numpy as np

from deltarule.config import Option, non_negative, number, positive, positive_int, seconds
from deltarule.hookspecs import hookimpl


def _per_model(hit, reason):
    """``hit`` from a model-axis state: ``reason`` where True, else ``None``."""
    return np.where(hit, reason, None) if hit.any() else None


class MaxEpochs:
    """Stop once ``state.epoch`` reaches ``config["max_epochs"]``."""

    name = "max_epochs"
    model_axis = True

    @hookimpl
    def deltarule_stop(self, state):
        limit = state.config.get("max_epochs")
        if limit is None:
            return None
        hit = state.epoch >= limit
        if hit is False:  # one run (a Python bool): the common case first
            return None
        if hit is True or not isinstance(hit, np.ndarray):
            return "max_epochs" if hit else None
        return _per_model(hit, "max_epochs")  # model axis, a limit per model


class TargetLoss:
    """Stop at the first epoch whose loss is ``≤ config["target_loss"]``."""

    name = "target_loss"
    model_axis = True

    OPTIONS = (Option("target_loss", None, number,
                      "stop once the training loss is at most this", stops=True),)

    @hookimpl
    def deltarule_options(self):
        return self.OPTIONS

    @hookimpl
    def deltarule_stop(self, state):
        target = state.config.get("target_loss")
        if target is None:
            return None
        hit = state.loss <= target
        if hit is False:  # one run (a Python bool): the common case first
            return None
        if hit is True or not isinstance(hit, np.ndarray):
            return "target_loss" if hit else None
        return _per_model(hit, "target_loss")  # model axis: a loss per model


def _copy_params(params):
    return [(np.array(W), np.array(b)) for W, b in params]


def _copy_into(dst, params):
    for (W_dst, b_dst), (W, b) in zip(dst, params):
        np.copyto(W_dst, W)
        np.copyto(b_dst, b)


class Patience:
    """Early stopping: ``"patience"`` after ``config["patience"]`` epochs without
    improvement, then the run ends with the best parameters seen.

    The monitored loss is the validation loss when the run has validation
    data, else the training loss.  An epoch improves when its monitored loss
    is below the best so far minus ``config["min_delta"]`` (default 0).

    Which parameters are "best": the validation loss of epoch ``k`` is
    measured *after* the epoch's updates, so it belongs to the parameters at
    the end of epoch ``k``; the training loss of epoch ``k`` is measured
    during the epoch, so it belongs to the parameters at its *start* (with
    full batches, exactly those that produced it).  Those are the parameters
    restored via ``state.set_final_params``.

    Bookkeeping (``state.scratch["patience"]``): the best loss, its epoch,
    the epochs waited, and two parameter copies allocated once per run.
    """

    name = "patience"
    model_axis = True

    OPTIONS = (
        Option("patience", None, positive_int,
               "stop after this many epochs without improvement (restores the best "
               "parameters)", stops=True),
        Option("min_delta", 0.0, non_negative,
               "the least decrease of the monitored loss that counts as improvement"),
    )

    @hookimpl
    def deltarule_options(self):
        return self.OPTIONS

    @hookimpl
    def deltarule_train_start(self, state):
        if state.config.get("patience") is not None:
            state.scratch["patience"] = self._new_book(state)

    @staticmethod
    def _new_book(state):
        if isinstance(state.loss, np.ndarray):  # model axis: one entry per model
            n = len(state.loss)
            return {
                "best": np.full(n, math.inf),
                "best_epoch": np.zeros(n, dtype=np.int64),
                "wait": np.zeros(n, dtype=np.int64),
                "best_params": _copy_params(state.params),
                "prev_params": _copy_params(state.params),
            }
        return {
            "best": math.inf,
            "best_epoch": 0,
            "wait": 0,
            "best_params": _copy_params(state.params),
            "prev_params": _copy_params(state.params),  # the current epoch's start
        }

    @hookimpl
    def deltarule_stop(self, state):
        patience = state.config.get("patience")
        if patience is None:
            return None
        book = state.scratch.get("patience")
        if book is None:  # called without deltarule_train_start
            book = state.scratch["patience"] = self._new_book(state)
        use_val = state.val_loss is not None
        monitored = state.val_loss if use_val else state.loss
        min_delta = state.config.get("min_delta")
        if min_delta is None:
            min_delta = 0.0
        if isinstance(monitored, np.ndarray):
            return self._stop_per_model(state, book, monitored, min_delta, patience,
                                        use_val)
        if monitored < book["best"] - min_delta:
            book["best"], book["best_epoch"], book["wait"] = monitored, state.epoch, 0
            if use_val:
                _copy_into(book["best_params"], state.params)
            else:
                # the epoch's starting parameters become the best: swap buffers
                book["best_params"], book["prev_params"] = (
                    book["prev_params"], book["best_params"])
        else:
            book["wait"] += 1
        if not use_val:
            _copy_into(book["prev_params"], state.params)
        if book["wait"] >= patience:
            state.set_final_params(book["best_params"])
            return "patience"
        return None

    @staticmethod
    def _stop_per_model(state, book, monitored, min_delta, patience, use_val):
        """The rule above, with every number one entry per model."""
        improved = monitored < book["best"] - min_delta
        book["best"] = np.where(improved, monitored, book["best"])
        book["best_epoch"][improved] = state.epoch
        book["wait"] += 1
        book["wait"][improved] = 0
        for (W_best, b_best), (W_from, b_from) in zip(
                book["best_params"], state.params if use_val else book["prev_params"]):
            W_best[improved] = W_from[improved]
            b_best[improved] = b_from[improved]
        if not use_val:
            _copy_into(book["prev_params"], state.params)
        stop = book["wait"] >= patience
        if not stop.any():
            return None
        state.set_final_params(book["best_params"], stop)
        return np.where(stop, "patience", None)


class TimeBudget:
    """Stop once the run has taken ``config["time_budget"]`` seconds or more.

    Checked after every epoch, so a run overshoots by at most one epoch.
    """

    name = "time_budget"
    model_axis = True

    OPTIONS = (Option("time_budget", None, seconds, "stop after this many seconds",
                      stops=True),)

    @hookimpl
    def deltarule_options(self):
        return self.OPTIONS

    @hookimpl
    def deltarule_stop(self, state):
        budget = state.config.get("time_budget")
        if budget is None:
            return None
        hit = state.elapsed >= budget
        if hit is False:  # one run (a Python bool): the common case first
            return None
        if hit is True or not isinstance(hit, np.ndarray):
            return "time_budget" if hit else None
        return _per_model(hit, "time_budget")  # model axis, a budget per model


class GradientNorm:
    """Stop once ``state.grad_norm ≤ config["gradient_tol"]``.

    ``state.grad_norm`` is the L2 norm of the last batch's gradient with
    respect to every parameter (the full-batch gradient when
    ``batch_size`` is unset): a (near) stationary point was reached.
    """

    name = "gradient_norm"
    model_axis = True

    OPTIONS = (Option("gradient_tol", None, positive,
                      "stop (reason 'gradient_norm') once the gradient's L2 norm is at "
                      "most this", stops=True),)

    @hookimpl
    def deltarule_options(self):
        return self.OPTIONS

    @hookimpl
    def deltarule_stop(self, state):
        tol = state.config.get("gradient_tol")
        if tol is None:
            return None
        hit = state.grad_norm <= tol
        if hit is False:  # one run (a Python bool): the common case first
            return None
        if hit is True or not isinstance(hit, np.ndarray):
            return "gradient_norm" if hit else None
        return _per_model(hit, "gradient_norm")  # model axis: a norm per model


PLUGINS = [MaxEpochs(), TargetLoss(), Patience(), TimeBudget(), GradientNorm()]

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
"""

from __future__ import annotations

import math

import numpy as np

from deltarule.config import Option, non_negative, number, positive, positive_int, seconds
from deltarule.hookspecs import hookimpl


class MaxEpochs:
    """Stop once ``state.epoch`` reaches ``config["max_epochs"]``."""

    name = "max_epochs"

    @hookimpl
    def deltarule_stop(self, state):
        limit = state.config.get("max_epochs")
        if limit is not None and state.epoch >= limit:
            return "max_epochs"
        return None


class TargetLoss:
    """Stop at the first epoch whose loss is ``≤ config["target_loss"]``."""

    name = "target_loss"

    OPTIONS = (Option("target_loss", None, number,
                      "stop once the training loss is at most this", stops=True),)

    @hookimpl
    def deltarule_options(self):
        return self.OPTIONS

    @hookimpl
    def deltarule_stop(self, state):
        target = state.config.get("target_loss")
        if target is not None and state.loss <= target:
            return "target_loss"
        return None


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
        min_delta = state.config.get("min_delta") or 0.0
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


class TimeBudget:
    """Stop once the run has taken ``config["time_budget"]`` seconds or more.

    Checked after every epoch, so a run overshoots by at most one epoch.
    """

    name = "time_budget"

    OPTIONS = (Option("time_budget", None, seconds, "stop after this many seconds",
                      stops=True),)

    @hookimpl
    def deltarule_options(self):
        return self.OPTIONS

    @hookimpl
    def deltarule_stop(self, state):
        budget = state.config.get("time_budget")
        if budget is not None and state.elapsed >= budget:
            return "time_budget"
        return None


class GradientNorm:
    """Stop once ``state.grad_norm ≤ config["gradient_tol"]``.

    ``state.grad_norm`` is the L2 norm of the last batch's gradient with
    respect to every parameter (the full-batch gradient when
    ``batch_size`` is unset): a (near) stationary point was reached.
    """

    name = "gradient_norm"

    OPTIONS = (Option("gradient_tol", None, positive,
                      "stop (reason 'gradient_norm') once the gradient's L2 norm is at "
                      "most this", stops=True),)

    @hookimpl
    def deltarule_options(self):
        return self.OPTIONS

    @hookimpl
    def deltarule_stop(self, state):
        tol = state.config.get("gradient_tol")
        if tol is not None and state.grad_norm <= tol:
            return "gradient_norm"
        return None


PLUGINS = [MaxEpochs(), TargetLoss(), Patience(), TimeBudget(), GradientNorm()]

"""Stop criteria: ``deltarule_stop(state)`` returns a reason string or None.

They read their settings from ``state.config`` and keep no state of their
own, so one instance serves every run.
"""

from __future__ import annotations

from deltarule.hookspecs import hookimpl


class MaxEpochs:
    """Stop once ``state.epoch`` reaches ``config["max_epochs"]``."""

    name = "max_epochs"

    @hookimpl
    def deltarule_stop(self, state):
        limit = state.config["max_epochs"]
        if limit is not None and state.epoch >= limit:
            return "max_epochs"
        return None


class TargetLoss:
    """Stop at the first epoch whose loss is ``≤ config["target_loss"]``."""

    name = "target_loss"

    @hookimpl
    def deltarule_stop(self, state):
        target = state.config["target_loss"]
        if target is not None and state.loss <= target:
            return "target_loss"
        return None


PLUGINS = [MaxEpochs(), TargetLoss()]

"""A live progress bar for training, as an observer plugin.

Callbacks are just plugins: :class:`ProgressBar` implements the observer
hooks and is registered like any other plugin::

    deltarule.train(X, y, plugins=[ProgressBar()])

It draws a `tqdm <https://tqdm.github.io>`_ bar on standard error with the
epoch count, epochs per second, the loss and (with validation data) the
validation loss.  Redrawing is throttled to at most one update per
``interval`` seconds, so an epoch costs one clock read and one comparison.
"""

from __future__ import annotations

import math
import os
import sys
import time

from .hookspecs import hookimpl


def _columns(file) -> int:
    """The terminal width behind ``file``, or 0 if it has none or reports none."""
    try:
        return os.get_terminal_size(file.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 0


def _fmt(x) -> str:
    return "nan" if x is None or not math.isfinite(x) else f"{x:.4g}"


class ProgressBar:
    """Observer plugin drawing a tqdm bar: ``epoch/total``, epochs/s, loss.

    ``file``: where to draw (default ``sys.stderr``); ``interval``: seconds
    between redraws (default 0.1, i.e. at most ten per second); ``desc``: the
    bar's label.  Needs ``tqdm`` (a dependency of deltarule).
    """

    name = "progress"

    def __init__(self, *, file=None, interval: float = 0.1, desc: str = "training"):
        from tqdm import tqdm  # imported here so the module loads without it

        self._tqdm = tqdm
        self.file = file
        self.interval = float(interval)
        self.desc = desc
        self._bar = None
        self._next = 0.0

    @hookimpl
    def deltarule_train_start(self, state):
        file = self.file if self.file is not None else sys.stderr
        # a terminal that reports no width (some ptys) would get an empty bar
        sized = _columns(file) > 0
        self._bar = self._tqdm(
            total=state.config.get("max_epochs"), desc=self.desc, unit="epoch",
            file=file, dynamic_ncols=sized, ncols=None if sized else 80,
            nrows=None if sized else 24, leave=True,
            # the hook throttles; tqdm must draw whenever asked
            mininterval=0, miniters=1,
        )
        self._next = time.monotonic() + self.interval

    @hookimpl
    def deltarule_epoch_end(self, state):
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + self.interval
        self._draw(state)

    @hookimpl
    def deltarule_train_end(self, state):
        bar = self._bar
        if bar is None:
            return
        self._draw(state)
        bar.close()
        self._bar = None

    def _draw(self, state) -> None:
        bar = self._bar
        post = f"loss={_fmt(state.loss)}"
        if state.val_loss is not None:
            post += f" val={_fmt(state.val_loss)}"
        bar.set_postfix_str(post, refresh=False)
        delta = state.epoch - bar.n
        if delta > 0:
            bar.update(delta)  # draws, since mininterval=0 and miniters=1
        else:
            bar.refresh()

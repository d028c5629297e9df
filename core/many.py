"""``train_many``: hundreds of seeds or settings in one vectorised run.

>>> import deltarule
>>> from deltarule.datasets import xor
>>> X, y = xor()
>>> many = deltarule.train_many(X, y, seeds=range(20), lr=[0.5, 1.0], max_epochs=2000,
...                             target_loss=0.005)
>>> len(many), [row["models"] for row in many.summary()]
(40, [20, 20])

Every numeric option given as a list (``lr=[0.1, 0.5]``, ``layers=[[2, 3, 1],
[2, 4, 1]]``, …) is a grid axis; each combination runs with every seed.
Networks of one shape run together along a leading model axis
(:mod:`deltarule.stacked`); with ``client=`` (a ``dask.distributed.Client``)
the models are split into chunks, each a vectorised run on a worker
(:mod:`deltarule.distributed`).  Either way every model ends exactly as
``deltarule.train`` with its seed and settings would.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .errors import ConfigError
from .stacked import (
    ChunkFailure,
    ManyResult,
    ManyState,
    ModelSpec,
    ModelView,
    expand_grid,
    is_grid_axis,
    wilson_interval,
)
from .trainer import Trainer, check_grid, check_seeds

__all__ = ["ChunkFailure", "ManyResult", "ManyState", "ModelSpec", "ModelView",
           "parse_seeds", "split_grid", "train_many", "wilson_interval"]


def split_grid(layers, options: dict):
    """``(fixed layers, fixed options, grid)``: lists of values become grid axes."""
    grid = {}
    if layers is not None and len(layers) and all(
            isinstance(v, (list, tuple)) for v in layers):
        grid["layers"] = [list(v) for v in layers]
        layers = None
    fixed = {}
    for key, value in options.items():
        if key != "layers" and is_grid_axis(value):
            grid[key] = list(value)
        else:
            fixed[key] = value
    return layers, fixed, check_grid(grid)


def train_many(X, y, layers=None, *, seeds, client=None, chunk_size: int | None = None,
               plugins: Sequence[Any] = (), validation_data=None,
               converged=("target_loss",), on_done: Callable[[int], None] | None = None,
               entry_points: bool | None = None, **options) -> ManyResult:
    """Train one network per seed (× grid setting) on ``X``, ``y``; a :class:`ManyResult`.

    ``seeds``: a list of seeds, or a count ``n`` for ``0 … n−1``; model
    ``(setting, seed)`` is the network ``deltarule.train(X, y, seed=seed,
    **setting, **options)`` would train, to the last bit in practice.
    ``layers`` and the options are those of :func:`deltarule.train`; a list
    for ``layers`` (a list of lists), ``batch_size``, ``validation_split``,
    ``lr``, ``max_epochs``, ``target_loss``, ``patience``, ``min_delta``,
    ``time_budget`` or ``gradient_tol`` makes that option a grid axis.

    ``converged``: the stop reasons (or a predicate ``result -> bool``)
    that count as convergence in :meth:`ManyResult.summary` (default
    ``("target_loss",)``).  ``on_done(k)``: called whenever ``k`` more
    models have finished (a progress bar).  ``client``: a
    ``dask.distributed.Client``: the models are dealt into chunks of at most
    ``chunk_size`` (default: one chunk per worker thread), each trained on
    a worker; a failed chunk is retried and, failing again, reported in
    ``result.failures`` while the others finish.  Ctrl-C ends the run and
    keeps what finished (``result.interrupted``).
    """
    if "seed" in options:
        raise ConfigError("train_many takes seeds=[...] (one model per seed), not seed=")
    seed_list = check_seeds(seeds)
    layers, fixed, grid = split_grid(layers, options)
    specs = expand_grid(grid, seed_list)
    trainer_args = dict(layers=layers, plugins=plugins, entry_points=entry_points, **fixed)
    if client is None:
        trainer = Trainer(**trainer_args)
        return trainer.fit_models(X, y, specs, validation_data=validation_data,
                                  converged=converged, on_done=on_done)
    from .distributed import train_chunks

    # checks every option and the plugins' components (the probe, on one model of
    # every stack) here, before anything is sent to a worker
    trainer = Trainer(**trainer_args)
    trainer.probe_stacks(X, y, specs, validation_data)
    return train_chunks(client, trainer_args, X, y, specs, validation_data=validation_data,
                        converged=converged, on_done=on_done, chunk_size=chunk_size)


def parse_seeds(text: str) -> list[int]:
    """``"0-999"``, ``"1,5,9"`` or ``"0-9,100-109"`` as a list of seeds."""
    seeds = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            if sep:
                a, b = int(lo), int(hi)
                if a < 0 or b < a:
                    raise ValueError
                seeds.extend(range(a, b + 1))
            else:
                if int(part) < 0:
                    raise ValueError
                seeds.append(int(part))
        except ValueError:
            raise ConfigError(
                f"seeds take whole numbers ≥ 0 and ranges such as 0-999 or 1,5,9, "
                f"got {part!r}"
            ) from None
    if not seeds:
        raise ConfigError(f"no seeds in {text!r}; give e.g. 0-999")
    return seeds

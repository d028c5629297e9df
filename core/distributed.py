"""``train_many`` on a Dask cluster: the models in chunks, one vectorised run each.

    from dask.distributed import Client
    many = deltarule.train_many(X, y, seeds=range(1000), lr=[0.1, 0.5],
                                client=Client("tcp://scheduler:8786"))

The run's models (every seed of every grid setting, in order) are cut into
consecutive chunks; each chunk is one task: a worker builds the same
:class:`~deltarule.Trainer` and trains the chunk's models stacked
(:meth:`~deltarule.Trainer.fit_models`), with its BLAS threads capped
(``threads`` per task, default 1, so the worker's processes do not
oversubscribe its cores).  Every model depends only on its own seed and
settings, so the results are those of the in-process run, whatever the
chunking.

A task that fails (a worker died, a plugin raised) is retried by Dask
(``retries``); one that still fails is reported in ``result.failures`` with
its models and settings while the others finish.  Ctrl-C cancels what has
not finished and returns what has (``result.interrupted``).

Needs ``dask[distributed]``: ``pip install "deltarule[dask]"``.
"""

from __future__ import annotations

import math
import time
import uuid
import warnings

from .errors import MissingDependencyError
from .stacked import ChunkFailure, ManyResult, PerModelWarning
from .threads import limit_blas_threads
from .trainer import Trainer

_INSTALL = ('the Dask backend needs dask.distributed, which is not installed; '
            'pip install "deltarule[dask]"')


def _distributed():
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError(_INSTALL) from None
    return distributed


def chunks_of(specs, chunk_size: int):
    """Consecutive runs of at most ``chunk_size`` models."""
    return [specs[i:i + chunk_size] for i in range(0, len(specs), chunk_size)]


def train_chunk(trainer_args: dict, X, y, validation_data, specs, threads=1):
    """One task: train ``specs`` stacked on this worker; ``(results, notes)``."""
    with limit_blas_threads(threads), warnings.catch_warnings():
        warnings.simplefilter("ignore", PerModelWarning)  # the client reports them
        trainer = Trainer(**trainer_args)
        many = trainer.fit_models(X, y, specs, validation_data=validation_data)
    if many.interrupted:
        raise RuntimeError("the chunk was interrupted on its worker")
    return many.results, many.notes


def train_chunks(client, trainer_args: dict, X, y, specs, *, validation_data=None,
                 converged=("target_loss",), on_done=None, chunk_size=None, retries=2,
                 threads=1) -> ManyResult:
    """Train ``specs`` on ``client``'s cluster in chunks; a :class:`ManyResult`.

    ``chunk_size`` defaults to about four chunks per worker (the stacked run
    is fastest with many models per chunk; several chunks per worker keep
    the workers busy to the end and bound what a failure costs).
    """
    dd = _distributed()
    started = time.perf_counter()
    if chunk_size is None:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        chunk_size = max(1, math.ceil(len(specs) / (4 * workers)))
    chunks = chunks_of(list(specs), int(chunk_size))
    run = uuid.uuid4().hex[:8]
    # hash=False: content-hashed keys would be shared with an earlier sweep of
    # the same data whose release (client.cancel below) may still be in flight,
    # and the scheduler then reports the new sweep's inputs as lost
    data = client.scatter([X, y, validation_data], broadcast=True, hash=False)
    futures = {}
    for i, chunk in enumerate(chunks):
        future = client.submit(train_chunk, trainer_args, *data, chunk, threads,
                               retries=retries, pure=False,
                               key=f"deltarule-chunk-{run}-{i}")
        futures[future.key] = (future, chunk)
    parts, failures, notes, interrupted = [], [], [], False
    pending = [f for f, _ in futures.values()]
    try:
        for future in dd.as_completed(pending):
            _, chunk = futures[future.key]
            if future.status == "error":
                exc = future.exception()
                failures.append(ChunkFailure(
                    models=[s.index for s in chunk],
                    settings=_unique(s.settings for s in chunk),
                    error=f"{type(exc).__name__}: {exc}"))
                continue
            if future.status != "finished":
                continue
            results, chunk_notes = future.result()
            parts.append(([s.index for s in chunk], results))
            for note in chunk_notes:
                if note not in notes:
                    notes.append(note)
                    warnings.warn(note, PerModelWarning, stacklevel=3)
            if on_done is not None:
                on_done(sum(r.stop_reason != "interrupted" for r in results))
    except KeyboardInterrupt:
        interrupted = True
        client.cancel(pending)
    finally:
        client.cancel(data)
    failures.sort(key=lambda f: f.models)  # grid order, not the order chunks failed in
    results = [None] * len(specs)
    position = {s.index: i for i, s in enumerate(specs)}
    for indices, res in parts:
        for index, r in zip(indices, res):
            results[position[index]] = r
    return ManyResult(list(specs), results, converged=converged, notes=notes,
                      failures=failures, interrupted=interrupted,
                      elapsed=time.perf_counter() - started)


def _unique(settings):
    out = []
    for s in settings:
        if s not in out:
            out.append(dict(s))
    return out


def local_cluster(workers: int, *, threads_per_worker: int = 1):
    """A ``Client`` on a new ``LocalCluster`` of ``workers`` processes on 127.0.0.1.

    Close it with ``client.close(); client.cluster.close()`` (or use it in a
    ``with`` block).
    """
    dd = _distributed()
    cluster = dd.LocalCluster(n_workers=workers, threads_per_worker=threads_per_worker,
                              processes=True, host="127.0.0.1", dashboard_address=None)
    return dd.Client(cluster)


def connect(address: str):
    """A ``Client`` connected to the scheduler at ``address`` (``tcp://HOST:PORT``)."""
    dd = _distributed()
    try:
        return dd.Client(address, timeout=10)
    except OSError as exc:
        from .errors import ConfigError

        raise ConfigError(f"cannot reach a Dask scheduler at {address}: {exc}") from exc

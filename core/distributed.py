"""``train_many`` on a Dask cluster: the models in chunks, one vectorised run each.

    from dask.distributed import Client
    many = deltarule.train_many(X, y, seeds=range(1000), lr=[0.1, 0.5],
                                client=Client("tcp://scheduler:8786"))

The run's models (every seed of every grid setting) are dealt into chunks
like cards: with ``k`` chunks, chunk ``i`` holds models ``i, i + k, i + 2k,
…`` (see :func:`chunks_of`), so every chunk gets its share of every grid
setting and the chunks take about as long as each other even when one
setting converges in 50 epochs and another runs to ``max_epochs``.  Each
chunk is one task: a worker builds the same :class:`~deltarule.Trainer` and
trains the chunk's models stacked (:meth:`~deltarule.Trainer.fit_models`),
with its BLAS threads capped (``threads`` per task, default 1, so the
worker's processes do not oversubscribe its cores).  Every model depends
only on its own seed and settings, so the results are those of the
in-process run, whatever the chunking.

By default there is one chunk per worker thread of the cluster
(:func:`default_chunk_size`).  A chunk is a stacked run, and a stacked run
pays a fixed cost every epoch (a few dozen NumPy calls and the stop
criteria, about 0.1 ms, whatever the number of models) on top of a small
cost per model and epoch; more chunks than threads pay that fixed cost more
often and gain nothing.  On the XOR network with 10 000 epochs the fixed
cost is about a second per chunk (BENCHMARKS.md), while what Dask itself
adds per task (scheduling, sending the chunk's settings and its results) is
a few milliseconds.

A task that fails (a worker died, a plugin raised) is retried by Dask
(``retries``); one that still fails is reported in ``result.failures`` with
its models and settings while the others finish.  Ctrl-C cancels what has
not finished and returns what has (``result.interrupted``).

Needs ``dask[distributed]``: ``pip install "deltarule[dask]"``.
"""

from __future__ import annotations

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
    """``specs`` dealt into ``k = ⌈len(specs) / chunk_size⌉`` chunks of at most
    ``chunk_size`` models: chunk ``i`` is ``specs[i::k]`` (grid order kept
    within a chunk).

    Dealing rather than cutting consecutive runs gives every chunk the same
    mix of grid settings: the models of one setting (all its seeds, next to
    each other in grid order) often stop at similar epochs, and consecutive
    chunks would leave the workers with the fast settings idle while one
    works through the slow ones.  Models of one setting still share a stack
    within their chunk.
    """
    if not specs:
        return []
    k = -(-len(specs) // max(1, int(chunk_size)))
    return [specs[i::k] for i in range(k)]


def cluster_threads(client) -> int:
    """The worker threads of ``client``'s cluster (at least 1)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # a client without nthreads(): count the workers
        return max(1, len(client.scheduler_info().get("workers", {})))


def default_chunk_size(models: int, threads: int) -> int:
    """One chunk per worker thread: ``⌈models / threads⌉``.

    The stacked run of a chunk costs a fixed amount per epoch plus a little
    per model and epoch (see the module's notes); one chunk per thread runs
    every thread and pays the fixed cost the fewest times.
    """
    return max(1, -(-int(models) // max(1, int(threads))))


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

    ``chunk_size`` (most models per chunk) defaults to one chunk per worker
    thread (:func:`default_chunk_size`); the models are dealt into the
    chunks (:func:`chunks_of`).  A smaller ``chunk_size`` bounds what a
    failed chunk costs and makes the progress finer, at a fixed cost per
    chunk.
    """
    dd = _distributed()
    started = time.perf_counter()
    if chunk_size is None:
        chunk_size = default_chunk_size(len(specs), cluster_threads(client))
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

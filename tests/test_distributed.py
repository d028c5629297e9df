"""train_many on a real dask.distributed LocalCluster: two worker processes on
127.0.0.1.  Identical results, a worker killed mid-sweep, a failing chunk,
cancellation.  Grids are small and every wait is bounded."""

import os
import signal
import time

import numpy as np
import pytest

import deltarule
from deltarule.datasets import xor

distributed = pytest.importorskip("distributed")

X, Y = xor()
OPTIONS = dict(lr=[0.5, 1.0], max_epochs=600, target_loss=0.01, entry_points=False)


@pytest.fixture(scope="module")
def client():
    from deltarule.distributed import local_cluster

    c = local_cluster(2)
    c.wait_for_workers(2, timeout=60)
    yield c
    c.close(timeout=20)
    c.cluster.close(timeout=20)


def identical(a, b):
    assert len(a) == len(b)
    for ra, rb in zip(a, b):
        assert ra is not None and rb is not None
        assert (ra.seed, ra.settings) == (rb.seed, rb.settings)
        assert (ra.stop_reason, ra.epochs) == (rb.stop_reason, rb.epochs)
        for (W, b_), (W1, b1) in zip(ra.params, rb.params):
            np.testing.assert_array_equal(W, W1)
            np.testing.assert_array_equal(b_, b1)
        np.testing.assert_array_equal(ra.history, rb.history)


def test_models_are_dealt_into_chunks_of_at_most_chunk_size():
    from deltarule.distributed import chunks_of
    from deltarule.stacked import expand_grid

    specs = expand_grid({"lr": [0.1, 0.5, 1.0]}, range(7))  # 21 models
    for size in (1, 2, 5, 7, 20, 21, 50):
        chunks = chunks_of(specs, size)
        assert len(chunks) == -(-21 // size)
        assert max(len(c) for c in chunks) <= size
        assert max(len(c) for c in chunks) - min(len(c) for c in chunks) <= 1
        assert sorted(s.index for c in chunks for s in c) == list(range(21))
        for c in chunks:  # grid order within a chunk
            assert [s.index for s in c] == sorted(s.index for s in c)
    # three chunks of seven: each holds some models of every setting
    for c in chunks_of(specs, 7):
        assert {s.settings["lr"] for s in c} == {0.1, 0.5, 1.0}
    assert chunks_of([], 4) == []


def test_the_default_is_one_chunk_per_worker_thread(client):
    from deltarule.distributed import cluster_threads, default_chunk_size

    assert cluster_threads(client) == 2
    assert default_chunk_size(1000, 2) == 500
    assert default_chunk_size(1001, 2) == 501
    assert default_chunk_size(3, 8) == 1


def test_identical_to_the_in_process_run_whatever_the_chunking(client):
    here = deltarule.train_many(X, Y, seeds=range(10), **OPTIONS)
    for chunk_size in (3, 7, None):
        there = deltarule.train_many(X, Y, seeds=range(10), client=client,
                                     chunk_size=chunk_size, **OPTIONS)
        assert not there.failures and not there.interrupted
        identical(here, there)
    assert here.summary() == there.summary()


def test_a_worker_killed_mid_sweep(client):
    options = dict(OPTIONS, max_epochs=3000, target_loss=None)
    here = deltarule.train_many(X, Y, seeds=range(12), **options)
    killed = []

    def kill_a_busy_worker(_):
        if killed:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy:
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    there = deltarule.train_many(X, Y, seeds=range(12), client=client, chunk_size=3,
                                 on_done=kill_a_busy_worker, **options)
    assert killed, "no worker was busy to kill"
    assert not there.failures
    identical(here, there)
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_a_failing_chunk_is_reported_with_its_settings(client):
    class Refuses:
        name = "refuses"
        model_axis = True

        @deltarule.hookimpl
        def deltarule_stop(self, state):
            if 13 in state.seeds:
                raise RuntimeError("seed 13 refuses to train")
            return None

    # 12 models dealt into 6 chunks: chunk 3 holds models 3 and 9, seed 13
    # with each learning rate, and fails; the other five finish
    there = deltarule.train_many(X, Y, seeds=range(10, 16), client=client, chunk_size=2,
                                 plugins=[Refuses()], **OPTIONS)
    assert len(there.failures) == 1
    failure = there.failures[0]
    assert "seed 13 refuses" in failure.error
    assert failure.settings == [{"lr": 0.5}, {"lr": 1.0}]
    assert failure.models == [3, 9]
    assert [there.specs[i].seed for i in failure.models] == [13, 13]
    done = [r for r in there if r is not None]
    assert len(done) == 10
    table = there.table()
    assert [row["stop_reason"] for row in table].count("failed") == 2
    assert "seed 13" in table[3]["error"] and "seed 13" in table[9]["error"]
    assert table[2]["stop_reason"] != "failed" and "error" not in table[2]


def test_cancellation_keeps_what_finished(client):
    def interrupt(_):
        raise KeyboardInterrupt

    options = dict(OPTIONS, max_epochs=4000, target_loss=None)
    there = deltarule.train_many(X, Y, seeds=range(16), client=client, chunk_size=2,
                                 on_done=interrupt, **options)
    assert there.interrupted
    finished = [r for r in there if r is not None]
    assert 2 <= len(finished) < 32
    assert all(r.stop_reason == "max_epochs" for r in finished)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if not any(client.processing().values()):
            break
        time.sleep(0.1)
    assert not any(client.processing().values()), "cancelled chunks still running"

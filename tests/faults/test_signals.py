"""SIGINT, SIGTERM and SIGHUP at random points: before, during and after training.

Each case runs ``python -m deltarule`` (or the console script's launcher)
and signals it.  During training the run must end like Ctrl-C — the report
with stop reason ``interrupted`` / ``terminated``, the model saved, status
130 / 143 / 129 — and the saved model must hold exactly the parameters the
run reached (a plugin dumps them at ``train_end``).  During the save, signals
wait: the file is complete.  Before training: one line, the signal's status.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import deltarule

from .conftest import params_equal
from .hostile import digest, temporaries

STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}
REASON = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated",
          signal.SIGHUP: "terminated"}
NOTE = {signal.SIGINT: "deltarule: interrupted", signal.SIGTERM:
        "deltarule: terminated (SIGTERM)", signal.SIGHUP: "deltarule: terminated (SIGHUP)"}

PROBE = textwrap.dedent('''
    import os, sys
    import numpy as np
    import deltarule

    class Probe:
        name = "signal-probe"

        @deltarule.hookimpl
        def deltarule_train_start(self, state):
            print("TRAINING STARTED", file=sys.stderr, flush=True)

        @deltarule.hookimpl(trylast=True)
        def deltarule_train_end(self, state):
            np.savez(os.environ["EXPECTED"], *[a for p in state.params for a in p])
            burst = os.environ.get("BURST")
            if burst:  # signals while the outputs are written: from the write itself,
                # so the moment does not depend on how fast this machine saves
                import signal
                import deltarule.io.model as model

                write = model.atomic_write

                def atomic_write(*args, **kwargs):
                    for name in burst.split(","):
                        os.kill(os.getpid(), getattr(signal, name))
                    return write(*args, **kwargs)

                model.atomic_write = atomic_write

    plugin = Probe()
''')

SLOW_IMPORT = textwrap.dedent('''
    import sys, time
    print("IMPORTING", file=sys.stderr, flush=True)
    time.sleep(20)
''')


@pytest.fixture
def env(tmp_path):
    (tmp_path / "signal_probe.py").write_text(PROBE)
    (tmp_path / "slow_import.py").write_text(SLOW_IMPORT)
    (tmp_path / "xor.csv").write_text("x1,x2,y\n0,1,1\n1,0,1\n1,1,0\n0,0,0\n")
    paths = [str(tmp_path), os.environ.get("PYTHONPATH", "")]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p),
                EXPECTED=str(tmp_path / "expected.npz"), TMPDIR=str(tmp_path))


def as_from_a_terminal():
    """In the child, before exec: SIGINT as a terminal session has it.  A process
    that ignores SIGINT hands that on to its children, whose Python then leaves
    it ignored (as `nohup` intends); the test runner may be such a process."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(env, *argv):
    return subprocess.Popen([sys.executable, "-m", "deltarule", *map(str, argv)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, preexec_fn=as_from_a_terminal)


def wait_for(proc, marker: str) -> None:
    line = proc.stderr.readline()
    assert line == marker + "\n", (line, proc.poll())


def finish(proc, timeout=60):
    try:
        return proc.communicate(timeout=timeout)
    finally:
        proc.kill()


def reached(path) -> list:
    with np.load(path) as data:
        arrays = [data[f"arr_{i}"] for i in range(len(data.files))]
    return list(zip(arrays[0::2], arrays[1::2]))


DELAYS = random.Random(11).sample([0.0, 0.02, 0.08, 0.15, 0.3, 0.45], 3)


@pytest.mark.parametrize("delay", DELAYS)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_during_training_keeps_and_saves_the_work(tmp_path, env, signum, delay):
    data, saved = tmp_path / "xor.csv", tmp_path / "m.npz"
    before = digest(data)
    proc = start(env, "train", data, "--target", "y", "--epochs", "100000000", "--seed", "0",
                 "--plugin", "signal_probe:plugin", "--save", saved)
    wait_for(proc, "TRAINING STARTED")
    time.sleep(delay)
    proc.send_signal(signum)
    out, err = finish(proc)
    assert proc.returncode == STATUS[signum], err
    assert "Traceback" not in err and "deltarule: error" not in err
    assert f"stop reason  {REASON[signum]}" in out
    assert f"{NOTE[signum]} after" in err and f"saved to {saved}" in err
    assert params_equal(deltarule.load(saved).params, reached(tmp_path / "expected.npz"))
    assert digest(data) == before and temporaries(tmp_path) == []


@pytest.mark.parametrize("burst", ["SIGINT,SIGINT", "SIGTERM,SIGINT,SIGHUP", "SIGHUP"])
def test_signals_during_the_save_wait_for_it(tmp_path, env, burst):
    saved = tmp_path / "m.npz"
    saved.write_bytes(b"an older model")
    proc = start(dict(env, BURST=burst), "train", "xor", "--layers", "2,1200,1200,1",
                 "--epochs", "2", "--seed", "0", "--plugin",
                 "signal_probe:plugin", "--save", saved)
    out, err = finish(proc)
    # signals that are pending together are handled in signal-number order,
    # so under load any of the burst may be the one that ends the run
    sent = {STATUS[getattr(signal, name)] for name in burst.split(",")}
    assert proc.returncode in sent, err
    assert "Traceback" not in err and "stop reason  max_epochs" in out
    assert "while writing the outputs, which were completed first" in err
    assert f"the model was saved whole to {saved}" in err
    assert params_equal(deltarule.load(saved).params, reached(tmp_path / "expected.npz"))
    assert temporaries(tmp_path) == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP],
                         ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_before_training_is_one_line(tmp_path, env, signum):
    proc = start(env, "train", "xor", "--plugin", "slow_import:plugin", "--save",
                 tmp_path / "m.npz")
    wait_for(proc, "IMPORTING")
    proc.send_signal(signum)
    out, err = finish(proc)
    assert proc.returncode == STATUS[signum]
    assert err.splitlines() == [NOTE[signum]] and out == ""
    assert not (tmp_path / "m.npz").exists()


LAUNCH = textwrap.dedent('''
    import signal, sys, threading

    SIGNAL = getattr(signal, sys.argv[1])

    class Interrupting:
        """Signals this process while Python imports deltarule's heaviest module."""
        def find_spec(self, name, path=None, target=None):
            if name == "deltarule.io.model":
                # to the main thread itself, whichever thread the kernel would pick
                signal.pthread_kill(threading.main_thread().ident, SIGNAL)
            return None

    sys.meta_path.insert(0, Interrupting())
    import _deltarule_launch
    sys.argv = ["deltarule", "train", "xor"]
    sys.exit(_deltarule_launch.main())
''')


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_while_python_imports_deltarule(tmp_path, name):
    (tmp_path / "launch.py").write_text(LAUNCH)
    proc = subprocess.run([sys.executable, str(tmp_path / "launch.py"), name],
                          capture_output=True, text=True, timeout=60,
                          preexec_fn=as_from_a_terminal)
    signum = getattr(signal, name)
    assert proc.returncode == STATUS[signum], proc.stderr
    assert proc.stderr.splitlines() == [NOTE[signum]] and proc.stdout == ""

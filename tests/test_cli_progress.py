"""The progress bar (an observer plugin) and Ctrl-C during ``deltarule train``."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time

import numpy as np

import deltarule
from deltarule.datasets import xor
from deltarule.progress import ProgressBar

from .test_cli import call


def renders(text: str) -> list[str]:
    """Each redraw of a tqdm bar starts with a carriage return."""
    return [r for r in text.split("\r") if r.strip()]


def test_bar_shows_epochs_rate_and_loss():
    out = io.StringIO()
    result = deltarule.train(*xor(), max_epochs=500, seed=0, plugins=[ProgressBar(file=out)])
    last = renders(out.getvalue())[-1]
    assert "500/500" in last and "epoch/s" in last
    assert f"loss={result.loss:.4g}" in last


def test_bar_shows_validation_loss():
    out = io.StringIO()
    X, y = xor()
    result = deltarule.train(X, y, max_epochs=20, seed=0, validation_data=(X, y),
                             plugins=[ProgressBar(file=out)])
    assert f"val={result.val_history[-1]:.4g}" in renders(out.getvalue())[-1]


def test_redraws_are_throttled():
    out = io.StringIO()
    deltarule.train(*xor(), max_epochs=2000, seed=0,
                    plugins=[ProgressBar(file=out, interval=3600)])
    # the empty bar at the start, the final state and tqdm's closing redraw:
    # none of the 2000 epochs drew
    assert len(renders(out.getvalue())) == 3
    out = io.StringIO()
    deltarule.train(*xor(), max_epochs=30, seed=0, plugins=[ProgressBar(file=out, interval=0)])
    assert len(renders(out.getvalue())) >= 30


def test_bar_without_epoch_limit_counts_up():
    out = io.StringIO()
    deltarule.train(*xor(), max_epochs=None, target_loss=0.3, seed=0,
                    plugins=[ProgressBar(file=out)])
    assert "epoch" in renders(out.getvalue())[-1]


def spawn_on_terminal(*args, columns=100):
    """``python -m deltarule ARGS`` with stderr on a pseudo-terminal; (proc, master fd)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    env = dict(os.environ)
    env.pop(deltarule.registry.AUTOLOAD_ENV, None)
    proc = subprocess.Popen([sys.executable, "-m", "deltarule", *args], stdout=subprocess.PIPE,
                            stderr=slave, stdin=subprocess.DEVNULL, env=env, text=True)
    os.close(slave)
    return proc, master


def read_all(fd, timeout=60) -> str:
    chunks, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def test_terminal_shows_the_bar_then_the_xor_result():
    proc, master = spawn_on_terminal("train", "xor", "--seed", "1")
    terminal = read_all(master)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    last = renders(terminal)[-1]
    assert "training: 100%" in last and "10000/10000" in last and "epoch/s" in last
    assert "loss=0.005605" in last
    assert "stop reason  max_epochs" in out
    assert out.rstrip().endswith("0  0 |      0 | 0.0305")  # the document's table last


def test_quiet_terminal_has_no_bar():
    proc, master = spawn_on_terminal("train", "xor", "--seed", "1", "--epochs", "50",
                                     "--quiet")
    terminal = read_all(master)
    proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "epoch/s" not in terminal


def test_a_terminal_reporting_no_width_still_gets_a_bar():
    proc, master = spawn_on_terminal("train", "xor", "--epochs", "50", columns=0)
    terminal = read_all(master)
    proc.communicate(timeout=60)
    assert "50/50" in terminal


STARTED = textwrap.dedent('''
    import sys
    import deltarule

    class Started:
        """Tells the test that epochs are running."""

        @deltarule.hookimpl
        def deltarule_train_start(self, state):
            print("TRAINING STARTED", file=sys.stderr, flush=True)

    plugin = Started()
''')


def test_ctrl_c_stops_cleanly_prints_and_saves(tmp_path):
    (tmp_path / "started_probe.py").write_text(STARTED)
    model = tmp_path / "model.npz"
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop(deltarule.registry.AUTOLOAD_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deltarule", "train", "xor", "--seed", "1",
         "--epochs", "1000000000", "--plugin", "started_probe:plugin", "--save", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr.readline() == "TRAINING STARTED\n"
        time.sleep(0.3)  # some epochs
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "stop reason  interrupted" in out
    assert f"saved        {model}" in out
    assert "interrupted after" in err and "saved to" in err
    epochs = int(next(l for l in out.splitlines() if l.startswith("epochs")).split()[1])
    assert 0 < epochs < 1_000_000_000
    net = deltarule.load(model)
    outputs = [float(l.split("|")[-1]) for l in out.splitlines()[-4:]]
    np.testing.assert_allclose(net.predict(xor()[0])[:, 0], outputs, atol=5e-5)


def test_interrupt_outside_training_exits_130(monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("deltarule.io.data.read_table", interrupted)
    assert call(["train", "whatever.csv", "--target", "y"]) == 130
    assert capsys.readouterr().err == "deltarule: interrupted\n"

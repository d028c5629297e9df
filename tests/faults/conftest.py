"""Fixtures of the fault-injection suite: a trained model, the command line
in-process, read-only folders, deadlines, and the one-line error check."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest

import deltarule
from deltarule.cli import main
from deltarule.datasets import xor


@pytest.fixture(scope="session")
def xor_model(tmp_path_factory):
    """``(path, result)``: a 2-3-1 XOR model trained 50 epochs, seed 0."""
    path = tmp_path_factory.mktemp("model") / "xor.npz"
    result = deltarule.train(*xor(), layers=[2, 3, 1], max_epochs=50, seed=0)
    deltarule.save(result, path)
    return path, result


@pytest.fixture
def model_copy(xor_model, tmp_path):
    """A private copy of the XOR model file."""
    path = tmp_path / "xor.npz"
    shutil.copy(xor_model[0], path)
    return path


def cli(capsys, *argv):
    """``deltarule ARGV`` in this process: ``(status, stdout, stderr)``."""
    status = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_one_line_error(status, err, *words, exit_status=2):
    """Status 2, exactly one ``deltarule: error:`` line naming ``words``, no traceback."""
    assert status == exit_status, (status, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("deltarule: error:")]
    assert len(lines) == 1, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def params_equal(a, b) -> bool:
    return all(np.array_equal(W1, W2) and np.array_equal(b1, b2)
               for (W1, b1), (W2, b2) in zip(a, b, strict=True))


def _chattr(flag: str, path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@contextlib.contextmanager
def read_only(folder):
    """``folder`` made unwritable, for root too (``chattr +i``) where possible."""
    folder = Path(folder)
    if os.geteuid() == 0:
        if not _chattr("+i", folder):
            pytest.skip("running as root without chattr: no folder is read-only")
        try:
            yield folder
        finally:
            _chattr("-i", folder)
    else:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(mode)


def make_read_only(folder) -> None:
    """Make ``folder`` unwritable until :func:`make_writable` (for plugins)."""
    if os.geteuid() == 0:
        _chattr("+i", folder)
    else:
        Path(folder).chmod(0o555)


def make_writable(folder) -> None:
    if os.geteuid() == 0:
        _chattr("-i", folder)
    else:
        Path(folder).chmod(0o755)


@contextlib.contextmanager
def unreadable(path):
    """``path`` unreadable by this process (for root: a different effective user)."""
    path = Path(path)
    if os.geteuid() == 0:
        os.seteuid(65534)
        try:
            yield path
        finally:
            os.seteuid(0)
    else:
        path.chmod(0)
        try:
            yield path
        finally:
            path.chmod(0o644)


class Timeout(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds: float):
    """Fail instead of hanging: raise :class:`Timeout` after ``seconds``."""
    def expire(signum, frame):
        raise Timeout(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)

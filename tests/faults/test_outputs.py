"""Everything a command writes: checked before the first epoch, atomic, never lost.

Read-only folders (``chattr +i`` for root), missing folders, folders and
devices as targets, outputs that are inputs, unknown picture formats — all
refused before any training, with nothing printed on standard output.  A
write that fails only at the end (a folder turned read-only, a full disk via
``RLIMIT_FSIZE``) prints the report first, then one line saying where the
model went, and leaves no temporary file.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest

import deltarule
from deltarule.datasets import xor

from ..helpers import python
from .conftest import assert_one_line_error, cli, params_equal, read_only
from .hostile import digest, temporaries


def refused_before_training(capsys, argv, *words):
    status, out, err = cli(capsys, *argv)
    assert_one_line_error(status, err, *words)
    assert out == "", out  # nothing ran: no report
    return err


@pytest.mark.parametrize("command", ["save", "plot", "predict", "plot-model"])
def test_read_only_folder(tmp_path, capsys, xor_model, command):
    out = tmp_path / "out"
    out.mkdir()
    argv = {
        "save": ["train", "xor", "--save", out / "m.npz"],
        "plot": ["train", "xor", "--plot", out / "loss.png"],
        "predict": ["predict", xor_model[0], "xor", "--out", out / "p.csv"],
        "plot-model": ["plot", xor_model[0], "--out", out / "p.png"],
    }[command]
    with read_only(out):
        refused_before_training(capsys, argv, "cannot write in the folder", str(out))
    assert os.listdir(out) == []


@pytest.mark.parametrize("target, words", [
    ("missing/m.npz", "the folder"),
    ("folder", "is a folder"),
    ("null.npz", "is a character device"),
    ("fifo.npz", "is a FIFO"),
])
def test_targets_that_are_not_files(tmp_path, capsys, target, words):
    (tmp_path / "folder.npz").mkdir()
    os.mkfifo(tmp_path / "fifo.npz")
    os.symlink("/dev/null", tmp_path / "null.npz")
    path = tmp_path / target
    refused_before_training(capsys, ["train", "xor", "--save", path], words)
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


@pytest.mark.parametrize("how", ["same", "no-suffix", "symlink"])
def test_save_over_the_training_data(tmp_path, capsys, how):
    data = tmp_path / "d.npz"
    X, y = xor()
    np.savez(data, X=X, y=y)
    before = digest(data)
    target = {"same": data, "no-suffix": tmp_path / "d", "symlink": tmp_path / "link.npz"}[how]
    if how == "symlink":
        os.symlink(data, target)
    refused_before_training(capsys, ["train", data, "--save", target], "is the input")
    assert digest(data) == before


@pytest.mark.parametrize("which", ["model", "data"])
def test_predict_over_its_inputs(tmp_path, capsys, xor_model, which):
    model = tmp_path / "m.npz"
    model.write_bytes(xor_model[0].read_bytes())
    data = tmp_path / "d.csv"
    data.write_text("x1,x2\n0,1\n1,1\n")
    before = digest(model), digest(data)
    target = model if which == "model" else data
    refused_before_training(capsys, ["predict", model, data, "--out", target], "is the input")
    assert (digest(model), digest(data)) == before


@pytest.mark.parametrize("argv", [["train", "xor", "--plot", "loss.xyz"],
                                  ["plot", "MODEL", "--out", "p.docx"]])
def test_picture_formats_are_checked_first(tmp_path, capsys, xor_model, argv):
    argv = [str(xor_model[0]) if a == "MODEL" else a for a in argv]
    argv = [str(tmp_path / a) if a.endswith((".xyz", ".docx")) else a for a in argv]
    refused_before_training(capsys, argv, "matplotlib cannot write", ".png")


def test_a_picture_without_suffix_is_a_png_and_the_report_says_so(tmp_path, capsys):
    status, out, err = cli(capsys, "train", "xor", "--epochs", "5", "--plot",
                           tmp_path / "lossplot")
    assert status == 0 and (tmp_path / "lossplot.png").read_bytes()[:4] == b"\x89PNG"
    assert f"plot         {tmp_path / 'lossplot.png'}" in out


def test_predict_out_is_atomic(tmp_path, capsys, xor_model):
    target = tmp_path / "p.csv"
    target.write_text("old\n")
    status, out, err = cli(capsys, "predict", xor_model[0], "xor", "--out", target)
    assert status == 0 and target.read_text().startswith("y\n")
    assert temporaries(tmp_path) == []


# -- a write that fails only at the end -----------------------------------------------------------


GUARD_PLUGIN = '''
import numpy as np
import deltarule
from tests.faults.conftest import make_read_only

class Lock:
    name = "lock-folder"

    @deltarule.hookimpl(trylast=True)
    def deltarule_train_end(self, state):
        np.savez({expected!r}, *[a for pair in state.params for a in pair])
        make_read_only({folder!r})

plugin = Lock()
'''


def test_a_folder_gone_read_only_sends_the_model_to_the_fallback(tmp_path, capsys,
                                                                 monkeypatch):
    out, spare = tmp_path / "out", tmp_path / "spare"
    out.mkdir()
    spare.mkdir()
    name = "lock_folder_plugin"
    (tmp_path / f"{name}.py").write_text(GUARD_PLUGIN.format(
        expected=str(tmp_path / "expected.npz"), folder=str(out)))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(tempfile, "tempdir", str(spare))
    from .conftest import make_writable

    try:
        status, stdout, err = cli(capsys, "train", "xor", "--epochs", "20", "--seed", "3",
                                  "--plugin", f"{name}:plugin", "--save", out / "m.npz")
    finally:
        make_writable(out)
        sys.modules.pop(name, None)
    assert "stop reason  max_epochs" in stdout  # the report came first
    line = assert_one_line_error(status, err, f"cannot write --save '{out / 'm.npz'}'",
                                 "the trained model was written to")
    fallback = line.split("written to '")[1].split("'")[0]
    assert os.path.dirname(fallback) == str(spare) and f"saved        {fallback}" in stdout
    with np.load(tmp_path / "expected.npz") as expected:
        reached = [expected[f"arr_{i}"] for i in range(4)]
    loaded = deltarule.load(fallback).params
    assert params_equal(loaded, list(zip(reached[0::2], reached[1::2])))
    assert os.listdir(out) == [] and temporaries(out, spare) == []


def test_no_fallback_either(tmp_path, capsys, monkeypatch):
    import deltarule.io.model as model_io

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(model_io, "save", full)
    status, out, err = cli(capsys, "train", "xor", "--epochs", "5", "--save",
                           tmp_path / "m.npz")
    assert "stop reason" in out
    assert_one_line_error(status, err, "No space left on device",
                          "no fallback could be written either", "the trained model is lost")


def limited(*argv, fsize=None, cwd=None, env=None, timeout=60):
    """``python -m deltarule ARGV`` with a file-size limit (a full disk, in effect)."""
    def limit():
        if fsize is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "deltarule", *map(str, argv)],
                          capture_output=True, text=True, preexec_fn=limit, cwd=cwd,
                          env=full_env, timeout=timeout)


def test_a_full_disk_before_training(tmp_path):
    proc = limited("train", "xor", "--hidden", "400", "--save", tmp_path / "m.npz",
                   fsize=2000)
    assert_one_line_error(proc.returncode, proc.stderr, "ulimit -f", "at least 12808 bytes")
    assert proc.stdout == "" and os.listdir(tmp_path) == []


def test_a_full_disk_at_the_end_keeps_the_old_file_and_no_temporaries(tmp_path):
    spare = tmp_path / "tmp"
    spare.mkdir()
    old = tmp_path / "m.npz"
    old.write_bytes(b"the previous model")
    proc = limited("train", "xor", "--epochs", "3000", "--seed", "1", "--save", old,
                   fsize=20_000, env={"TMPDIR": str(spare)})
    assert "stop reason  max_epochs" in proc.stdout
    assert_one_line_error(proc.returncode, proc.stderr, "File too large",
                          "no fallback could be written either")
    assert old.read_bytes() == b"the previous model"
    assert temporaries(tmp_path, spare) == [] and os.listdir(spare) == []


def test_predict_out_on_a_full_disk(tmp_path, xor_model):
    target = tmp_path / "p.csv"
    target.write_text("old\n")
    proc = limited("predict", xor_model[0], "xor", "--out", target, fsize=20)
    assert_one_line_error(proc.returncode, proc.stderr, "cannot write --out",
                          "File too large", "left as it was")
    assert target.read_text() == "old\n" and temporaries(tmp_path) == []


# -- kill -9 during a save leaves no temporary file ---------------------------------------------


SAVING_PLUGIN = '''
import sys, deltarule

class Saving:
    @deltarule.hookimpl
    def deltarule_train_end(self, state):
        print("SAVING", file=sys.stderr, flush=True)

plugin = Saving()
'''


@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15])
def test_kill_9_during_a_save(tmp_path, delay):
    (tmp_path / "saving_probe.py").write_text(SAVING_PLUGIN)
    target = tmp_path / "out" / "m.npz"
    target.parent.mkdir()
    target.write_bytes(b"old")
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.Popen(
        [sys.executable, "-m", "deltarule", "train", "xor", "--layers", "2,1500,1500,1",
         "--epochs", "1", "--quiet", "--plugin", "saving_probe:plugin", "--save", target],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    try:
        assert proc.stderr.readline() == "SAVING\n"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert temporaries(target.parent) == []
    if target.read_bytes() != b"old":  # the save finished before the kill: complete
        assert deltarule.load(target).layers == (2, 1500, 1500, 1)

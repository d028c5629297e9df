"""``deltarule sweep``: the report, the files it writes, data files, Dask, Ctrl-C."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import deltarule
from deltarule.datasets import xor
from deltarule.many import wilson_interval

from .test_cli import assert_error, call, run


def test_sweep_xor_reports_each_setting(tmp_path, capsys):
    out_csv, out_json = tmp_path / "m.csv", tmp_path / "m.json"
    code = call(["sweep", "xor", "--seeds", "0-19", "--lr", "0.5,1", "--layers", "2,3,1",
                 "2,4,1", "--epochs", "1500", "--csv", str(out_csv), "--json",
                 str(out_json), "--confidence", "0.99"])
    out = capsys.readouterr().out
    assert code == 0
    assert "80 (20 seeds × 4 setting(s)), in-process" in out
    assert "fixed      max_epochs=1500 target_loss=0.005" in out
    assert "99% interval" in out
    for label in ("layers=2-3-1 lr=0.5", "layers=2-3-1 lr=1.0", "layers=2-4-1 lr=0.5",
                  "layers=2-4-1 lr=1.0"):
        assert label in out
    data = json.loads(out_json.read_text())
    assert len(data["models"]) == 80 and len(data["summary"]) == 4
    with open(out_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 80 and rows[25]["layers"] == "2-3-1" and rows[25]["lr"] == "1.0"
    # every number is the library's: model 25 is seed 5 at lr 1.0 on 2-3-1
    alone = deltarule.train(*xor(), layers=[2, 3, 1], lr=1.0, seed=5, max_epochs=1500,
                            target_loss=0.005)
    assert rows[25]["seed"] == "5" and int(rows[25]["epochs"]) == alone.epochs
    assert rows[25]["stop_reason"] == alone.stop_reason
    assert float(rows[25]["final_loss"]) == alone.loss
    row = data["summary"][1]
    assert row["settings"] == {"layers": [2, 3, 1], "lr": 1.0}
    k = sum(m["converged"] for m in data["models"][20:40])
    assert row["converged"] == k
    assert (row["rate_low"], row["rate_high"]) == pytest.approx(wilson_interval(k, 20, 0.99))
    line = next(l for l in out.splitlines() if l.startswith("layers=2-3-1 lr=1.0"))
    assert f"{100 * k / 20:.1f} %" in line


def test_sweep_a_data_file_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    path = tmp_path / "d.csv"
    path.write_text("a,b,label\n" + "".join(f"{a},{b},{c}\n" for (a, b), c in zip(X, y)))
    picture = tmp_path / "s.png"
    code = call(["sweep", str(path), "--target", "label", "--hidden", "4", "6",
                 "--seeds", "0-4", "--epochs", "200", "--target-loss", "2.0",
                 "--lr", "0.05", "--batch-size", "8", "--plot", str(picture)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "layers=2-4-1" in out and "layers=2-6-1" in out
    assert picture.stat().st_size > 10_000


def test_sweep_errors():
    assert_error(run("sweep", "xor", "--layers", "3,3,1"), "--layers 3,3,1", "2,…,1")
    assert_error(run("sweep", "xor", "--lr", "fast"), "--lr takes")
    assert_error(run("sweep", "xor", "--seeds", "9-2"), "seeds")
    assert_error(run("sweep", "xor", "--confidence", "1.5"), "--confidence")


def test_a_data_file_needs_a_target_loss(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("a,y\n0,0\n1,1\n2,0\n")
    assert_error(run("sweep", str(path), "--target", "y"), "--target-loss")


@pytest.mark.slow
def test_sweep_on_a_local_dask_cluster_gives_the_same_table(tmp_path):
    pytest.importorskip("distributed")
    args = ["sweep", "xor", "--seeds", "0-11", "--lr", "0.5,1", "--epochs", "800",
            "--quiet"]
    here, there = tmp_path / "here.json", tmp_path / "there.json"
    proc = run(*args, "--json", here)
    assert proc.returncode == 0, proc.stderr
    proc = run(*args, "--json", there, "--workers", "2", "--chunk-size", "5", timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "Dask local cluster, 2 workers" in proc.stdout
    assert json.loads(here.read_text()) == json.loads(there.read_text())


ANNOUNCE = textwrap.dedent('''
    import sys
    import deltarule

    class Announce:
        """Tells the test once some models have finished."""

        model_axis = True
        said = False

        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            if not self.said and not state.active.all():
                self.said = True
                print("SOME FINISHED", file=sys.stderr, flush=True)

    plugin = Announce()
''')


def test_ctrl_c_reports_what_finished(tmp_path):
    (tmp_path / "announce_probe.py").write_text(ANNOUNCE)
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop(deltarule.registry.AUTOLOAD_ENV, None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "deltarule", "sweep", "xor", "--seeds", "0-3",
         "--epochs", "50,1000000000", "--plugin", "announce_probe:plugin"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr.readline() == "SOME FINISHED\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "interrupted: 4 of 8 models finished" in err
    line = next(l for l in out.splitlines() if l.startswith("max_epochs=50 "))
    assert line.split()[1:3] == ["4", "0"]
    line = next(l for l in out.splitlines() if l.startswith("max_epochs=1000000000"))
    assert line.split()[1] == "0/4"


def test_option_lists_are_grid_axes_too(capsys):
    code = call(["sweep", "xor", "--seeds", "0-2", "--epochs", "300", "--patience", "5",
                 "--option", "min_delta=[0, 0.5]", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert "min_delta=0 " in out and "min_delta=0.5" in out
    line = next(l for l in out.splitlines() if l.startswith("min_delta=0.5"))
    assert line.split()[1:3] == ["3", "0"]  # no progress of 0.5: patience, not converged

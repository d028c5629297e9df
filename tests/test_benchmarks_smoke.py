"""The benchmark suite still runs against the current API (figures not checked).

``python benchmarks/run.py --quick`` on XOR, digits (NumPy competitors only)
and memory, one BLAS thread so a busy test machine cannot stall it; about
10 s.  What it guards: the benchmarks call the public API
(``deltarule.train``, ``Trainer.steps``, ``deltarule.threads``) and must keep
working as the loop is optimised.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN = os.path.join(ROOT, "benchmarks", "run.py")

pytest.importorskip("sklearn", reason="the digits section loads scikit-learn's digits")
pytest.importorskip("threadpoolctl", reason="--threads needs threadpoolctl")


def test_quick_run_prints_every_section_and_the_targets():
    proc = subprocess.run(
        [sys.executable, RUN, "--quick", "--only", "xor,digits,memory", "--no-torch",
         "--no-sklearn", "--threads", "1"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "DELTARULE_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("== XOR", "== digits", "== memory", "== targets"):
        assert heading in out, f"missing section {heading!r}:\n{out[-3000:]}"
    # the competitors really ran and the same-weights cross-check was printed
    assert "document loop 2-3-2-1" in out
    assert "hand-written NumPy f64" in out
    assert "max |θ_deltarule − θ_hand| f64" in out
    assert "BLAS: " in out and "1 threads" in out
    assert "Traceback" not in proc.stderr


def test_unknown_section_is_refused_with_the_choices():
    proc = subprocess.run([sys.executable, RUN, "--only", "xor,gpu"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "gpu" in proc.stderr and "xor, digits, memory, threads" in proc.stderr


def test_sklearn_benchmark_runs_both_estimators_on_every_workload():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_sklearn.py"), "--quick",
         "--threads", "1"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "DELTARULE_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for workload in ("digits, defaults", "digits, sgd", "moons, defaults", "moons, tanh",
                     "friedman1"):
        assert workload in proc.stdout
    assert "sklearn ÷ deltarule" in proc.stdout and "×" in proc.stdout


def test_bench_many_quick_runs_and_checks_the_models():
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_many.py"), "--quick",
         "--only", "xor,scaling"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "DELTARULE_DISABLE_PLUGIN_AUTOLOAD": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "sequential ÷ train_many" in proc.stdout
    assert "max |θ_many − θ_single| over 20 models: 0.0e+00" in proc.stdout
    assert "per model-epoch" in proc.stdout

"""The ``onnx-export`` law of the spec suite catches wrong lowerings and says
when it cannot run; ``deltarule spec --plugin`` runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import deltarule
from deltarule.specs import check_component, onnx_law
from deltarule.specs import LAWS

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "deltarule-swish"


def bundled(name):
    return deltarule.make_registry(entry_points=False).catalogue().get("activations",
                                                                             name)


def onnx_result(act):
    report = check_component(act, "activation", profile="ci")
    [result] = [r for r in report if r.law == "activation.onnx-export"]
    return result


def with_lowering(base, lowering):
    """``base``'s maths with another ``lower_onnx``."""
    cls = type(f"Mutant{type(base).__name__}", (type(base),), {"lower_onnx": lowering})
    obj = cls.__new__(cls)
    obj.__dict__.update(base.__dict__)
    return obj


def test_the_law_is_registered_for_activations():
    assert LAWS["activation.onnx-export"].family == "activation"


# every bundled activation's lowering is checked by specs/spec_components.py


def test_the_example_swish_obeys_it():
    sys.path.insert(0, str(EXAMPLE))
    try:
        from deltarule_swish import Swish
    finally:
        sys.path.remove(str(EXAMPLE))
    for beta in (1.0, 2.5):
        result = onnx_result(Swish(beta=beta))
        assert result.passed, str(result)


def test_a_wrong_operator_fails_with_the_offending_z():
    wrong = with_lowering(bundled("sigmoid"), lambda self, g, z: g.op("Tanh", z))
    result = onnx_result(wrong)
    assert result.failed
    assert "onnxruntime gives" in result.message and "forward gives" in result.message
    assert "at z = " in result.message


def test_onnx_leaky_relu_with_its_float32_slope_fails_in_float64():
    """ONNX's LeakyRelu takes alpha as a float32 attribute: 2e-9 off in float64."""
    act = deltarule.make_registry(entry_points=False).catalogue()
    leaky = act.get("activations", "leaky_relu")
    mutant = with_lowering(leaky, lambda self, g, z: g.op("LeakyRelu", z, alpha=self.slope))
    result = onnx_result(mutant)
    assert result.failed and "float64" in result.message


def test_an_operator_without_a_float64_kernel_fails_saying_so():
    mutant = with_lowering(bundled("softplus"), lambda self, g, z: g.op("Softplus", z))
    result = onnx_result(mutant)
    assert result.failed
    assert "onnxruntime cannot run the exported float64 graph" in result.message


def test_an_activation_without_lowering_is_skipped_with_the_reason():
    class Cube:
        name = "cube"

        def forward(self, z):
            return z ** 3

        def derivative(self, z, a):
            return 3 * z ** 2

    result = onnx_result(Cube())
    assert result.skipped and "declares no ONNX lowering" in result.message


def test_without_onnxruntime_the_law_is_skipped_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    onnx_law.missing_runtime.cache_clear()
    try:
        result = onnx_result(bundled("tanh"))
    finally:
        monkeypatch.undo()
        onnx_law.missing_runtime.cache_clear()
    assert result.skipped
    assert "onnxruntime not installed" in result.message
    assert "deltarule[onnx]" in result.message


def _spec(args, extra_path=()):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, extra_path), str(EXAMPLE),
                                         env.get("PYTHONPATH", "")])
    env["HYPOTHESIS_PROFILE"] = "ci"
    env["DELTARULE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "deltarule", "spec", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def test_spec_plugin_runs_the_law_on_the_plugins_activation():
    proc = _spec(["--plugin", "deltarule_swish:plugin", "--law", "activation.onnx-export",
                  "-v"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED  activation.onnx-export  activation swish" in proc.stdout
    assert "note" not in proc.stderr


def test_spec_says_so_when_onnxruntime_is_missing(tmp_path):
    # an onnxruntime that cannot be imported, ahead of the real one on the path
    (tmp_path / "onnxruntime").mkdir()
    (tmp_path / "onnxruntime" / "__init__.py").write_text(
        "raise ImportError('onnxruntime hidden by the test')\n")
    proc = _spec(["--plugin", "deltarule_swish:plugin", "--law", "activation.onnx-export"],
                 [tmp_path])
    assert "SKIPPED activation.onnx-export activation 'swish'" in proc.stdout, proc.stdout
    assert ("note: the onnx-export law was skipped: onnxruntime not installed"
            in proc.stderr), proc.stderr

"""The example third-party package ``examples/deltarule-swish``, really installed.

pip installs it into a throwaway folder (``--target``); subprocesses with that
folder on ``PYTHONPATH`` then see its ``deltarule`` entry point through
``importlib.metadata``, exactly as after ``pip install deltarule-swish``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import deltarule

from .helpers import python

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "deltarule-swish"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder holding the installed package (module + dist-info with entry points)."""
    # build from a copy: setuptools writes build/ and *.egg-info next to the sources
    src = tmp_path_factory.mktemp("src") / "deltarule-swish"
    shutil.copytree(EXAMPLE, src)
    target = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--no-index", "--no-deps", "--no-build-isolation", "--target", str(target),
         str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "deltarule_swish.py").exists()
    assert list(target.glob("deltarule_swish-*.dist-info/entry_points.txt"))
    return target


def run(site, *args, autoload=True):
    env = {"PYTHONPATH": str(site)}
    if not autoload:
        env[deltarule.registry.AUTOLOAD_ENV] = "1"
    return python(*args, env=env)


def test_plugins_lists_it_with_its_origin(site):
    proc = run(site, "-m", "deltarule", "plugins")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    i = lines.index("swish  [entry point swish = deltarule_swish:plugin "
                    "[deltarule-swish 0.1.0]]")
    assert lines[i + 1].strip() == "provides: activation swish"


def test_train_xor_with_swish(site):
    proc = run(site, "-m", "deltarule", "train", "xor", "--activation", "swish",
               "--epochs", "200", "--seed", "0")
    assert proc.returncode == 0, proc.stderr
    assert "network      2-3-1, swish, mse, sgd lr=0.1" in proc.stdout
    # swish hidden, sigmoid output: XOR is learnt (measured loss 2.2e-4 at seed 1)
    proc = run(site, "-m", "deltarule", "train", "xor", "--activation", "swish,sigmoid",
               "--lr", "0.5", "--epochs", "2000", "--seed", "1", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["activations"] == ["swish", "sigmoid"]
    assert report["accuracy"] == 1.0 and report["final_loss"] < 0.01


def test_a_saved_model_with_swish_loads_back(site, tmp_path):
    model = tmp_path / "swish.npz"
    proc = run(site, "-m", "deltarule", "train", "xor", "--activation", "swish,sigmoid",
               "--epochs", "20", "--seed", "0", "--save", str(model))
    assert proc.returncode == 0, proc.stderr
    proc = run(site, "-m", "deltarule", "predict", str(model), "xor")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("y\n") and len(proc.stdout.splitlines()) == 5


def test_autoload_can_be_turned_off(site):
    proc = run(site, "-m", "deltarule", "plugins", autoload=False)
    assert proc.returncode == 0, proc.stderr
    assert "swish" not in proc.stdout
    proc = run(site, "-m", "deltarule", "train", "xor", "--activation", "swish",
               autoload=False)
    assert proc.returncode == 2
    assert proc.stderr.startswith("deltarule: error: unknown activation 'swish'")
    # a dotted path still works with autoload off
    proc = run(site, "-m", "deltarule", "train", "xor", "--activation", "swish",
               "--epochs", "5", "--plugin", "deltarule_swish:plugin", autoload=False)
    assert proc.returncode == 0, proc.stderr


def test_swish_passes_the_spec_suite(site):
    code = (
        "from deltarule.specs import check_plugin\n"
        "report = check_plugin('deltarule_swish:plugin')\n"
        "print(report)\n"
        "raise SystemExit(0 if report.ok else 1)\n"
    )
    proc = run(site, "-c", code)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for check in ("activation.forward", "activation.derivative", "activation.out-buffer",
                  "activation.onnx-export", "network.gradient"):
        assert any(line.startswith("PASSED") and "swish" in line and check in line
                   for line in proc.stdout.splitlines()), (check, proc.stdout)


def test_swish_passes_deltarule_spec(site):
    proc = run(site, "-m", "deltarule", "spec", "--plugin", "deltarule_swish:plugin")
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- issue 12: an explicit plugin beside the installed one ---------------------

MY_SWISH = '''
import numpy as np
import deltarule


class Swish:
    name = "swish"

    def forward(self, z):
        return z / (1.0 + np.exp(-z))

    def derivative(self, z, a):
        s = 1.0 / (1.0 + np.exp(-z))
        return s + a * (1.0 - s)


class Plugin:
    @deltarule.hookimpl
    def deltarule_activations(self):
        return [Swish()]


plugin = Plugin()
'''


def test_an_explicit_plugin_shadows_the_installed_one_with_a_note(site, tmp_path):
    (tmp_path / "my_swish.py").write_text(MY_SWISH)
    # the command line finds my_swish.py in the current folder, as python -m does
    proc = python("-m", "deltarule", "train", "xor", "--activation", "swish",
                  "--epochs", "5", "--seed", "0", "--plugin", "my_swish:plugin",
                  env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert ("deltarule: note: activation 'swish' of the explicitly registered plugin "
            "'my_swish.Plugin' (user (my_swish:plugin)) shadows the one of the installed "
            "plugin 'swish'") in proc.stderr
    # in code too: the explicit plugin is used, with a PluginShadowWarning
    code = (
        "import warnings, deltarule, my_swish\n"
        "warnings.simplefilter('error', deltarule.PluginShadowWarning)\n"
        "try:\n"
        "    deltarule.Trainer([2, 3, 1], activation='swish', plugins=[my_swish.plugin])\n"
        "except deltarule.PluginShadowWarning as w:\n"
        "    print('warned:', w)\n"
        "warnings.simplefilter('ignore', deltarule.PluginShadowWarning)\n"
        "t = deltarule.Trainer([2, 3, 1], activation='swish', plugins=[my_swish.plugin])\n"
        "print(type(t.catalogue.get('activations', 'swish')).__module__)\n"
    )
    proc = python("-c", code, env={"PYTHONPATH": f"{site}:{tmp_path}"}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "warned: activation 'swish'" in proc.stdout
    assert proc.stdout.strip().endswith("my_swish")


def test_spec_checks_a_plugin_with_the_bundled_components_only(site, tmp_path):
    (tmp_path / "my_swish.py").write_text(MY_SWISH)
    # the installed swish is neither paired with nor clashing with mine
    proc = python("-m", "deltarule", "spec", "--plugin", "my_swish:plugin", "-v",
                  "--law", "network.gradient", env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    assert "network swish × " in proc.stdout and "deltarule_swish" not in proc.stdout
    # --installed pairs it with the installed plugins too (here: the shadowed swish
    # is not paired, the explicit one wins; the run still passes)
    proc = python("-m", "deltarule", "spec", "--plugin", "my_swish:plugin", "--installed",
                  "--law", "network.gradient", env={"PYTHONPATH": str(site)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr


def test_only_the_listed_entry_points_load(site):
    proc = run(site, "-m", "deltarule", "plugins", "--json")
    assert "swish" in [p["name"] for p in json.loads(proc.stdout)["plugins"]]
    proc = python("-m", "deltarule", "plugins", "--json",
                  env={"PYTHONPATH": str(site), "DELTARULE_LOAD_PLUGINS": "something-else"})
    assert proc.returncode == 0, proc.stderr
    assert "swish" not in [p["name"] for p in json.loads(proc.stdout)["plugins"]]
    for allowed in ("swish", "deltarule-swish"):  # the entry point, or its distribution
        proc = python("-m", "deltarule", "plugins", "--json",
                      env={"PYTHONPATH": str(site), "DELTARULE_LOAD_PLUGINS": allowed})
        assert "swish" in [p["name"] for p in json.loads(proc.stdout)["plugins"]]


def test_a_model_with_the_installed_swish_exports_to_onnx(site, tmp_path):
    """The entry point supplies swish, and swish its lower_onnx: no --plugin."""
    pytest.importorskip("onnxruntime")
    model, out = tmp_path / "swish.npz", tmp_path / "swish.onnx"
    proc = run(site, "-m", "deltarule", "train", "xor", "--activation", "swish,sigmoid",
               "--epochs", "20", "--seed", "0", "--save", str(model))
    assert proc.returncode == 0, proc.stderr
    proc = run(site, "-m", "deltarule", "export", str(model), str(out))
    assert proc.returncode == 0, proc.stderr
    assert "layers 2-3-1 (swish, sigmoid)" in proc.stdout
    code = (
        "import sys, numpy as np, onnx, deltarule\n"
        "from deltarule.export import session\n"
        "from deltarule.datasets import xor\n"
        "X, _ = xor()\n"
        "(got,) = session(onnx.load(sys.argv[2])).run(None, {'input': X})\n"
        "want = deltarule.load(sys.argv[1]).predict(X)\n"
        "raise SystemExit(0 if np.all(np.abs(got - want) <= 1e-12 * (1 + abs(want))) "
        "else 1)\n"
    )
    proc = run(site, "-c", code, str(model), str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr

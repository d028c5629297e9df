"""``deltarule spec`` and the opt-in pytest plugin, through real subprocesses."""

import os
import subprocess
import sys
import textwrap

import pytest

PLUGIN_SOURCE = textwrap.dedent('''
    import numpy as np
    import deltarule


    class Swish:
        """z σ(z), with its true derivative σ + z σ (1 − σ)."""

        name = "swish"

        def forward(self, z):
            return z / (1 + np.exp(-z))

        def derivative(self, z, a):
            s = 1 / (1 + np.exp(-z))
            return s + z * s * (1 - s)


    class BrokenSwish(Swish):
        name = "broken_swish"

        def derivative(self, z, a):
            return 1 / (1 + np.exp(-z))  # forgets the z σ (1 − σ) term


    class Good:
        @deltarule.hookimpl
        def deltarule_activations(self):
            return [Swish()]


    class Bad:
        @deltarule.hookimpl
        def deltarule_activations(self):
            return [BrokenSwish()]


    class Quiet:
        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            pass


    good, bad, quiet = Good(), Bad(), Quiet()
''')


@pytest.fixture
def plugin_dir(tmp_path):
    (tmp_path / "thirdparty_swish.py").write_text(PLUGIN_SOURCE)
    return tmp_path


def run(args, cwd, plugin_dir):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugin_dir),
                                                      env.get("PYTHONPATH")]))
    env["HYPOTHESIS_PROFILE"] = "ci"
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def deltarule_spec(*args, cwd, plugin_dir):
    return run([sys.executable, "-m", "deltarule", "spec", *args], cwd, plugin_dir)


def test_good_plugin_exits_zero(plugin_dir, tmp_path):
    proc = deltarule_spec("--plugin", "thirdparty_swish:good", "-v", cwd=tmp_path,
                          plugin_dir=plugin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "PASSED  activation.derivative  activation swish" in out
    assert "PASSED  network.gradient  network swish × mse" in out
    # skip reasons are always shown, and there is one summary line
    assert "SKIPPED activation.vjp activation 'swish': element-wise" in out
    assert sum(line.startswith("deltarule spec: ") for line in out.splitlines()) == 1
    assert not (tmp_path / ".hypothesis").exists()  # nothing left in the caller's folder


def test_broken_plugin_exits_nonzero_naming_component_plugin_law_and_reproduction(
        plugin_dir, tmp_path):
    proc = deltarule_spec("--plugin", "thirdparty_swish:bad", "--json",
                          str(tmp_path / "report.json"), cwd=tmp_path, plugin_dir=plugin_dir)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "FAILED activation.derivative: activation 'broken_swish' (plugin " \
           "'thirdparty_swish.Bad')" in out
    assert "derivative(z, a) = " in out and "at z = " in out and "> tolerance" in out
    assert "reproduce: deltarule spec --law activation.derivative --component " \
           "broken_swish --plugin thirdparty_swish:bad" in out
    assert "culprit: activation 'broken_swish'" in out  # from the network law
    summary = [line for line in out.splitlines() if line.startswith("deltarule spec: ")]
    assert len(summary) == 1 and " failed" in summary[0]
    import json

    rows = json.loads((tmp_path / "report.json").read_text())["results"]
    assert any(r["law"] == "activation.derivative" and r["status"] == "failed"
               and r["component"] == "broken_swish" and r["plugin"] == "thirdparty_swish.Bad"
               for r in rows)


def test_reproduce_command_reproduces(plugin_dir, tmp_path):
    proc = deltarule_spec("--law", "activation.derivative", "--component", "broken_swish",
                          "--plugin", "thirdparty_swish:bad", cwd=tmp_path,
                          plugin_dir=plugin_dir)
    assert proc.returncode == 1
    assert "deltarule spec: 0 passed, 1 failed, 0 skipped" in proc.stdout


def test_plugin_with_nothing_to_check_exits_nonzero(plugin_dir, tmp_path):
    proc = deltarule_spec("--plugin", "thirdparty_swish:quiet", cwd=tmp_path,
                          plugin_dir=plugin_dir)
    assert proc.returncode == 1
    assert "nothing the suite can check" in proc.stderr


def test_unloadable_plugin_is_a_clear_error(plugin_dir, tmp_path):
    proc = deltarule_spec("--plugin", "thirdparty_swish:missing", cwd=tmp_path,
                          plugin_dir=plugin_dir)
    assert proc.returncode == 2
    assert "has no attribute 'missing'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_profile_and_seed_are_validated(plugin_dir, tmp_path):
    proc = deltarule_spec("--profile", "nonsense", cwd=tmp_path, plugin_dir=plugin_dir)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = deltarule_spec("--seed", "-3", cwd=tmp_path, plugin_dir=plugin_dir)
    assert proc.returncode == 2 and "--seed must be an integer" in proc.stderr


def test_thorough_profile_prints_its_seed(plugin_dir, tmp_path):
    proc = deltarule_spec("--profile", "thorough", "--law", "optimizer.zero-gradient",
                          "--component", "sgd", cwd=tmp_path, plugin_dir=plugin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "(profile thorough, seed " in proc.stdout


def test_opt_in_pytest_plugin_parametrises_the_laws_over_third_party_components(
        plugin_dir, tmp_path):
    """A plugin author's own session: no deltarule configuration at all."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = run([sys.executable, "-m", "pytest", "-p", "deltarule.specs.pytest_plugin",
                "--deltarule-plugin", "thirdparty_swish:bad", "--pyargs", "deltarule.specs",
                "-p", "no:cacheprovider", "-v", "-rs"], tmp_path, plugin_dir)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "test_law[activation.derivative-broken_swish] FAILED" in out
    assert "test_law[activation.forward-broken_swish] PASSED" in out
    assert "test_law[network.gradient-broken_swish+mse] FAILED" in out
    assert "FAILED activation.derivative: activation 'broken_swish'" in out
    assert "test_law[activation.vjp-broken_swish] SKIPPED" in out
    assert "element-wise (derivative() is checked" in out  # the skip reason
    # only that plugin's components: no bundled component, no core law
    assert "-sigmoid]" not in out and "loop." not in out


def test_suite_runs_from_an_installed_layout(tmp_path, plugin_dir):
    """The package as installed (core/ → deltarule/, plugins/ → deltarule/plugins,
    specs/ → deltarule/specs), away from the repository: no reliance on its layout."""
    import shutil
    from pathlib import Path

    import deltarule

    repo = Path(deltarule.__file__).resolve().parent.parent
    if not (repo / "specs" / "laws").is_dir():
        pytest.skip("not running from the source tree")
    site = tmp_path / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(repo / "core", site / "deltarule", ignore=ignore)
    shutil.copytree(repo / "plugins", site / "deltarule" / "plugins", ignore=ignore)
    shutil.copytree(repo / "specs", site / "deltarule" / "specs", ignore=ignore)
    work = tmp_path / "work"
    work.mkdir()
    env_path = os.pathsep.join([str(site), str(plugin_dir)])
    probe = run([sys.executable, "-c", "import deltarule.specs as s; print(s.__file__)"],
                work, env_path)
    assert probe.stdout.startswith(str(site)), probe.stdout + probe.stderr
    proc = run([sys.executable, "-m", "deltarule", "spec", "--law", "activation.derivative",
                "--law", "delta-rule.worked-example", "--component", "sigmoid",
                "--component", "swish", "--plugin", "thirdparty_swish:good", "--all", "-v"],
               work, env_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED  delta-rule.worked-example  core deltarule" in proc.stdout
    assert "PASSED  activation.derivative  activation sigmoid" in proc.stdout
    assert "PASSED  activation.derivative  activation swish" in proc.stdout

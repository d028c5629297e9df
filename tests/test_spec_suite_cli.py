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
    proc = deltarule_spec("--plugin", "thirdparty_swish:good", cwd=tmp_path,
                          plugin_dir=plugin_dir)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASSED  activation  swish" in proc.stdout
    assert "derivative" in proc.stdout and "network-gradient" in proc.stdout
    assert not (tmp_path / ".hypothesis").exists()  # nothing left in the caller's folder


def test_broken_plugin_exits_nonzero_naming_component_plugin_and_check(plugin_dir,
                                                                       tmp_path):
    proc = deltarule_spec("--plugin", "thirdparty_swish:bad", cwd=tmp_path,
                          plugin_dir=plugin_dir)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "FAILED: activation 'broken_swish' (plugin 'thirdparty_swish.Bad'), " \
           "check 'derivative'" in out
    assert "derivative(z, a) = " in out and "central difference" in out and "at z = " in out
    assert "FAILED  activation  broken_swish" in out


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


def test_profile_choice_is_validated(plugin_dir, tmp_path):
    proc = deltarule_spec("--profile", "nonsense", cwd=tmp_path, plugin_dir=plugin_dir)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_opt_in_pytest_plugin_parametrises_the_laws_over_third_party_components(
        plugin_dir, tmp_path):
    """A plugin author's own session: no deltarule configuration at all."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    proc = run([sys.executable, "-m", "pytest", "-p", "deltarule.specs.pytest_plugin",
                "--deltarule-plugin", "thirdparty_swish:bad", "--pyargs", "deltarule.specs",
                "-p", "no:cacheprovider", "-v"], tmp_path, plugin_dir)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert "test_activation[broken_swish-derivative] FAILED" in out
    assert "test_activation[broken_swish-forward] PASSED" in out
    assert "test_network_gradient[broken_swish-mse] FAILED" in out
    assert "check 'derivative'" in out
    # only that plugin's components: no bundled component, no core spec
    assert "[sigmoid-" not in out and "spec_xor" not in out and "deselected" in out


def test_suite_runs_from_an_installed_layout(tmp_path, plugin_dir):
    """The package as installed (core/ → deltarule/, plugins/ → deltarule/plugins,
    specs/ → deltarule/specs), away from the repository: no reliance on its layout."""
    import shutil
    from pathlib import Path

    import deltarule

    repo = Path(deltarule.__file__).resolve().parent.parent
    if not (repo / "specs" / "spec_components.py").is_file():
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
    proc = run([sys.executable, "-m", "deltarule", "spec", "-k", "sigmoid or swish or hand",
                "--plugin", "thirdparty_swish:good", "--all", "-v"], work, env_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # rootdir is the installed package: paths are relative to site/deltarule
    assert "specs/spec_delta_rule.py::test_one_sgd_step_worked_out_by_hand PASSED" \
        in proc.stdout
    assert "PASSED  activation  sigmoid" in proc.stdout
    assert "PASSED  activation  swish" in proc.stdout

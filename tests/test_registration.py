"""The three ways of registering a plugin, and what registration refuses."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import types

import numpy as np
import pytest

import deltarule
from deltarule.datasets import xor

from .helpers import python


class Scaled:
    """A custom activation: ``f(z) = 2 z`` (easy to recognise in outputs)."""

    name = "double"

    def forward(self, z):
        return 2.0 * z

    def derivative(self, z, a):
        return np.full_like(z, 2.0)


class ActivationPlugin:
    @deltarule.hookimpl
    def deltarule_activations(self):
        return [Scaled()]


PLUGIN = ActivationPlugin()  # target of the dotted-path tests


def test_plugin_object_in_code():
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 1], activation="double", lr=0.01,
                             max_epochs=5, seed=0, plugins=[ActivationPlugin()])
    W, b = result.params[0]
    np.testing.assert_allclose(result.predict(X), 2.0 * (X @ W + b))


def test_plugin_module_in_code():
    module = types.ModuleType("my_plugin_module")

    @deltarule.hookimpl
    def deltarule_activations():
        return Scaled()

    module.deltarule_activations = deltarule_activations
    reg = deltarule.make_plugin_manager([module], entry_points=False)
    assert "double" in reg.catalogue().names("activations")
    assert ("my_plugin_module", "user") in [(n, o) for n, o, _ in reg.plugins()]


def test_plugin_by_dotted_path():
    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 1], activation="double", lr=0.01,
                             max_epochs=3, plugins=["tests.test_registration:PLUGIN"])
    assert result.epochs == 3
    reg = deltarule.make_plugin_manager(["tests.test_registration:PLUGIN"],
                                        entry_points=False)
    origins = {n: o for n, o, _ in reg.plugins()}
    assert any("tests.test_registration:PLUGIN" in o for o in origins.values())


def test_dotted_path_errors_name_the_path():
    with pytest.raises(deltarule.PluginError, match="no_such_module_xyz"):
        deltarule.make_plugin_manager(["no_such_module_xyz:thing"], entry_points=False)
    with pytest.raises(deltarule.PluginError, match="has no attribute 'NOPE'"):
        deltarule.make_plugin_manager(["tests.test_registration:NOPE"], entry_points=False)


def test_plugin_by_dotted_path_on_the_command_line():
    out = subprocess.run(
        [sys.executable, "-m", "deltarule", "plugins", "--plugin",
         "tests.test_registration:PLUGIN"],
        capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    ).stdout
    assert "activation double" in out
    assert "tests.test_registration:PLUGIN" in out


ENTRY_POINT_MODULE = textwrap.dedent(
    """
    import numpy as np
    import deltarule

    class Cube:
        name = "cube"
        def forward(self, z):
            return z ** 3
        def derivative(self, z, a):
            return 3 * z ** 2

    @deltarule.hookimpl
    def deltarule_activations():
        return [Cube()]
    """
)


@pytest.fixture
def installed_entry_point(tmp_path):
    """A distribution installed into a site folder, declaring group ``deltarule``."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "ep_cube_plugin.py").write_text(ENTRY_POINT_MODULE)
    info = site / "ep_cube_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-cube-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[deltarule]\ncube = ep_cube_plugin\n")
    (info / "RECORD").write_text("")
    return site


def _run_in(site, code, **env):
    return python("-c", code, env={"PYTHONPATH": os.pathsep.join([str(site), os.getcwd()]),
                                   **env})


def test_entry_point_plugin_is_loaded_automatically(installed_entry_point):
    code = textwrap.dedent(
        """
        import deltarule
        from deltarule.datasets import xor
        reg = deltarule.make_plugin_manager()
        print([(n, o) for n, o, _ in reg.plugins() if n == "cube"])
        X, y = xor()
        r = deltarule.train(X, y, layers=[2, 1], activation="cube", lr=1e-3, max_epochs=2)
        print(r.stop_reason)
        """
    )
    proc = _run_in(installed_entry_point, code)
    assert proc.returncode == 0, proc.stderr
    assert "entry point cube = ep_cube_plugin [ep-cube-plugin 1.0]" in proc.stdout
    assert "max_epochs" in proc.stdout


def test_entry_point_autoload_can_be_turned_off(installed_entry_point):
    code = "import deltarule; print(deltarule.make_plugin_manager().catalogue().names('activations'))"
    on = _run_in(installed_entry_point, code)
    off = _run_in(installed_entry_point, code, DELTARULE_DISABLE_PLUGIN_AUTOLOAD="1")
    assert "'cube'" in on.stdout
    assert off.returncode == 0 and "'cube'" not in off.stdout and "'sigmoid'" in off.stdout


def test_unknown_hook_name_is_refused_with_a_suggestion():
    class Typo:
        @deltarule.hookimpl
        def deltarule_activation(self):
            return []

    with pytest.raises(deltarule.PluginError,
                       match=r"unknown hook 'deltarule_activation'.*did you mean 'deltarule_activations'"):
        deltarule.make_plugin_manager([Typo()], entry_points=False)


def test_misspelled_hook_argument_is_refused():
    class BadArg:
        @deltarule.hookimpl
        def deltarule_stop(self, stat):
            return None

    with pytest.raises(deltarule.PluginError, match="stat"):
        deltarule.make_plugin_manager([BadArg()], entry_points=False)


def test_unmarked_hook_is_refused():
    class Unmarked:
        def deltarule_losses(self):
            return []

    with pytest.raises(deltarule.PluginError, match="without the @deltarule.hookimpl marker"):
        deltarule.make_plugin_manager([Unmarked()], entry_points=False)


def test_user_plugin_shadows_a_bundled_component():
    class MySigmoid(Scaled):
        name = "sigmoid"

    class Shadow:
        @deltarule.hookimpl
        def deltarule_activations(self):
            return [MySigmoid()]

    reg = deltarule.make_plugin_manager([Shadow()], entry_points=False)
    assert isinstance(reg.catalogue().get("activations", "sigmoid"), MySigmoid)
    # the bundled one is untouched for everyone else
    fresh = deltarule.make_plugin_manager(entry_points=False)
    assert not isinstance(fresh.catalogue().get("activations", "sigmoid"), MySigmoid)


def test_two_third_party_components_with_one_name_clash():
    class A:
        name = "plugin_a"

        @deltarule.hookimpl
        def deltarule_activations(self):
            return [Scaled()]

    class B:
        name = "plugin_b"

        @deltarule.hookimpl
        def deltarule_activations(self):
            return [Scaled()]

    with pytest.raises(deltarule.ComponentClashError) as info:
        deltarule.make_plugin_manager([A(), B()], entry_points=False).catalogue()
    assert "'double'" in str(info.value)
    assert "plugin_a" in str(info.value) and "plugin_b" in str(info.value)


def test_component_breaking_its_protocol_is_named():
    class NoDerivative:
        name = "broken"

        def forward(self, z):
            return z

    class P:
        @deltarule.hookimpl
        def deltarule_activations(self):
            return [NoDerivative()]

    with pytest.raises(deltarule.ComponentError, match="'broken'.*derivative\\(\\) or vjp\\(\\)"):
        deltarule.make_plugin_manager([P()], entry_points=False).catalogue()


def test_registries_share_nothing():
    a = deltarule.make_plugin_manager([ActivationPlugin()], entry_points=False)
    b = deltarule.make_plugin_manager(entry_points=False)
    assert "double" in a.catalogue().names("activations")
    assert "double" not in b.catalogue().names("activations")
    assert a.pm is not b.pm


def test_observer_hooks_are_called_in_order():
    calls = []

    class Observer:
        @deltarule.hookimpl
        def deltarule_train_start(self, state):
            calls.append(("start", state.epoch))

        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            calls.append(("epoch", state.epoch, state.loss))

        @deltarule.hookimpl
        def deltarule_train_end(self, state):
            calls.append(("end", state.epoch, state.stop_reason))

    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], max_epochs=3, seed=0,
                             plugins=[Observer()])
    assert calls[0] == ("start", 0)
    assert [c[1] for c in calls[1:4]] == [1, 2, 3]
    assert [c[2] for c in calls[1:4]] == result.history
    assert calls[-1] == ("end", 3, "max_epochs")


def test_third_party_stop_hook_is_honoured():
    class StopAtFive:
        @deltarule.hookimpl
        def deltarule_stop(self, state):
            return "five" if state.epoch == 5 else None

    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], seed=0, plugins=[StopAtFive()])
    assert result.stop_reason == "five" and result.epochs == 5


def test_wrapper_stop_hook_goes_through_pluggy():
    seen = []

    class Wrapper:
        @deltarule.hookimpl(wrapper=True)
        def deltarule_stop(self, state):
            reasons = yield
            seen.append(state.epoch)
            return reasons

    X, y = xor()
    result = deltarule.train(X, y, layers=[2, 3, 1], seed=0, max_epochs=4,
                             plugins=[Wrapper()])
    assert seen == [1, 2, 3, 4] and result.stop_reason == "max_epochs"


def test_state_is_read_only_for_plugins():
    errors = []

    class Meddler:
        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            for attempt in (lambda: setattr(state, "loss", 0.0),
                            lambda: state.params[0][0].__setitem__((0, 0), 1.0)):
                try:
                    attempt()
                except (AttributeError, ValueError) as exc:
                    errors.append(type(exc).__name__)

    X, y = xor()
    deltarule.train(X, y, layers=[2, 3, 1], seed=0, max_epochs=1, plugins=[Meddler()])
    assert errors == ["AttributeError", "ValueError"]


def test_a_class_instead_of_an_instance_is_refused_with_the_fix():
    with pytest.raises(deltarule.PluginError,
                       match=r"is a class; register an instance, e\.g\. ActivationPlugin\(\)"):
        deltarule.make_plugin_manager([ActivationPlugin], entry_points=False)
    with pytest.raises(deltarule.PluginError, match="'tests.test_registration:ActivationPlugin'"):
        deltarule.make_plugin_manager(["tests.test_registration:ActivationPlugin"],
                                      entry_points=False)


def test_a_catalogue_hook_that_raises_is_named():
    class Broken:
        name = "broken_plugin"

        @deltarule.hookimpl
        def deltarule_losses(self):
            raise RuntimeError("boom")

    with pytest.raises(deltarule.PluginError,
                       match=r"plugin 'broken_plugin' \(user\) failed in deltarule_losses\(\): "
                             r"RuntimeError: boom"):
        deltarule.make_plugin_manager([Broken()], entry_points=False).catalogue()


# -- hook implementations as plain calls (Registry.implementations) --------------------


def test_a_wrapper_catalogue_hook_is_refused_clearly():
    class Wrapping:
        @deltarule.hookimpl(wrapper=True)
        def deltarule_activations(self):
            return (yield)

    with pytest.raises(deltarule.PluginError,
                       match=r"implements deltarule_activations as a wrapper .*plain "
                             r"implementations only"):
        deltarule.make_registry([Wrapping()], entry_points=False).catalogue()
    with pytest.raises(deltarule.PluginError, match="as a wrapper"):
        deltarule.Trainer(plugins=[Wrapping()])


def test_a_wrapper_stop_hook_is_honoured_through_pluggy():
    X, y = xor()
    seen = []

    class Wrapping:
        @deltarule.hookimpl(wrapper=True)
        def deltarule_stop(self, state):
            answers = yield
            seen.append(list(answers))
            return answers if state.epoch < 5 else answers + ["wrapped"]

    result = deltarule.train(X, y, max_epochs=100, plugins=[Wrapping()])
    assert result.stop_reason == "wrapped" and result.epochs == 5
    assert len(seen) == 5


def test_implementations_are_plain_calls_in_pluggys_order():
    calls = []

    class Early:
        @deltarule.hookimpl(tryfirst=True)
        def deltarule_epoch_end(self):  # fewer arguments than the spec: allowed
            calls.append("early")

    class Late:
        @deltarule.hookimpl
        def deltarule_epoch_end(self, state):
            calls.append(("late", state))

    reg = deltarule.make_registry([Late(), Early()], entry_points=False)
    impls = reg.implementations("deltarule_epoch_end")
    # the plugin given last is called first, unless tryfirst says otherwise
    assert [i.plugin.rsplit(".", 1)[-1] for i in impls] == ["Early", "Late"]
    for impl in impls:
        impl.call("S")
    assert calls == ["early", ("late", "S")]


def test_make_plugin_manager_is_the_older_name_of_make_registry():
    assert deltarule.make_plugin_manager is deltarule.make_registry
    assert isinstance(deltarule.make_registry(entry_points=False), deltarule.Registry)

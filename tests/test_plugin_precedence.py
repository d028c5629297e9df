"""Which plugin provides a name (issue 12): explicit > entry point > bundled.

Entry points are faked here (``importlib.metadata.EntryPoint`` objects for
modules this test writes); tests/test_example_plugin.py does the same with a
really installed package.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import EntryPoint

import numpy as np
import pytest

import deltarule
from deltarule import ComponentClashError, PluginShadowWarning
from deltarule.cli import main

PLUGIN = '''
import deltarule


class Act:
    name = "wave"
    source = {source!r}

    def forward(self, z):
        return z

    def derivative(self, z, a):
        return z * 0 + 1


class Plugin:
    @deltarule.hookimpl
    def deltarule_activations(self):
        return [Act()]


plugin = Plugin()
'''


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """Two modules providing ``wave``, both declared as entry points."""
    for name in ("wave_a", "wave_b", "wave_mine"):
        (tmp_path / f"{name}.py").write_text(PLUGIN.format(source=name))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DELTARULE_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("DELTARULE_LOAD_PLUGINS", raising=False)
    eps = (EntryPoint("wave-a", "wave_a:plugin", "deltarule"),
           EntryPoint("wave-b", "wave_b:plugin", "deltarule"))
    monkeypatch.setattr(deltarule.registry, "_entry_points", lambda path: eps)
    yield tmp_path
    for name in ("wave_a", "wave_b", "wave_mine"):
        sys.modules.pop(name, None)


def test_two_entry_points_claiming_a_name_is_an_error_naming_both_and_the_fix(installed):
    with pytest.raises(ComponentClashError) as info:
        deltarule.Trainer([1, 1])
    message = str(info.value)
    assert "activation 'wave' is provided by two installed plugins: 'wave-a'" in message
    assert "'wave-b'" in message
    assert "DELTARULE_LOAD_PLUGINS=wave-a" in message
    assert "DELTARULE_DISABLE_PLUGIN_AUTOLOAD=1" in message


def test_the_allow_list_loads_only_the_named_entry_points(installed, monkeypatch):
    monkeypatch.setenv("DELTARULE_LOAD_PLUGINS", "wave-b")
    act = deltarule.Trainer([1, 1], activation="wave").catalogue.get("activations", "wave")
    assert act.source == "wave_b"


def test_an_explicit_plugin_shadows_entry_points_with_a_warning(installed, monkeypatch):
    monkeypatch.setenv("DELTARULE_LOAD_PLUGINS", "wave-a")
    import wave_mine

    with pytest.warns(PluginShadowWarning, match="'wave' of the explicitly registered "
                                                 "plugin .* shadows the one of the "
                                                 "installed plugin 'wave-a'"):
        trainer = deltarule.Trainer([1, 1], activation="wave", plugins=[wave_mine.plugin])
    assert trainer.catalogue.get("activations", "wave").source == "wave_mine"
    # an explicit plugin even resolves the clash of two entry points
    monkeypatch.delenv("DELTARULE_LOAD_PLUGINS")
    with pytest.warns(PluginShadowWarning):
        trainer = deltarule.Trainer([1, 1], activation="wave", plugins=["wave_mine:plugin"])
    assert trainer.catalogue.get("activations", "wave").source == "wave_mine"


def test_two_explicit_plugins_claiming_a_name_still_clash(installed):
    import wave_a
    import wave_mine

    with pytest.raises(ComponentClashError, match="two plugins"):
        deltarule.Trainer([1, 1], plugins=[wave_a.plugin, wave_mine.plugin],
                          entry_points=False)


def test_plugins_json_lists_origins_components_and_notes(installed, monkeypatch, capsys):
    monkeypatch.setenv("DELTARULE_LOAD_PLUGINS", "wave-a")
    assert main(["plugins", "--json", "--plugin", "wave_mine:plugin"]) == 0
    report = json.loads(capsys.readouterr().out)
    by_name = {p["name"]: p for p in report["plugins"]}
    assert by_name["wave-a"]["origin"].startswith("entry point wave-a = wave_a:plugin")
    assert by_name["wave-a"]["provides"] == {}  # shadowed
    mine = next(p for p in report["plugins"] if p["origin"] == "user (wave_mine:plugin)")
    assert mine["provides"] == {"activation": ["wave"]}
    assert any("shadows" in note for note in report["notes"])
    bundled = by_name["deltarule.plugins.activations"]
    assert "sigmoid" in bundled["provides"]["activation"]


def test_the_command_line_finds_plugin_modules_in_the_current_folder(tmp_path, monkeypatch,
                                                                     capsys):
    (tmp_path / "here_wave.py").write_text(PLUGIN.format(source="here"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    assert main(["train", "xor", "--activation", "wave,sigmoid", "--epochs", "3",
                 "--plugin", "here_wave:plugin", "--quiet"]) == 0
    assert "wave" in capsys.readouterr().out
    sys.modules.pop("here_wave", None)


def test_a_model_that_needs_a_plugin_says_so(tmp_path, installed):
    import wave_a

    X, y = np.eye(2), np.eye(2)[:, :1]
    result = deltarule.train(X, y, layers=[2, 2, 1], activation=["wave", "sigmoid"],
                             plugins=[wave_a.plugin], entry_points=False, max_epochs=1)
    path = result.save(tmp_path / "m")
    with pytest.raises(deltarule.UnknownComponentError,
                       match=r"needs the activation 'wave', which no registered plugin "
                             r"provides .*--plugin module:attr"):
        deltarule.load(path, entry_points=False)
    assert deltarule.load(path, plugins=[wave_a.plugin], entry_points=False).layers == (2, 2, 1)

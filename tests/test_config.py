"""Run options: one definition each (deltarule.config), declared by plugins too.

Every option of ``train``/``Trainer``, every ``deltarule train`` flag, every
scikit-learn estimator parameter and every preset key maps to one option;
docs/components.md and docs/cli.md list exactly those.  A third-party stop
criterion declares its own option and takes it from ``train()`` and from the
command line.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import deltarule
from deltarule import config
from deltarule.cli import build_parser, main
from deltarule.cli import train as cli_train
from deltarule.datasets import PRESETS, xor

DOCS = Path(__file__).resolve().parent.parent / "docs"

PLATEAU = '''
import deltarule
from deltarule.config import fraction


class Plateau:
    name = "plateau"

    @deltarule.hookimpl
    def deltarule_options(self):
        return [deltarule.Option("plateau_ratio", None, fraction,
                                 "stop when the loss fell by less than this share "
                                 "over the last 100 epochs", stops=True)]

    @deltarule.hookimpl
    def deltarule_stop(self, state):
        ratio = state.config["plateau_ratio"]
        history = state.history
        if ratio is None or len(history) <= 100:
            return None
        return "plateau" if history[-101] - history[-1] < ratio * history[-101] else None


plugin = Plateau()
'''


def all_options() -> dict[str, config.Option]:
    return config.declared(deltarule.make_registry(entry_points=False))


@pytest.fixture
def plateau(tmp_path, monkeypatch):
    (tmp_path / "plateau_plugin.py").write_text(textwrap.dedent(PLATEAU))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module("plateau_plugin")


# -- one definition per option ----------------------------------------------------


def test_the_bundled_stop_criteria_declare_their_options():
    options = all_options()
    assert set(config.CORE) < set(options)
    assert {"target_loss", "patience", "min_delta", "time_budget", "gradient_tol"} \
        == set(options) - set(config.CORE)
    assert [n for n, o in options.items() if o.stops] == [
        "max_epochs", "target_loss", "patience", "time_budget", "gradient_tol"]


def test_every_train_and_trainer_parameter_is_an_option():
    options = all_options()
    for fn in (deltarule.train, deltarule.Trainer.__init__):
        params = [p for p in inspect.signature(fn).parameters.values()
                  if p.kind is not p.VAR_KEYWORD and p.name != "self"]
        for p in params:
            assert p.name in options or p.name in config.NOT_OPTIONS, (fn, p.name)
            if p.name in options and p.default is not p.empty:
                # the signature's default is the option's default, not a second one
                assert p.default == options[p.name].default, (fn, p.name)


def test_trainer_config_is_exactly_the_options():
    trainer = deltarule.Trainer([2, 3, 1], entry_points=False)
    assert list(trainer.config) == list(all_options())
    for name, opt in all_options().items():
        if name != "layers":
            assert trainer.config[name] == opt.default, name


def train_flags() -> dict[str, str]:
    """``{dest: first option string}`` of every ``deltarule train`` argument."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    train = sub.choices["train"]
    return {a.dest: (a.option_strings[-1] if a.option_strings else a.dest)
            for a in train._actions if a.dest != "help"}


def test_every_train_flag_maps_to_an_option_or_is_declared_not_one():
    flags = train_flags()
    options = all_options()
    assert set(flags) == set(cli_train.FLAG_OPTIONS) | set(cli_train.OTHER_FLAGS)
    assert not set(cli_train.FLAG_OPTIONS) & set(cli_train.OTHER_FLAGS)
    for dest, name in cli_train.FLAG_OPTIONS.items():
        assert name in options, (dest, name)
        # a flag's default is None: the preset's value, else the option's default
        action = next(a for a in build_parser()._subparsers._actions[-1].choices[
            "train"]._actions if a.dest == dest)
        assert action.default is None, dest


def test_every_estimator_parameter_maps_to_an_option():
    sk = pytest.importorskip("deltarule.sklearn")
    options = all_options()
    # a parameter that is not a run option (e.g. verbose) is listed, with why
    only = getattr(sk, "ESTIMATOR_ONLY", {})
    assert not set(only) & set(sk.PARAM_OPTIONS)
    seen = set()
    for cls in (sk.MLPClassifier, sk.MLPRegressor):
        params = set(cls().get_params())
        assert params <= set(sk.PARAM_OPTIONS) | set(only), cls
        seen |= params
    assert seen == set(sk.PARAM_OPTIONS) | set(only)
    for param, name in sk.PARAM_OPTIONS.items():
        assert name in options, (param, name)


def test_every_preset_key_is_an_option():
    options = all_options()
    for preset in PRESETS.values():
        assert set(preset.options) <= set(options), preset.name
        deltarule.Trainer(entry_points=False, **preset.options)  # and a valid one


def markdown_table(text: str, header: str) -> list[list[str]]:
    """The rows (cells stripped) of the Markdown table whose header row starts ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    return rows


def test_components_md_lists_exactly_the_options_with_their_defaults():
    text = (DOCS / "components.md").read_text(encoding="utf-8")
    rows = markdown_table(text, "| option | default |")
    listed = {r[0].strip("`"): r[1].strip("`") for r in rows}
    options = all_options()
    assert list(listed) == list(options)
    for name, opt in options.items():
        assert listed[name] == repr(opt.default), name


def test_cli_md_lists_exactly_the_train_flags_and_their_options():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    rows = markdown_table(text, "| flag | run option |")
    documented = {}
    for flag_cell, option_cell, _ in rows:
        flag = re.match(r"`(--[\w-]+)", flag_cell).group(1)
        documented[flag] = option_cell.strip("`")
    flags = train_flags()
    by_flag = {f: d for d, f in flags.items() if f.startswith("--")}
    assert set(documented) == set(by_flag)
    for flag, option in documented.items():
        dest = by_flag[flag]
        expected = cli_train.FLAG_OPTIONS.get(dest, "any" if dest == "option" else "—")
        assert option == expected, flag


# -- unknown and invalid options ----------------------------------------------------


def test_unknown_option_suggests_the_right_name():
    X, y = xor()
    with pytest.raises(deltarule.UnknownOptionError,
                       match=r"\['epochs'\] \(did you mean 'max_epochs'\?\)") as info:
        deltarule.train(X, y, epochs=10)
    assert isinstance(info.value, deltarule.ConfigError)
    assert isinstance(info.value, TypeError)  # as an unexpected keyword would be
    with pytest.raises(deltarule.ConfigError, match=r"did you mean 'patience'\?"):
        deltarule.Trainer(patiense=3)
    with pytest.raises(deltarule.ConfigError, match=r"did you mean 'lr'\?"):
        deltarule.Trainer(learning_rate=0.1)


def test_option_checks_run_before_any_data_is_read():
    with pytest.raises(deltarule.ConfigError, match="min_delta must be a number ≥ 0"):
        deltarule.Trainer(min_delta=-1)
    with pytest.raises(deltarule.ConfigError, match="shuffle must be True or False"):
        deltarule.Trainer(shuffle="no")
    assert deltarule.Trainer(target_loss=1).config["target_loss"] == 1.0


def test_a_plugin_may_not_redeclare_an_option():
    class Greedy:
        @deltarule.hookimpl
        def deltarule_options(self):
            return [deltarule.Option("lr", 1.0)]

    with pytest.raises(deltarule.PluginError, match="declares the option 'lr'"):
        deltarule.Trainer(plugins=[Greedy()])

    class Twice:
        @deltarule.hookimpl
        def deltarule_options(self):
            return [deltarule.Option("patience", 1)]

    with pytest.raises(deltarule.PluginError, match="'patience' already declares"):
        deltarule.Trainer(plugins=[Twice()])


def test_a_plugin_must_return_options():
    class Sloppy:
        @deltarule.hookimpl
        def deltarule_options(self):
            return {"my_option": 3}

    with pytest.raises(deltarule.PluginError, match="return deltarule.Option"):
        deltarule.Trainer(plugins=[Sloppy()])
    with pytest.raises(deltarule.PluginError, match="Python identifier"):
        deltarule.Option("my option", 1)


# -- a third-party stop criterion with its own option --------------------------------


def test_third_party_stop_criterion_takes_its_option_from_train(plateau):
    X, y = xor()
    result = deltarule.train(X, y, lr=0.5, seed=1, max_epochs=None, plateau_ratio=0.01,
                             plugins=[plateau.plugin])
    assert result.stop_reason == "plateau"
    assert result.config["plateau_ratio"] == 0.01
    # off by default, checked by its own check, and refused without the plugin
    off = deltarule.train(X, y, seed=1, max_epochs=300, plugins=[plateau.plugin])
    assert off.stop_reason == "max_epochs" and off.config["plateau_ratio"] is None
    with pytest.raises(deltarule.ConfigError, match="plateau_ratio must be a fraction"):
        deltarule.train(X, y, plateau_ratio=2, plugins=[plateau.plugin])
    with pytest.raises(deltarule.UnknownOptionError, match="'plateau_ratio'"):
        deltarule.train(X, y, plateau_ratio=0.01)
    # its setting counts as a stop criterion: max_epochs=None is accepted
    deltarule.Trainer(max_epochs=None, plateau_ratio=0.5, plugins=[plateau.plugin])


def test_third_party_stop_criterion_takes_its_option_from_the_command_line(plateau, capsys):
    code = main(["train", "xor", "--seed", "1", "--lr", "0.5", "--epochs", "100000",
                 "--plugin", "plateau_plugin:plugin", "--option", "plateau_ratio=0.01",
                 "--json", "--quiet"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["stop_reason"] == "plateau"
    X, y = xor()
    library = deltarule.train(X, y, lr=0.5, seed=1, max_epochs=100000, plateau_ratio=0.01,
                              plugins=[plateau.plugin])
    assert report["epochs"] == library.epochs
    assert report["final_loss"] == library.loss


@pytest.mark.parametrize("argv, message", [
    (["--option", "min_delta=-1", "--patience", "3"], "min_delta must be a number ≥ 0"),
    (["--option", "patiense=3"], "did you mean 'patience'?"),
    (["--option", "patience=3"], "patience has its own flag; use --patience"),
    (["--option", "min_delta=0.1", "-o", "min_delta=0.2"], "min_delta is given twice"),
    (["--option", "min_delta"], "--option takes NAME=VALUE"),
])
def test_bad_option_flags(argv, message, capsys):
    try:
        code = main(["train", "xor", "--epochs", "5", "--quiet", *argv])
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_option_flag_values_are_json(capsys):
    code = main(["train", "xor", "--epochs", "40", "--seed", "0", "--quiet", "--json",
                 "--batch-size", "2", "-o", "shuffle=false",
                 "-o", 'optimizer_options={"weight_decay": 0.01}'])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    X, y = xor()
    library = deltarule.train(X, y, max_epochs=40, seed=0, batch_size=2, shuffle=False,
                              optimizer_options={"weight_decay": 0.01})
    assert report["final_loss"] == library.loss


# -- the held-out rows ------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7, 12345])
@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_cli_and_library_hold_out_the_same_rows(seed, fraction, capsys):
    code = main(["train", "xor", "--seed", str(seed), "--epochs", "20", "--json",
                 "--quiet", "--validation-split", str(fraction)])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    X, y = xor()
    trainer = deltarule.Trainer([2, 3, 1], max_epochs=20, seed=seed,
                                validation_split=fraction)
    result = trainer.fit(X, y)
    assert report["val_loss"] == result.val_history[-1]
    assert report["final_loss"] == result.loss
    # the rows are those of the child stream, the same every fit
    again = deltarule.Trainer([2, 3, 1], max_epochs=1, seed=seed, validation_split=fraction)
    again.fit(X, y)
    for a, b in zip(trainer.validation_rows, again.validation_rows):
        np.testing.assert_array_equal(a, b)


def test_xor_seed_0_holds_out_rows_0_and_1():
    # the measurement: the library used to hold out [0, 2], the CLI [0, 1]
    X, y = xor()
    trainer = deltarule.Trainer([2, 3, 1], max_epochs=1, seed=0, validation_split=0.5)
    trainer.fit(X, y)
    assert trainer.validation_rows[1].tolist() == [0, 1]


@pytest.mark.parametrize("seed", [0, 3, np.random.default_rng(5)])
def test_validation_split_leaves_the_initial_weights_unchanged(seed):
    class First:
        @deltarule.hookimpl
        def deltarule_train_start(self, state):
            self.theta = np.concatenate([np.ravel(a) for p in state.params for a in p])

    X = np.random.default_rng(0).normal(size=(40, 3))
    y = X[:, :1] ** 2
    seen = []
    for split in (None, 0.2, 0.5):
        rng_seed = seed if not isinstance(seed, np.random.Generator) else \
            np.random.default_rng(5)
        first = First()
        deltarule.train(X, y, max_epochs=1, seed=rng_seed, validation_split=split,
                        batch_size=8, plugins=[first])
        seen.append(first.theta)
    for theta in seen[1:]:
        np.testing.assert_array_equal(theta, seen[0])


def test_partial_fit_keeps_the_held_out_rows():
    X = np.random.default_rng(1).normal(size=(30, 2))
    y = X[:, :1]
    trainer = deltarule.Trainer([2, 3, 1], max_epochs=2, seed=4, validation_split=0.3)
    trainer.fit(X, y)
    rows = trainer.validation_rows
    trainer.partial_fit(X, y, epochs=2)
    np.testing.assert_array_equal(rows[1], trainer.validation_rows[1])
    trainer.fit(X, y, validation_data=None)
    assert trainer.validation_rows is not None
    plain = deltarule.Trainer([2, 3, 1], max_epochs=2, seed=4)
    plain.fit(X, y)
    assert plain.validation_rows is None

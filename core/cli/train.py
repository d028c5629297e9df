"""``deltarule train``: train a network on a preset or a data file, and report.

Also the data loading shared with ``predict`` and ``plot``: a preset name
or a data file, split into inputs and targets (:func:`load_data`).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import signal
import sys
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..errors import ConfigError, DataError, DeltaRuleError, DeltaRuleWarning
from ..faults import describe_exception
from ..preprocessing import Scaler, spread_note
from . import outputs
from .parser import EXIT_ERROR, parse_names, parse_option, parse_seed, parse_widths
from .signals import SignalGuard, TrainingGuard, exit_status, signal_name

# the run option behind each flag (argparse's dest -> deltarule.config name); a
# flag's default is None, meaning "the preset's value, else the option's default"
FLAG_OPTIONS = {
    "layers": "layers",
    "hidden": "layers",
    "activation": "activation",
    "loss": "loss",
    "optimizer": "optimizer",
    "init": "init",
    "dtype": "dtype",
    "lr": "lr",
    "epochs": "max_epochs",
    "batch_size": "batch_size",
    "target_loss": "target_loss",
    "patience": "patience",
    "time_budget": "time_budget",
    "validation_split": "validation_split",
    "seed": "seed",
    "threads": "threads",
}
# the flags that are not run options: which data, which plugins, what to write
OTHER_FLAGS = ("data", "target", "columns", "one_hot", "target_kind", "scale", "plugin",
               "option", "save", "plot", "json", "quiet", "traceback")
DEFAULT_HIDDEN = (3,)  # the document's hidden width
TABLE_MAX_ROWS = 8  # outputs are listed beside their targets for data this small


def add_parser(sub):
    """Add the ``train`` sub-command to the ``deltarule`` subparsers ``sub``."""
    tr = sub.add_parser(
        "train", help="train a network on a preset (xor, digits) or a data file",
        description="Train a network and print the final loss, the stop reason and "
                    "(for small data) the outputs beside their targets.",
    )
    tr.add_argument("data", help="a preset ('xor': the document's example; 'digits': "
                                 "scikit-learn's digits) or a data file (.csv, .tsv, .npz)")
    g = tr.add_argument_group("data files")
    g.add_argument("--target", type=parse_names, metavar="COL[,COL...]",
                   help="the target column(s); the other columns are the inputs")
    g.add_argument("--columns", type=parse_names, metavar="COL[,COL...]",
                   help="input columns (default: every column that is not a target)")
    g.add_argument("--one-hot", action="store_true",
                   help="the single target column holds class labels 0,1,2,…: train "
                        "one output per class")
    g.add_argument("--target-kind", choices=["auto", "classes", "numbers"], default="auto",
                   help="auto (default): a target column of text, or of whole numbers "
                        "with 3 to 20 values, is read as classes (a note says so); "
                        "classes / numbers: say which")
    g.add_argument("--scale", choices=["standard", "minmax"], default=None,
                   help="scale the inputs (fitted on the training rows, stored in the "
                        "model and applied by predict): standard = (x - mean) / std, "
                        "minmax = (x - min) / (max - min); default: none")
    g = tr.add_argument_group("network")
    shape = g.add_mutually_exclusive_group()
    shape.add_argument("--layers", type=parse_widths("--layers", "2,3,1"), default=None,
                       help="every layer width, inputs first: 2,3,1 (xor's default) "
                            "or 2,3,2,1 (the document's second example)")
    shape.add_argument("--hidden", type=parse_widths("--hidden", "8 or 16,8"), default=None, metavar="W[,W...]",
                       help="hidden widths only; inputs and outputs come from the data "
                            "(default for data files: 3)")
    g.add_argument("--activation", type=parse_names, default=None, metavar="NAME[,NAME...]",
                   help="one activation for every layer, or one per layer "
                        "(default sigmoid; digits: sigmoid,softmax)")
    g.add_argument("--loss", default=None, help="default mse (digits: cross_entropy)")
    g.add_argument("--optimizer", default=None, help="default sgd")
    g.add_argument("--init", default=None, help="default randn")
    g.add_argument("--dtype", default=None, choices=["float64", "float32"],
                   help="default float64")
    g.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR",
                   help="register a plugin by dotted path (repeatable)")
    g = tr.add_argument_group("training")
    g.add_argument("--lr", type=float, default=None,
                   help="learning rate (default 0.1; digits: 0.5)")
    g.add_argument("--epochs", type=int, default=None,
                   help="maximum number of epochs (default 10000; digits: 30)")
    g.add_argument("--batch-size", type=int, default=None,
                   help="mini-batch rows (default: the whole data; digits: 32)")
    g.add_argument("--target-loss", type=float, default=None,
                   help="stop once the loss is at most this")
    g.add_argument("--patience", type=int, default=None,
                   help="stop after this many epochs without improvement")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop after this many seconds")
    g.add_argument("--validation-split", type=float, default=None, metavar="FRACTION",
                   help="hold out this fraction of the rows to measure the validation "
                        "loss (digits: 0.2)")
    g.add_argument("--seed", type=parse_seed, default=None,
                   help="random seed (default: a fresh one, printed so you can repeat it)")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="cap the BLAS threads (needs threadpoolctl)")
    g.add_argument("-o", "--option", type=parse_option, action="append", default=[],
                   metavar="NAME=VALUE",
                   help="set any run option, including those a --plugin declares, e.g. "
                        "min_delta=0.001 (repeatable; VALUE is read as JSON, else text)")
    g = tr.add_argument_group("output")
    g.add_argument("--save", metavar="MODEL.npz", help="write the trained model here")
    g.add_argument("--plot", metavar="FILE.png",
                   help="draw the loss curve, plus the decision boundary for two inputs "
                        "(needs matplotlib)")
    g.add_argument("--json", action="store_true",
                   help="print one JSON object instead of the text report")
    g.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    tr.set_defaults(func=cmd_train)
    return tr


# -- data -------------------------------------------------------------------


@dataclass
class Data:
    name: str
    description: str
    X: np.ndarray
    y: np.ndarray
    features: tuple[str, ...]
    targets: tuple[str, ...]
    preset: object = None
    classes: np.ndarray | None = None   # class labels, when the target is classes
    target_columns: tuple[str, ...] = ()  # the file's target column name(s)
    notes: tuple[str, ...] = ()
    labels: np.ndarray | None = None    # the raw target labels (text or numbers)


MAX_AUTO_CLASSES = 20  # whole-number targets with 3…this many values read as classes


def load_data(args, *, need_target: bool, table=None) -> Data:
    """The preset or file named by ``args.data``, split into inputs and targets
    (``table``: the file, when the caller read it already)."""
    from ..io.data import read_table
    from ..datasets import PRESETS

    preset = PRESETS.get(args.data)
    target, columns = getattr(args, "target", None), getattr(args, "columns", None)
    if preset is not None:
        if target or columns or getattr(args, "one_hot", False):
            raise ConfigError(
                f"--target, --columns and --one-hot apply to data files; the preset "
                f"{preset.name!r} has fixed inputs and targets"
            )
        X, y = preset.load()
        features = tuple(f"x{i + 1}" for i in range(X.shape[1]))
        targets = ("y",) if y.shape[1] == 1 else tuple(f"y{i + 1}" for i in range(y.shape[1]))
        return Data(preset.name, preset.description, X, y, features, targets, preset)
    if args.data != "-" and not os.path.exists(args.data) and "." not in Path(args.data).name:
        raise DataError(
            f"{args.data!r} is neither a preset ({', '.join(PRESETS)}) nor an existing "
            "data file (.csv, .tsv, .npz)"
        )
    if table is None:
        table = read_table(args.data)
    if need_target and not target and not table.default_target:
        raise ConfigError(
            f"name the target column(s) of {table.source} with --target "
            f"(its columns: {', '.join(table.columns)})"
        )
    split = table.split(target, columns)
    y, targets = split.y, split.targets
    classes = labels = None
    notes = []
    if getattr(args, "one_hot", False):
        y, targets = _one_hot(y, targets, table.source)
        classes = np.arange(y.shape[1])
        labels = split.y[:, 0].astype(np.int64)
    elif need_target:
        y, targets, classes, labels, note = _classes(split, getattr(args, "target_kind", "auto"),
                                                     table.source)
        if note:
            notes.append(note)
    elif split.labels is not None:
        labels = split.labels
    desc = (f"{table.source} ({len(split.X)} rows; inputs {_short(split.features)}; "
            f"target {_short(split.targets) or '-'})")
    return Data(table.source, desc, split.X, y, split.features, targets,
                classes=classes, target_columns=split.targets, notes=tuple(notes),
                labels=labels)


def _classes(split, kind: str, source: str):
    """``(y, target names, classes, labels, note)``: the target read as numbers
    or as classes.  Classes are encoded as one 0/1 column (two classes:
    ``classes[1]`` is 1) or one-hot columns (three or more)."""
    y, targets = split.y, split.targets
    if split.labels is not None:
        if kind == "numbers":
            raise DataError(
                f"{source}: target column {targets[0]!r} holds text, which cannot be "
                "read as numbers; drop --target-kind numbers to read it as classes"
            )
        labels = split.labels
        why = "holds text"
    elif len(targets) != 1 or kind == "numbers":
        return y, targets, None, None, None
    else:
        col = y[:, 0]
        whole = np.array_equal(col, np.round(col))
        n_values = len(np.unique(col))
        if kind == "auto" and not (whole and 3 <= n_values <= MAX_AUTO_CLASSES):
            return y, targets, None, None, None
        if n_values < 2:
            raise DataError(f"{source}: target column {targets[0]!r} holds one value only; "
                            "classes need at least two")
        labels = col.astype(np.int64) if whole else col
        why = f"holds {n_values} whole numbers"
    from ..datasets import MAX_CLASSES

    classes, codes = np.unique(labels, return_inverse=True)
    k = len(classes)
    if k > MAX_CLASSES or (k > len(labels) // 2 and split.labels is not None and k > 20):
        raise DataError(
            f"{source}: target column {targets[0]!r} holds {k} different labels in "
            f"{len(labels)} rows — too many to be classes (at most {MAX_CLASSES}, and "
            "fewer than half the rows); is it the right column?"
        )
    if k < 2:
        raise DataError(f"{source}: target column {targets[0]!r} holds one class only "
                        f"({classes[0]!r}); classes need at least two")
    if k == 2:
        Y = codes.reshape(-1, 1).astype(np.float64)
        names = (f"{targets[0]}={classes[1]}",)
    else:
        Y = np.zeros((len(codes), k))
        Y[np.arange(len(codes)), codes] = 1.0
        names = tuple(f"{targets[0]}={c}" for c in classes)
    note = None
    if kind == "auto":
        other = ("" if split.labels is not None else
                 "; --target-kind numbers fits them as numbers instead")
        note = (f"target column {targets[0]!r} {why}: read as {k} classes "
                f"({_short([str(c) for c in classes])}){other}")
    return Y, names, classes, labels, note


def _short(names, keep: int = 6) -> str:
    """``a, b, c`` — or ``a, b, c, …, z (64 columns)`` for long lists."""
    if len(names) <= keep:
        return ", ".join(names)
    return f"{', '.join(names[:keep - 2])}, …, {names[-1]} ({len(names)} columns)"


def _one_hot(y, targets, source):
    from ..datasets import one_hot

    if len(targets) != 1:
        raise ConfigError(
            f"--one-hot needs exactly one target column of class labels, got "
            f"{len(targets)} ({', '.join(targets)})"
        )
    try:
        Y = one_hot(y[:, 0])
    except DataError as exc:
        raise DataError(f"{source}, column {targets[0]!r}: {exc} (--one-hot)") from None
    return Y, tuple(f"{targets[0]}={k}" for k in range(Y.shape[1]))


def _accuracy(y: np.ndarray, y_hat: np.ndarray) -> float | None:
    """Share of rows classified right, when ``y`` holds classes; else ``None``.

    One-hot targets: the arg-max must match; one 0/1 target: ``ŷ > 0.5``.
    """
    if y.shape[1] > 1:
        if not (np.isin(y, (0.0, 1.0)).all() and (y.sum(axis=1) == 1).all()):
            return None
        return float(np.mean(np.argmax(y_hat, axis=1) == np.argmax(y, axis=1)))
    if not np.isin(y, (0.0, 1.0)).all():
        return None
    return float(np.mean((y_hat[:, 0] > 0.5) == (y[:, 0] == 1.0)))


# -- train ------------------------------------------------------------------


def _resolve(args, preset) -> dict:
    """The run options given: the command line, else the preset's.

    Options left unset get their defaults from :mod:`deltarule.config` (in
    :class:`~deltarule.Trainer`); ``layers`` is decided by :func:`_layers_for`.
    """
    opts = {k: v for k, v in (preset.options if preset else {}).items() if k != "layers"}
    for dest, name in FLAG_OPTIONS.items():
        given = getattr(args, dest)
        if given is not None and name != "layers":
            opts[name] = given
    seen = set()
    for name, value in args.option:
        flag = next((f"--{d.replace('_', '-')}" for d, n in FLAG_OPTIONS.items()
                     if n == name), None)
        if flag is not None:
            raise ConfigError(f"--option {name}=…: {name} has its own flag; use {flag}")
        if name in seen:
            raise ConfigError(f"--option {name} is given twice; give it once")
        seen.add(name)
        opts[name] = value
    act = opts.get("activation")
    if isinstance(act, (list, tuple)):
        opts["activation"] = act[0] if len(act) == 1 else list(act)
    return opts


def _option(opts: dict, name: str):
    """The value a run uses: the given one, else ``deltarule.config``'s default."""
    return opts[name] if name in opts else config.CORE[name].default


def _layers_for(args, preset, data: Data) -> list[int]:
    n_in, n_out = data.X.shape[1], data.y.shape[1]
    if args.layers is not None:
        layers = list(args.layers)
        if len(layers) < 2:
            raise ConfigError(
                f"--layers needs at least an input and an output width, got "
                f"{','.join(map(str, layers)) or 'nothing'}"
            )
        if layers[0] != n_in or layers[-1] != n_out:
            raise ConfigError(
                f"--layers {','.join(map(str, layers))} does not fit {data.name}: it has "
                f"{n_in} input(s) and {n_out} output(s), so the widths must read "
                f"{n_in},…,{n_out} (or give only --hidden)"
            )
        return layers
    if args.hidden is not None:
        return [n_in, *args.hidden, n_out]
    if preset is not None:
        return list(preset.options["layers"])
    return [n_in, *DEFAULT_HIDDEN, n_out]


def _progress_plugin(args):
    """The progress-bar observer, when stderr is a terminal and not ``--quiet``."""
    if args.quiet or not sys.stderr.isatty():
        return None
    from ..progress import ProgressBar

    try:
        return ProgressBar()
    except ImportError:  # tqdm is a dependency, but may have been removed
        print("deltarule: note: no progress bar (pip install tqdm)", file=sys.stderr)
        return None


def cmd_train(args) -> int:
    from ..io.files import check_room
    from ..io.model import model_path
    from ..threads import limit_blas_threads
    from ..trainer import Trainer, holdout, split_stream
    from ..validation import n_parameters

    guard = getattr(args, "signal_guard", None) or SignalGuard()
    if args.plot:
        from ..plotting import require_matplotlib

        require_matplotlib()
    with limit_blas_threads(args.threads):
        pass  # fails now, not after training, if threadpoolctl is missing
    # everything the run will write is checked before any work
    save_to = outputs.check(args.save and model_path(args.save), "--save",
                            inputs=[args.data])
    plot_to = outputs.check(outputs.picture_path(args.plot, "--plot"), "--plot",
                            inputs=[args.data, save_to])

    data = load_data(args, need_target=True)
    preset = data.preset
    opts = _resolve(args, preset)
    layers = _layers_for(args, preset, data)
    if save_to is not None:  # at least the parameters must fit on the disk
        check_room(save_to, n_parameters(layers) * np.dtype(opts.get("dtype")).itemsize,
                   "--save")
    if data.classes is not None and not args.one_hot:
        _class_defaults(args, opts, layers, len(data.classes))
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    notes = list(data.notes)

    opts["seed"] = seed
    X_fit, scaler = data.X, None
    if args.scale:
        # fitted on the rows the trainer will train on (it holds out the same
        # validation rows for this seed), stored in the model
        rows = slice(None)
        if opts.get("validation_split") is not None:
            rows = holdout(len(data.X), opts["validation_split"],
                           split_stream(np.random.default_rng(seed)))[0]
        scaler = Scaler.fit(data.X[rows], args.scale)
        X_fit = scaler.transform(data.X)
    elif preset is None:
        spread = spread_note(data.X)
        if spread:
            notes.append(spread)

    plugins = list(args.plugin)
    bar = _progress_plugin(args)
    if bar is not None:
        plugins.append(bar)
    plugins.append(TrainingGuard(guard))
    # the trainer holds out validation_split of the rows (from a child stream of
    # the seed), exactly as deltarule.train(..., seed=seed) would
    if not args.quiet:
        for note in notes:
            print(f"deltarule: note: {note}", file=sys.stderr)
    failure = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeltaRuleWarning)
        trainer = Trainer(layers, plugins=plugins, **opts)
        try:
            result = trainer.fit(X_fit, data.y)
        except KeyboardInterrupt:
            # before the first epoch there is nothing to keep; after it, the library
            # re-raises Ctrl-C once it has kept the result
            result = trainer.result
            if result is None or not result.epochs:
                raise
        except Exception as exc:  # a plugin failed mid-run: keep and save what was reached
            result = trainer.result
            if result is None or not result.epochs:
                raise
            failure = exc
    guard.defer()  # from here on a signal waits: the files are written whole
    for w in caught:
        if issubclass(w.category, DeltaRuleWarning):
            notes.append(str(w.message))
            if not args.quiet:
                print(f"deltarule: note: {w.message}", file=sys.stderr)
        else:  # someone else's warning: hand it on untouched
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    net = result.network  # what it knows of its data goes into the model file
    net.scaler = scaler
    net.classes = data.classes
    net.feature_names = tuple(data.features)
    net.target_names = tuple(data.target_columns or data.targets)
    X, y, validation = data.X, data.y, None
    if trainer.validation_rows is not None:
        tr, va = trainer.validation_rows
        X, y, validation = data.X[tr], data.y[tr], (data.X[va], data.y[va])

    saved, problems = None, []
    if save_to is not None:
        saved, problem = outputs.save_model(result, save_to)
        if problem:
            problems.append(problem)
    plotted = None
    if plot_to is not None:
        from ..plotting import save_figure

        try:
            plotted = save_figure(
                plot_to, history=result.history, val_history=result.val_history,
                network=result.network, X=data.X, y=data.y, names=data.features,
                title=f"{data.name}: {'-'.join(map(str, layers))}",
            )
        except (OSError, DeltaRuleError) as exc:
            problems.append(f"cannot write --plot {str(plot_to)!r}: "
                            f"{getattr(exc, 'strerror', None) or exc}")
        except Exception as exc:
            problems.append(f"cannot draw --plot {str(plot_to)!r}: "
                            f"{describe_exception(exc)}")

    report = _train_report(data, opts, layers, seed, result, X, y, validation,
                           saved, plotted)
    report["notes"] = notes
    report["scale"] = args.scale
    report["classes"] = None if data.classes is None else np.asarray(data.classes).tolist()
    if args.json:
        print(json.dumps(report, allow_nan=False))
    else:
        _print_train_report(report, data, result, seed_given=args.seed is not None)
    sys.stdout.flush()
    kept = (f"the parameters of epoch {result.epochs} are kept"
            + (f" and saved to {saved}" if saved else ""))
    if failure is not None:
        if getattr(args, "traceback", False):
            traceback.print_exception(failure, file=sys.stderr)
        detail = str(failure) if isinstance(failure, DeltaRuleError) else (
            f"unexpected {describe_exception(failure)} (a bug in deltarule or a plugin; "
            "--traceback shows where)")
        print(f"deltarule: error: {detail}; training stopped (stop reason error) and "
              f"{kept}", file=sys.stderr)
    for problem in problems:
        print(f"deltarule: error: {problem}", file=sys.stderr)
    if failure is not None or problems:
        return EXIT_ERROR
    signum = guard.first
    if signum is None and result.stop_reason == "interrupted":
        signum = signal.SIGINT  # a KeyboardInterrupt without a signal (e.g. from code)
    if signum is not None:
        verb = "interrupted" if signum == signal.SIGINT else \
            f"terminated ({signal_name(signum)})"
        if result.stop_reason in ("interrupted", "terminated"):
            note = (f"{verb} after {result.epochs} epoch(s); the parameters reached are "
                    "kept" + (f" and saved to {saved}" if saved else ""))
        else:  # the signal came once training was over, while writing the files
            note = (f"{verb} while writing the outputs, which were completed first"
                    + (f"; the model was saved whole to {saved}" if saved else ""))
        if not args.quiet:
            print(f"deltarule: {note}", file=sys.stderr)
        return exit_status(signum)
    return 0


def _class_defaults(args, opts, layers, k: int) -> None:
    """An output that fits class targets, unless the user chose one:
    softmax + cross_entropy for three or more classes, sigmoid +
    binary_cross_entropy for two."""
    out, loss = ("softmax", "cross_entropy") if k > 2 else ("sigmoid", "binary_cross_entropy")
    if args.activation is None:
        hidden = opts.get("activation", "sigmoid")
        hidden = hidden if isinstance(hidden, str) else "sigmoid"
        opts["activation"] = [hidden] * (len(layers) - 2) + [out]
        if args.loss is None:
            opts["loss"] = loss
    elif args.loss is None:
        acts = opts["activation"]
        last = acts[-1] if isinstance(acts, list) else acts
        if last == out:
            opts["loss"] = loss


def _finite(x):
    return None if x is None or not math.isfinite(x) else float(x)


def _train_report(data, opts, layers, seed, result, X, y, validation, saved,
                  plotted) -> dict:
    comps = result.components
    predict = _predictor(result)
    y_hat = predict(X)
    report = {
        "command": "train",
        "data": data.name,
        "samples": int(len(data.X)),
        "features": list(data.features),
        "targets": list(data.targets),
        "layers": list(layers),
        "activations": list(comps.get("activations", [])),
        "loss": comps.get("loss"),
        "optimizer": comps.get("optimizer"),
        "init": _option(opts, "init"),
        "lr": _option(opts, "lr"),
        "batch_size": _option(opts, "batch_size"),
        "validation_split": _option(opts, "validation_split"),
        "seed": seed,
        "epochs": result.epochs,
        "stop_reason": result.stop_reason,
        "final_loss": _finite(result.loss),
        "val_loss": _finite(result.val_history[-1]) if len(result.val_history) else None,
        "history_length": len(result.history),
        "elapsed": round(result.elapsed, 6),
        "accuracy": None if y_hat is None else _accuracy(y, y_hat),
        "val_accuracy": None,
        "outputs": None,
        "saved": str(saved) if saved else None,
        "plot": str(plotted) if plotted else None,
    }
    if validation is not None:
        val_hat = predict(validation[0])
        report["val_accuracy"] = None if val_hat is None else _accuracy(validation[1],
                                                                          val_hat)
    if len(data.X) <= TABLE_MAX_ROWS:
        full = y_hat if X is data.X else predict(data.X)
        if full is not None:
            report["outputs"] = [
                {"x": xi.tolist(), "target": yi.tolist(),
                 "output": [_finite(v) for v in oi]}
                for xi, yi, oi in zip(data.X, data.y, full)
            ]
    return report


def _predictor(result):
    """``X -> ŷ``, or ``None`` when a failing plugin makes prediction fail too."""
    if result.stop_reason != "error":
        return result.predict

    def predict(X):
        try:
            out = result.predict(X)
        except Exception:
            return None
        return out if isinstance(out, np.ndarray) and out.shape == (len(X),
                                                                   result.network.layers[-1]) \
            else None

    return predict


def _print_train_report(r: dict, data: Data, result, *, seed_given: bool) -> None:
    acts = r["activations"]
    act = acts[0] if len(set(acts)) == 1 else ",".join(acts)
    rate = r["epochs"] / r["elapsed"] if r["elapsed"] > 0 else math.inf
    lines = [
        ("data", data.description),
        ("network", f"{'-'.join(map(str, r['layers']))}, {act}, {r['loss']}, "
                    f"{r['optimizer']} lr={r['lr']:g}"
                    + (f", batch {r['batch_size']}" if r["batch_size"] else "")),
        *([("classes", _short([str(c) for c in r["classes"]]))] if r.get("classes") else []),
        *([("scale", f"{r['scale']} (stored in the model)")] if r.get("scale") else []),
        ("seed", f"{r['seed']}" + ("" if seed_given else
                                   f"  (repeat with --seed {r['seed']})")),
        ("epochs", f"{r['epochs']} in {r['elapsed']:.3g} s ({rate:,.0f} epochs/s)"),
        ("stop reason", r["stop_reason"]),
        ("final loss", f"{result.loss:.6g}"),  # inf/nan shown as such here
    ]
    if len(result.val_history):
        lines.append(("val loss", f"{result.val_history[-1]:.6g}"))
    if r["accuracy"] is not None:
        lines.append(("accuracy", f"{100 * r['accuracy']:.1f}% (training)"
                      + (f", {100 * r['val_accuracy']:.1f}% (validation)"
                         if r["val_accuracy"] is not None else "")))
    if r["saved"]:
        lines.append(("saved", r["saved"]))
    if r["plot"]:
        lines.append(("plot", r["plot"]))
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        print(f"{key:<{width}} {value}")
    if r["outputs"]:
        print()
        _print_outputs_table(r["outputs"], data.features, data.targets)


def _print_outputs_table(rows, features, targets) -> None:
    def cell(v):
        return "-" if v is None else (f"{v:.0f}" if float(v).is_integer() else f"{v:.4g}")

    heads = list(features) + ["|"] + [f"target {t}" if len(targets) > 1 else "target"
                                      for t in targets] + ["|"] + (
        [f"output {t}" for t in targets] if len(targets) > 1 else ["output"])
    body = []
    for row in rows:
        body.append([cell(v) for v in row["x"]] + ["|"] + [cell(v) for v in row["target"]]
                    + ["|"] + ["-" if v is None else f"{v:.4f}" for v in row["output"]])
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(heads)]
    for cells in [heads, *body]:
        print("  " + " ".join(c.rjust(w) for c, w in zip(cells, widths)))

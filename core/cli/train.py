"""``deltarule train``: train a network on a preset or a data file, and report.

Also the data loading shared with ``predict`` and ``plot``: a preset name
or a data file, split into inputs and targets (:func:`load_data`).
"""

from __future__ import annotations

import json
import math
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import config
from ..errors import ConfigError, DataError
from .parser import EXIT_INTERRUPTED, parse_names, parse_option, parse_seed, parse_widths

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
OTHER_FLAGS = ("data", "target", "columns", "one_hot", "plugin", "option", "save", "plot",
               "json", "quiet")
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


def load_data(args, *, need_target: bool) -> Data:
    """The preset or file named by ``args.data``, split into inputs and targets."""
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
    table = read_table(args.data)
    if need_target and not target and not table.default_target:
        raise ConfigError(
            f"name the target column(s) of {table.source} with --target "
            f"(its columns: {', '.join(table.columns)})"
        )
    split = table.split(target, columns)
    y, targets = split.y, split.targets
    if getattr(args, "one_hot", False):
        y, targets = _one_hot(y, targets, table.source)
    desc = (f"{table.source} ({len(split.X)} rows; inputs {_short(split.features)}; "
            f"target {_short(split.targets) or '-'})")
    return Data(table.source, desc, split.X, y, split.features, targets)


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


def check_output_path(path, option: str) -> None:
    if path is None:
        return
    folder = Path(path).parent
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: the folder {str(folder)!r} does not exist")
    if Path(path).is_dir():
        raise ConfigError(f"{option} {path} is a folder; give a file name")


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
    from ..io.model import save
    from ..threads import limit_blas_threads
    from ..trainer import Trainer

    if args.plot:
        from ..plotting import require_matplotlib

        require_matplotlib()
    with limit_blas_threads(args.threads):
        pass  # fails now, not after training, if threadpoolctl is missing
    check_output_path(args.save, "--save")
    check_output_path(args.plot, "--plot")

    data = load_data(args, need_target=True)
    preset = data.preset
    opts = _resolve(args, preset)
    layers = _layers_for(args, preset, data)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)

    opts["seed"] = seed

    plugins = list(args.plugin)
    bar = _progress_plugin(args)
    if bar is not None:
        plugins.append(bar)
    # the trainer holds out validation_split of the rows (from a child stream of
    # the seed), exactly as deltarule.train(..., seed=seed) would
    trainer = Trainer(layers, plugins=plugins, **opts)
    result = trainer.fit(data.X, data.y)
    X, y, validation = data.X, data.y, None
    if trainer.validation_rows is not None:
        tr, va = trainer.validation_rows
        X, y, validation = data.X[tr], data.y[tr], (data.X[va], data.y[va])
    interrupted = result.stop_reason == "interrupted"

    saved = save(result, args.save) if args.save else None
    plotted = None
    if args.plot:
        from ..plotting import save_figure

        plotted = save_figure(
            args.plot, history=result.history, val_history=result.val_history,
            network=result.network, X=data.X, y=data.y, names=data.features,
            title=f"{data.name}: {'-'.join(map(str, layers))}",
        )

    report = _train_report(data, opts, layers, seed, result, X, y, validation,
                           saved, plotted)
    if args.json:
        print(json.dumps(report, allow_nan=False))
    else:
        _print_train_report(report, data, result, seed_given=args.seed is not None)
    if interrupted and not args.quiet:
        print(f"deltarule: interrupted after {result.epochs} epoch(s); the parameters "
              "reached are kept" + (f" and saved to {saved}" if saved else ""),
              file=sys.stderr)
    return EXIT_INTERRUPTED if interrupted else 0


def _finite(x):
    return None if x is None or not math.isfinite(x) else float(x)


def _train_report(data, opts, layers, seed, result, X, y, validation, saved,
                  plotted) -> dict:
    comps = result.components
    y_hat = result.predict(X)
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
        "accuracy": _accuracy(y, y_hat),
        "val_accuracy": None,
        "outputs": None,
        "saved": str(saved) if saved else None,
        "plot": str(plotted) if plotted else None,
    }
    if validation is not None:
        report["val_accuracy"] = _accuracy(validation[1], result.predict(validation[0]))
    if len(data.X) <= TABLE_MAX_ROWS:
        full = y_hat if X is data.X else result.predict(data.X)
        report["outputs"] = [
            {"x": xi.tolist(), "target": yi.tolist(), "output": [_finite(v) for v in oi]}
            for xi, yi, oi in zip(data.X, data.y, full)
        ]
    return report


def _print_train_report(r: dict, data: Data, result, *, seed_given: bool) -> None:
    acts = r["activations"]
    act = acts[0] if len(set(acts)) == 1 else ",".join(acts)
    rate = r["epochs"] / r["elapsed"] if r["elapsed"] > 0 else math.inf
    lines = [
        ("data", data.description),
        ("network", f"{'-'.join(map(str, r['layers']))}, {act}, {r['loss']}, "
                    f"{r['optimizer']} lr={r['lr']:g}"
                    + (f", batch {r['batch_size']}" if r["batch_size"] else "")),
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

"""``deltarule predict`` and ``deltarule plot``: use a saved model."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from . import outputs
from .parser import EXIT_ERROR, data_selection
from .train import Data, load_data


def add_parsers(sub) -> None:
    """Add the ``predict`` and ``plot`` sub-commands to the subparsers ``sub``."""
    pr = sub.add_parser(
        "predict", help="write a saved model's predictions as CSV",
        description="Read MODEL (written by train --save) and DATA; write one CSV row "
                    "of outputs per data row.",
    )
    pr.add_argument("model", help="a model file written by 'deltarule train --save'")
    pr.add_argument("data", help="a data file (.csv, .tsv, .npz; '-' for CSV on stdin) "
                                 "or a preset name")
    data_selection(pr)
    pr.add_argument("--argmax", action="store_true",
                    help="write the class index instead of the outputs: the largest "
                         "output, or for one output 1 when it is above 0.5")
    pr.add_argument("--proba", action="store_true",
                    help="for a model trained on classes: add one probability column "
                         "per class beside the label")
    pr.add_argument("--json", action="store_true",
                    help="print one JSON object (columns and one record per row) "
                         "instead of CSV")

    pr.add_argument("--out", metavar="FILE.csv", help="write here instead of stdout")
    pr.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR",
                    help="plugins providing the model's custom activations")
    pr.set_defaults(func=cmd_predict)

    pt = sub.add_parser(
        "plot", help="draw a saved model's loss curve and decision boundary",
        description="Draw the loss curve stored in MODEL and, for two inputs, the "
                    "decision boundary (with DATA's points if given).",
    )
    pt.add_argument("model", help="a model file written by 'deltarule train --save'")
    pt.add_argument("data", nargs="?", help="optional data file or preset for the points")
    data_selection(pt)
    pt.add_argument("--out", required=True, metavar="FILE.png", help="the picture to write")
    pt.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR")
    pt.set_defaults(func=cmd_plot)


def _model_inputs(args, net, model_path) -> Data:
    """The rows of DATA the model reads: its stored input columns when the file
    has them (any target column is then left out), else every column that is
    not named by --target."""
    table = None
    if args.data not in _presets() and (args.data == "-" or os.path.exists(args.data)):
        from ..io.data import read_table

        table = read_table(args.data)  # read once (it may be standard input)
        if net.feature_names and not args.columns \
                and set(net.feature_names) <= set(table.columns):
            args.columns = list(net.feature_names)
            targets = [t for t in (net.target_names or ()) if t in table.columns
                       and t not in net.feature_names]
            if not args.target and targets:
                args.target = targets
    data = load_data(args, need_target=False, table=table)
    if data.X.shape[1] != net.layers[0]:
        expected = (f" ({', '.join(net.feature_names)})" if net.feature_names else "")
        raise DataError(
            f"{data.name} gives {data.X.shape[1]} input column(s) "
            f"({', '.join(data.features)}) but {model_path} expects {net.layers[0]}"
            f"{expected}; choose the inputs with --columns, or leave out target columns "
            "with --target"
        )
    return data


def _presets():
    from ..datasets import PRESETS

    return PRESETS


def _predictions(args, net, data):
    """``(header, rows)``: rows an object array (numbers keep their dtype)."""
    Y = net.predict(data.X)
    n = len(Y)
    if args.argmax:
        index = (Y[:, 0] > 0.5).astype(np.int64) if Y.shape[1] == 1 else np.argmax(Y, axis=1)
        return ["class"], index.reshape(-1, 1)
    if net.classes is not None:
        name = net.target_names[0] if net.target_names and len(net.target_names) == 1 \
            else "class"
        labels = net.labels_of(Y)
        columns = [labels]
        header = [name]
        if args.proba:
            P = net.predict_proba(data.X) if Y.shape[1] == 1 else Y
            if Y.shape[1] == 1:
                P = np.column_stack([1 - Y[:, 0], Y[:, 0]])
            for j, c in enumerate(net.classes):
                header.append(f"p({c})")
                columns.append(P[:, j])
        rows = np.empty((n, len(columns)), dtype=object)
        for j, col in enumerate(columns):
            rows[:, j] = list(col)
        return header, rows
    if args.proba:
        raise ConfigError(
            "--proba needs a model trained on classes (its file stores them); this model "
            "predicts numbers: leave out --proba"
        )
    k = Y.shape[1]
    if net.target_names and len(net.target_names) == k:
        header = list(net.target_names)
    elif len(data.targets) == k:
        header = list(data.targets)
    else:
        header = ["y"] if k == 1 else [f"y{i + 1}" for i in range(k)]
    return header, Y


def _json_value(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def cmd_predict(args) -> int:
    from ..io.data import write_csv
    from ..io.files import atomic_write
    from ..io.model import load

    out = outputs.check(args.out, "--out", inputs=[args.model, args.data])
    net = load(args.model, plugins=args.plugin)
    data = _model_inputs(args, net, args.model)
    header, rows = _predictions(args, net, data)
    if args.json:
        text = json.dumps({
            "command": "predict", "model": str(args.model), "data": data.name,
            "rows": len(rows), "columns": header,
            "predictions": [{h: _json_value(v) for h, v in zip(header, row)}
                            for row in np.asarray(rows)],
        }, allow_nan=False) + "\n"
        if out is None:
            sys.stdout.write(text)
            return 0
        writer = lambda fh: fh.write(text)  # noqa: E731
    else:
        writer = lambda fh: write_csv(fh, header, rows)  # noqa: E731
    if out is not None:
        guard = getattr(args, "signal_guard", None)
        with guard.deferred() if guard else contextlib.nullcontext():
            try:
                atomic_write(out, writer, text=True)
            except OSError as exc:
                return _unwritten("--out", out, exc)
    else:
        write_csv(sys.stdout, header, rows)
    return 0


def _encode(labels, net):
    """Labels as the network's targets (0/1 column or one-hot), unknown ones NaN."""
    classes = [str(c) for c in net.classes]
    index = {c: i for i, c in enumerate(classes)}
    codes = np.array([index.get(str(v), -1) for v in labels])
    if net.layers[-1] == 1:
        y = codes.astype(np.float64).reshape(-1, 1)
    else:
        y = np.zeros((len(codes), len(classes)))
        y[np.arange(len(codes)), np.maximum(codes, 0)] = 1.0
    y[codes < 0] = np.nan
    return y


def _scaler_bounds(scaler):
    """The plane the training data covered, from the stored scaler (2 inputs)."""
    lo, span = scaler.offset, scaler.scale
    if scaler.kind == "minmax":
        return [(float(lo[i]), float(lo[i] + span[i])) for i in range(2)]
    return [(float(lo[i] - 2.5 * span[i]), float(lo[i] + 2.5 * span[i])) for i in range(2)]


def cmd_plot(args) -> int:
    from ..io.model import HISTORY_KEY, VAL_HISTORY_KEY, load, read_metadata
    from ..plotting import require_matplotlib, save_figure

    require_matplotlib()
    out = outputs.check(outputs.picture_path(args.out, "--out"), "--out",
                        inputs=[args.model, args.data])
    _, arrays = read_metadata(args.model)
    net = load(args.model, plugins=args.plugin)
    X = y = None
    names = net.feature_names
    bounds = None
    if args.data is not None:
        data = _model_inputs(args, net, args.model)
        X, names = data.X, data.features
        labels = data.labels
        if labels is None and net.classes is not None and data.y.shape[1] == 1:
            labels = data.y[:, 0].astype(np.asarray(net.classes).dtype)
        if labels is not None and net.classes is not None:
            y = _encode(labels, net)
        elif data.y.shape[1] == net.layers[-1]:
            y = data.y
    elif args.target or args.columns:
        raise ConfigError("--target and --columns select columns of DATA; give a data file")
    elif net.scaler is not None:
        bounds = _scaler_bounds(net.scaler)  # the training data's own range

    guard = getattr(args, "signal_guard", None)
    with guard.deferred() if guard else contextlib.nullcontext():
        try:
            path = save_figure(
            out, history=arrays.get(HISTORY_KEY, ()),
                val_history=arrays.get(VAL_HISTORY_KEY, ()), network=net, X=X, y=y,
                names=names,
                title=f"{Path(args.model).name}: {'-'.join(map(str, net.layers))}",
                bounds=bounds, classes=net.classes,
            )
        except OSError as exc:
            return _unwritten("--out", out, exc)
    print(f"wrote {path}")
    return 0


def _unwritten(option: str, path, exc: OSError) -> int:
    """One line for an output that could not be written (it is left as it was)."""
    print(f"deltarule: error: cannot write {option} {str(path)!r}: "
          f"{exc.strerror or exc}; the file is left as it was", file=sys.stderr)
    return EXIT_ERROR

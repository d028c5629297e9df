"""``deltarule predict`` and ``deltarule plot``: use a saved model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from .parser import data_selection
from .train import Data, check_output_path, load_data


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
                    help="write the index of the largest output (the class) instead")
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
    data = load_data(args, need_target=False)
    if data.X.shape[1] != net.layers[0]:
        raise DataError(
            f"{data.name} gives {data.X.shape[1]} input column(s) "
            f"({', '.join(data.features)}) but {model_path} expects {net.layers[0]}; "
            "choose the inputs with --columns, or leave out target columns with --target"
        )
    return data


def cmd_predict(args) -> int:
    from ..io.data import write_csv
    from ..io.model import load

    net = load(args.model, plugins=args.plugin)
    data = _model_inputs(args, net, args.model)
    Y = net.predict(data.X)
    if args.argmax:
        header, rows = ["class"], np.argmax(Y, axis=1).reshape(-1, 1)
    else:
        k = Y.shape[1]
        if len(data.targets) == k:
            header = list(data.targets)
        else:
            header = ["y"] if k == 1 else [f"y{i + 1}" for i in range(k)]
        rows = Y
    if args.out:
        check_output_path(args.out, "--out")
        with open(args.out, "w", newline="", encoding="utf-8") as fh:
            write_csv(fh, header, rows)
    else:
        write_csv(sys.stdout, header, rows)
    return 0


def cmd_plot(args) -> int:
    from ..io.model import HISTORY_KEY, VAL_HISTORY_KEY, load, read_metadata
    from ..plotting import require_matplotlib, save_figure

    require_matplotlib()
    check_output_path(args.out, "--out")
    _, arrays = read_metadata(args.model)
    net = load(args.model, plugins=args.plugin)
    X = y = None
    names = None
    if args.data is not None:
        data = _model_inputs(args, net, args.model)
        X, names = data.X, data.features
        if data.y.shape[1] == net.layers[-1]:
            y = data.y
    elif args.target or args.columns:
        raise ConfigError("--target and --columns select columns of DATA; give a data file")
    path = save_figure(
        args.out, history=arrays.get(HISTORY_KEY, ()),
        val_history=arrays.get(VAL_HISTORY_KEY, ()), network=net, X=X, y=y, names=names,
        title=f"{Path(args.model).name}: {'-'.join(map(str, net.layers))}",
    )
    print(f"wrote {path}")
    return 0

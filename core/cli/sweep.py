"""``deltarule sweep``: how often does a setting converge?  Many seeds at once.

    deltarule sweep xor --seeds 0-999 --lr 0.1,0.5,1 --layers 2,3,1 2,4,1

trains one network per seed and setting with :func:`deltarule.train_many`
and prints, per setting, the convergence rate with its Wilson interval, the
epochs to converge (quartiles) and the median final loss.  A model
*converges* when its loss reaches ``--target-loss`` (presets have a default:
xor 0.005, which means every output within 0.1 of its target).  ``--csv`` /
``--json`` write the per-model table, ``--plot`` draws the rates and the
epochs; ``--scheduler tcp://HOST:PORT`` or ``--workers N`` run the chunks on
a Dask cluster.  Ctrl-C prints what finished and exits with 130.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time

from ..errors import ConfigError
from ..io.files import atomic_write
from . import outputs
from .parser import EXIT_INTERRUPTED, parse_names, parse_option, parse_widths
from .signals import exit_status
from .train import load_data

# a model converges when its loss reaches this (presets; data files: --target-loss)
PRESET_TARGETS = {"xor": 0.005, "digits": 0.1}


def _numbers(kind, option):
    def parse(text: str):
        try:
            values = [kind(part) for part in text.split(",") if part.strip()]
        except ValueError:
            values = []
        if not values:
            raise argparse.ArgumentTypeError(
                f"{option} takes one value or a comma-separated list such as "
                f"{'0.1,0.5,1' if kind is float else '10,100'}, got {text!r}")
        return values
    return parse


def _seeds(text: str):
    from ..many import parse_seeds

    try:
        return parse_seeds(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub):
    """Add the ``sweep`` sub-command to the ``deltarule`` subparsers ``sub``."""
    sw = sub.add_parser(
        "sweep", help="train many seeds and settings at once; convergence rates",
        description="Train one network per seed and setting (lists of values form a "
                    "grid) and print each setting's convergence rate with its "
                    "interval, the epochs to converge and the final loss.",
    )
    sw.add_argument("data", help="a preset (xor, digits) or a data file (.csv, .tsv, .npz)")
    g = sw.add_argument_group("data files")
    g.add_argument("--target", type=parse_names, metavar="COL[,COL...]",
                   help="the target column(s); the other columns are the inputs")
    g.add_argument("--columns", type=parse_names, metavar="COL[,COL...]",
                   help="input columns (default: every column that is not a target)")
    g.add_argument("--one-hot", action="store_true",
                   help="the single target column holds class labels 0,1,2,…")
    g = sw.add_argument_group("the grid (each combination runs with every seed)")
    g.add_argument("--seeds", type=_seeds, default=list(range(100)), metavar="SEEDS",
                   help="seeds such as 0-999 or 1,5,9 (default 0-99)")
    shape = g.add_mutually_exclusive_group()
    shape.add_argument("--layers", type=parse_widths("--layers", "2,3,1"), nargs="+",
                       default=None, metavar="W,W,...",
                       help="one or more networks, every width inputs first: 2,3,1 2,4,1")
    shape.add_argument("--hidden", type=parse_widths("--hidden", "3 or 4,2"), nargs="+",
                       default=None, metavar="W[,W...]",
                       help="one or more hidden-layer lists; inputs and outputs come "
                            "from the data")
    g.add_argument("--lr", type=_numbers(float, "--lr"), default=None,
                   help="learning rate(s) (default 0.1; digits: 0.5)")
    g.add_argument("--epochs", type=_numbers(int, "--epochs"), default=None,
                   help="maximum epochs (default 10000; digits: 30)")
    g.add_argument("--batch-size", type=_numbers(int, "--batch-size"), default=None,
                   help="mini-batch rows (default: the whole data; digits: 32)")
    g.add_argument("--target-loss", type=_numbers(float, "--target-loss"), default=None,
                   help="a model converges once its loss is at most this "
                        "(xor: 0.005, digits: 0.1; data files: required)")
    g.add_argument("--patience", type=_numbers(int, "--patience"), default=None,
                   help="also stop after this many epochs without improvement")
    g.add_argument("--validation-split", type=float, default=None, metavar="FRACTION")
    g.add_argument("--option", type=parse_option, action="append", default=[],
                   metavar="NAME=VALUE",
                   help="any other run option, e.g. a plugin's (repeatable); a JSON "
                        "list of numbers such as min_delta=[0,0.001] is a grid axis")
    g = sw.add_argument_group("network")
    g.add_argument("--activation", type=parse_names, default=None, metavar="NAME[,NAME...]")
    g.add_argument("--loss", default=None)
    g.add_argument("--optimizer", default=None)
    g.add_argument("--init", default=None)
    g.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    g.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR")
    g = sw.add_argument_group("where it runs")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:PORT",
                       help="a Dask scheduler: each chunk of models runs on a worker "
                            '(pip install "deltarule[dask]")')
    where.add_argument("--workers", type=int, metavar="N",
                       help="start a local Dask cluster of N worker processes")
    g.add_argument("--chunk-size", type=int, default=None, metavar="MODELS",
                   help="most models per Dask task (default: one task per worker thread)")
    g.add_argument("--threads", type=int, default=None, metavar="N",
                   help="cap the BLAS threads (needs threadpoolctl)")
    g = sw.add_argument_group("output")
    g.add_argument("--confidence", type=float, default=0.95,
                   help="of the rate's Wilson interval (default 0.95)")
    g.add_argument("--csv", metavar="FILE.csv", help="write the per-model table as CSV")
    g.add_argument("--json", metavar="FILE.json",
                   help="write the per-setting summary and the per-model table as JSON")
    g.add_argument("--plot", metavar="FILE.png",
                   help="draw each setting's rate with its interval and its epochs to "
                        "converge (needs matplotlib)")
    g.add_argument("--quiet", action="store_true", help="no progress bar or notes")
    sw.set_defaults(func=cmd_sweep)
    return sw


def _default(key):
    from ..config import CORE

    return CORE[key].default if key in CORE else None


def _options(args, data) -> tuple[dict, dict]:
    """``(fixed options, grid)`` from the command line, the preset and the defaults."""
    from ..many import split_grid

    preset = data.preset.options if data.preset else {}
    fixed = {}
    for key in ("activation", "loss", "optimizer", "init"):
        value = getattr(args, key)
        if value is None:
            value = preset.get(key, _default(key))
        if isinstance(value, (list, tuple)):
            value = value[0] if len(value) == 1 else list(value)
        fixed[key] = value
    fixed["dtype"] = args.dtype
    fixed["threads"] = args.threads
    split = args.validation_split
    if split is None:
        split = preset.get("validation_split")
    fixed["validation_split"] = split
    grid = {}
    n_in, n_out = data.X.shape[1], data.y.shape[1]
    if args.layers is not None:
        for layers in args.layers:
            if len(layers) < 2 or layers[0] != n_in or layers[-1] != n_out:
                raise ConfigError(
                    f"--layers {','.join(map(str, layers))} does not fit {data.name}: it "
                    f"has {n_in} input(s) and {n_out} output(s), so every network must "
                    f"read {n_in},…,{n_out}")
        grid["layers"] = [list(v) for v in args.layers]
    elif args.hidden is not None:
        grid["layers"] = [[n_in, *h, n_out] for h in args.hidden]
    else:
        grid["layers"] = [list(preset.get("layers", (n_in, 3, n_out)))]
    for option, key in (("lr", "lr"), ("epochs", "max_epochs"),
                        ("batch_size", "batch_size"), ("target_loss", "target_loss"),
                        ("patience", "patience")):
        values = getattr(args, option)
        if values is None:
            default = preset.get(key, _default(key))
            if key == "target_loss" and data.preset is not None:
                default = PRESET_TARGETS.get(data.preset.name)
            values = [default]
        grid[key] = values
    given = {}
    for name, value in args.option:
        if name in grid or name in fixed or name in given:
            raise ConfigError(f"--option {name}=…: {name} is set already (by its own flag "
                              "or an earlier --option); give it once")
        given[name] = value
    _, more_fixed, more_grid = split_grid(None, given)
    fixed.update(more_fixed)
    grid.update(more_grid)
    if grid["target_loss"] == [None]:
        raise ConfigError(
            f"give --target-loss for {data.name}: a model converges when its training "
            "loss reaches it")
    # one-value axes are options, not grid axes: the summary names what varies
    for key in list(grid):
        if len(grid[key]) == 1:
            fixed[key] = grid.pop(key)[0]
    return fixed, grid


def _progress(args, total: int):
    if args.quiet or not sys.stderr.isatty():
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="models", unit="model", file=sys.stderr)


def cmd_sweep(args) -> int:
    from ..many import train_many

    if args.plot:
        from ..plotting import require_matplotlib

        require_matplotlib()
    # everything the sweep will write is checked before any model trains
    csv_to = outputs.check(args.csv, "--csv", inputs=[args.data])
    json_to = outputs.check(args.json, "--json", inputs=[args.data, csv_to])
    plot_to = outputs.check(outputs.picture_path(args.plot, "--plot"), "--plot",
                            inputs=[args.data, csv_to, json_to])
    guard = getattr(args, "signal_guard", None)
    if not 0 < args.confidence < 1:
        raise ConfigError(f"--confidence must lie strictly between 0 and 1, got "
                          f"{args.confidence}")
    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    data = load_data(args, need_target=True)
    fixed, grid = _options(args, data)
    layers = grid.pop("layers", None)
    if layers is None:
        layers = fixed.pop("layers")
    total = len(args.seeds) * math.prod(len(v) for v in grid.values()) * (
        len(layers) if isinstance(layers[0], list) else 1)
    client = _client(args)
    bar = _progress(args, total)
    started = time.perf_counter()
    try:
        many = train_many(data.X, data.y, layers, seeds=args.seeds, client=client,
                          chunk_size=args.chunk_size, plugins=list(args.plugin),
                          on_done=bar.update if bar is not None else None,
                          **fixed, **grid)
    finally:
        if bar is not None:
            bar.close()
        if client is not None:
            _close(client, local=args.workers is not None)
    elapsed = time.perf_counter() - started
    if guard is not None:
        guard.defer()  # from here on a signal waits: the files are written whole
    summary = many.summary(confidence=args.confidence)
    _print_report(args, data, many, summary, elapsed, fixed)
    if csv_to is not None:
        _write_csv(csv_to, many.table())
    if json_to is not None:
        text = json.dumps({"summary": _json_ready(summary),
                           "models": _json_ready(many.table())}, allow_nan=False) + "\n"
        atomic_write(json_to, lambda fh: fh.write(text), text=True)
    if plot_to is not None:
        from ..plotting import save_sweep_figure

        save_sweep_figure(plot_to, summary, many, title=f"{data.name}: "
                          f"{len(args.seeds)} seeds per setting")
    if not args.quiet:
        for note in many.notes:
            print(f"deltarule: note: {note}", file=sys.stderr)
    for failure in many.failures:
        print(f"deltarule: error: {len(failure.models)} model(s) failed "
              f"({', '.join(_label(s) for s in failure.settings)}): {failure.error}",
              file=sys.stderr)
    if many.interrupted:
        print(f"deltarule: interrupted: {many.finished} of {len(many)} models finished; "
              "the table shows them", file=sys.stderr)
        first = guard.first if guard is not None else None
        return exit_status(first) if first is not None else EXIT_INTERRUPTED
    return 1 if many.failures else 0


def _client(args):
    if args.scheduler is None and args.workers is None:
        return None
    from ..distributed import connect, local_cluster

    if args.scheduler is not None:
        return connect(args.scheduler)
    return local_cluster(args.workers)


def _close(client, *, local: bool):
    cluster = client.cluster if local else None
    client.close()
    if cluster is not None:
        cluster.close()


def _label(settings) -> str:
    from ..stacked import ModelSpec

    return ModelSpec(0, 0, settings).label()


def _fmt(x, spec=".4g"):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) \
        else format(x, spec)


def _print_report(args, data, many, summary, elapsed, fixed):
    backend = ("in-process" if args.scheduler is None and args.workers is None else
               f"Dask {args.scheduler or f'local cluster, {args.workers} workers'}")
    fixed_shown = {k: v for k, v in fixed.items()
                   if k in ("layers", "lr", "max_epochs", "batch_size", "target_loss",
                            "patience", "validation_split") and v is not None}
    lines = [("data", data.description),
             ("models", f"{len(many)} ({len(args.seeds)} seeds × {len(summary)} "
                        f"setting(s)), {backend}, {elapsed:.3g} s"),
             ("fixed", _label(fixed_shown)),
             ("converged", f"training loss ≤ target_loss before the epoch limit")]
    width = max(len(k) for k, _ in lines) + 1
    for key, value in lines:
        print(f"{key:<{width}} {value}")
    print()
    pct = f"{args.confidence:.0%}"
    heads = ["setting", "models", "converged", "rate", f"{pct} interval",
             "epochs q1/median/q3", "final loss"]
    rows = []
    for row in summary:
        interval = ("-" if not math.isfinite(row["rate_low"]) else
                    f"{100 * row['rate_low']:.1f}–{100 * row['rate_high']:.1f} %")
        epochs = ("-" if not math.isfinite(row["epochs_median"]) else
                  f"{row['epochs_q1']:.0f} / {row['epochs_median']:.0f} / "
                  f"{row['epochs_q3']:.0f}")
        done = row["finished"]
        rows.append([row["label"], f"{done}" if done == row["models"] else
                     f"{done}/{row['models']}", f"{row['converged']}",
                     "-" if not done else f"{100 * row['rate']:.1f} %", interval, epochs,
                     _fmt(row["final_loss_median"])])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    for cells in [heads, *rows]:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))).rstrip())


def _json_ready(rows):
    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v
    return [clean(r) for r in rows]


def _write_csv(path, rows):
    keys = []
    for row in rows:
        keys += [k for k in row if k not in keys]
    def write(fh):
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("-".join(map(str, v)) if isinstance(v, list) else
                                 "" if v is None else v) for k, v in row.items()})

    atomic_write(path, write, text=True)

"""The ``deltarule`` command line.

``deltarule train xor``      train the document's XOR network and print the result
``deltarule plugins``        list every registered plugin and its components
``deltarule spec``           run the executable specification suite
"""

from __future__ import annotations

import argparse
import secrets
import sys

import numpy as np

from .errors import DeltaRuleError


def _layers(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--layers takes comma-separated widths such as 2,3,1, got {text!r}"
        ) from None
    return sizes


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="deltarule",
        description="Back-propagation in NumPy, every step a pluggy plugin.",
    )
    parser.add_argument("--version", action="version", version=f"deltarule {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    tr = sub.add_parser("train", help="train a network (preset: xor)")
    tr.add_argument("data", help="'xor' (the document's example)")
    tr.add_argument("--layers", type=_layers, default=None,
                    help="layer widths, e.g. 2,3,1 (default) or 2,3,2,1")
    tr.add_argument("--activation", default="sigmoid")
    tr.add_argument("--loss", default="mse")
    tr.add_argument("--optimizer", default="sgd")
    tr.add_argument("--init", default="randn")
    tr.add_argument("--lr", type=float, default=0.1, help="learning rate (default 0.1)")
    tr.add_argument("--epochs", type=int, default=10000,
                    help="maximum number of epochs (default 10000)")
    tr.add_argument("--target-loss", type=float, default=None)
    tr.add_argument("--batch-size", type=int, default=None)
    tr.add_argument("--seed", type=int, default=None,
                    help="random seed (default: a fresh one, printed so you can repeat it)")
    tr.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    tr.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR",
                    help="register a plugin by dotted path (repeatable)")
    tr.set_defaults(func=cmd_train)

    pl = sub.add_parser("plugins", help="list registered plugins and their components")
    pl.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR")
    pl.set_defaults(func=cmd_plugins)

    try:
        from .spec_cli import add_spec_parser
    except ImportError:  # pragma: no cover - spec runner not installed
        pass
    else:
        add_spec_parser(sub)
    return parser


def cmd_train(args) -> int:
    from .datasets import xor
    from .training import Trainer

    if args.data != "xor":
        print(f"deltarule: unknown data {args.data!r}; available presets: xor",
              file=sys.stderr)
        return 2
    X, y = xor()
    layers = args.layers or [2, 3, 1]
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    trainer = Trainer(
        layers, activation=args.activation, loss=args.loss, optimizer=args.optimizer,
        init=args.init, lr=args.lr, max_epochs=args.epochs, target_loss=args.target_loss,
        batch_size=args.batch_size, seed=seed, dtype=args.dtype, plugins=args.plugin,
    )
    result = trainer.fit(X, y)
    y_hat = result.predict(X)
    print(f"network     {'-'.join(map(str, layers))}, {args.activation}, "
          f"{args.loss}, {args.optimizer} lr={args.lr}")
    print(f"seed        {seed}")
    print(f"epochs      {result.epochs}")
    print(f"stop reason {result.stop_reason}")
    print(f"final loss  {result.loss:.6g}")
    print()
    print("  x1  x2 | target | output")
    for xi, yi, oi in zip(X, y, y_hat):
        print(f"  {xi[0]:.0f}   {xi[1]:.0f}  |  {yi[0]:.0f}     | {oi[0]:.4f}")
    return 0


def cmd_plugins(args) -> int:
    from .manager import FAMILIES, SINGULAR, make_plugin_manager

    reg = make_plugin_manager(args.plugin)
    catalogue = reg.catalogue()
    provided: dict[str, list[str]] = {}
    for family, table in catalogue.families.items():
        for name, entry in table.items():
            provided.setdefault(entry.plugin, []).append(f"{SINGULAR[family]} {name}")
    for name, origin, plugin in reg.plugins():
        hooks = sorted(
            h.name for h in reg.pm.get_hookcallers(plugin) or ()
        )
        comps = provided.get(name, [])
        print(f"{name}  [{origin}]")
        if comps:
            print(f"    provides: {', '.join(sorted(comps))}")
        others = [h for h in hooks if h not in FAMILIES.values()]
        if others:
            print(f"    hooks:    {', '.join(others)}")
    return 0


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except DeltaRuleError as exc:
        print(f"deltarule: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # pragma: no cover - the loop itself catches it
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

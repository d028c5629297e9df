"""``deltarule export MODEL.npz MODEL.onnx``: write a saved model as an ONNX graph.

The graph is :func:`deltarule.to_onnx`'s (docs/export.md).  ``--plugin``
supplies the plugins a model's custom activations come from.  The output is
checked before anything is built (its folder exists; it is not a folder, nor
the model file itself) and written atomically.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError


def add_parser(sub) -> argparse.ArgumentParser:
    """Add the ``export`` sub-command to the ``deltarule`` subparsers ``sub``."""
    ex = sub.add_parser(
        "export", help="write a saved model as an ONNX graph (needs deltarule[onnx])",
        description="Read MODEL (written by train --save) and write it to OUT as an ONNX "
                    "graph: MatMul + Add per layer and each layer's activation, in the "
                    "model's dtype, with the model's input scaler and class labels. "
                    "See docs/export.md.",
    )
    ex.add_argument("model", help="a model file written by 'deltarule train --save'")
    ex.add_argument("out", metavar="OUT.onnx", help="the ONNX file to write")
    ex.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR",
                    help="plugins providing the model's custom activations (repeatable)")
    ex.set_defaults(func=cmd_export)
    return ex


def _check_output(out: str, model: str) -> None:
    path = Path(out)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"OUT {out}: the folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise ConfigError(f"OUT {out} is a folder; give a file name such as model.onnx")
    if path.exists() and Path(model).exists() and path.samefile(model):
        raise ConfigError(f"OUT {out} is the model file itself; writing it would replace "
                          "the model: give another name such as model.onnx")


def cmd_export(args) -> int:
    from ..export import IR_VERSION, OPSET, describe, require_onnx, to_onnx
    from ..io.model import load

    require_onnx()
    _check_output(args.out, args.model)
    net = load(args.model, plugins=args.plugin)
    proto = to_onnx(net, args.out, plugins=args.plugin)
    print(f"wrote {args.out}: ONNX opset {OPSET}, IR version {IR_VERSION}, "
          f"{net.dtype.name}, layers {'-'.join(map(str, net.layers))} "
          f"({', '.join(a.name for a in net.activations)})")
    print(describe(proto))
    return 0

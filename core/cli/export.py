"""``deltarule export MODEL.npz MODEL.onnx``: write a saved model as an ONNX graph.

The graph is :func:`deltarule.to_onnx`'s (docs/export.md).  ``--plugin``
supplies the plugins a model's custom activations come from.  The output is
checked before anything is built (:mod:`deltarule.cli.outputs`: its folder
exists and is writable; it is no folder, device or the model file itself)
and written atomically.
"""

from __future__ import annotations

import argparse

from .outputs import check


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


def cmd_export(args) -> int:
    from ..export import IR_VERSION, OPSET, describe, require_onnx, to_onnx
    from ..io.model import load

    require_onnx()
    check(args.out, "OUT", inputs=[args.model])
    net = load(args.model, plugins=args.plugin)
    proto = to_onnx(net, args.out, plugins=args.plugin)
    print(f"wrote {args.out}: ONNX opset {OPSET}, IR version {IR_VERSION}, "
          f"{net.dtype.name}, layers {'-'.join(map(str, net.layers))} "
          f"({', '.join(a.name for a in net.activations)})")
    print(describe(proto))
    return 0

"""The ONNX export law, registered from :mod:`deltarule.specs.onnx_law` (#14)."""

from __future__ import annotations

from deltarule.specs import onnx_law
from deltarule.specs.protocol import domain, kinks
from deltarule.specs.registry import law
from deltarule.specs.search import Violation


@law("activation.onnx-export", applies=onnx_law.applies)
def onnx_export(act, ctx):
    """(Activations declaring lower_onnx) the exported one-layer graph run by
    onnxruntime equals forward(z) within 1e-12·(1 + |f|) in float64 and
    1e-6·(1 + |f|) in float32, on a grid over the declared domain (with 0 and the
    kinks) and hypothesis-drawn matrices; skipped without onnx / onnxruntime.
    """
    failure = onnx_law.check_onnx_export(act, ctx.hsettings, domain=domain(act),
                                         kinks=tuple(kinks(act)))
    if failure:
        raise Violation(failure)

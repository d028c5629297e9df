"""The laws, one module per family; importing this package registers them all.

Each law is one decorated function (:func:`deltarule.specs.registry.law`):
its docstring states the law and its tolerance, its body checks it.  Run order
is this import order within each family.
"""

from deltarule.specs.laws import (  # noqa: F401  (imported to register the laws)
    activation,
    onnx,
    loss,
    optimizer,
    initializer,
    stop,
    model_axis,
    network,
    delta_rule,
    loop,
    machine,
    many,
    xor,
)

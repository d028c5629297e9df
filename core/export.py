"""ONNX export: a trained network as a graph that any ONNX runtime can run.

``to_onnx(model, path=None, *, plugins=(), lowerings=None) -> onnx.ModelProto``
takes a :class:`~deltarule.Network`, a :class:`~deltarule.TrainResult` or
the path of a model file.  For layers ``n_0, …, n_L`` in the network's dtype
``T`` (float32 or float64) the graph is::

    input "input"                  T[batch, n_0]
    x   = (input − offset) / scale                 Sub, Div   (model with a scaler)
    z_l = a_{l−1} W_l + b_l                        MatMul, Add   (l = 1 … L, a_0 = x)
    a_l = f_l(z_l)                                 the activation's lowering
    output "output"                T[batch, n_L]   (a model without classes)
        or "probabilities"         T[batch, n_L]   (a classifier: the model has classes)
    output "label"                 C[batch]        (classifiers; C = string or the
                                                    classes' numeric type)

``label = classes[argmax_k ŷ_k]`` for ``n_L ≥ 2`` (ArgMax, Gather) and
``classes[int(ŷ_1 > 0.5)]`` for one output unit (Greater, Cast, Reshape,
Gather), as :meth:`Network.predict_labels` computes them.  The graph uses
opset :data:`OPSET` of the default domain and IR version :data:`IR_VERSION`,
and passes ``onnx.checker.check_model(full_check=True)`` before it is
returned.

An activation is lowered by its own optional member ``lower_onnx(g, z) ->
str``: ``g`` is a :class:`GraphBuilder`, ``z`` the name of the
``T[batch, n_l]`` value holding ``z_l``; it adds nodes with ``g.op`` and
returns the name of the value holding ``f(z_l)``.  ``lowerings={"name": fn}``
supplies or overrides one, ``fn(activation, g, z) -> str``.  See
docs/export.md.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from .errors import DeltaRuleError, ExportError, MissingDependencyError, PluginError
from .faults import component_suspect, describe_exception
from .network import Network
from .protocols import capabilities

OPSET = 17
"""The version of the default ONNX operator set the graph imports."""
IR_VERSION = 8
"""The ONNX IR version of the model (the one that goes with opset 17)."""

INPUT = "input"
OUTPUT = "output"
PROBABILITIES = "probabilities"
LABEL = "label"
BATCH = "batch"  # the symbolic name of the dynamic first dimension

LOWERING = "lower_onnx"  # the optional member of the activation protocol


def require_onnx():
    """The ``onnx`` module, or :class:`MissingDependencyError` naming the extra."""
    try:
        import onnx
        from onnx import numpy_helper  # noqa: F401  (checked here, used below)
    except ImportError as exc:
        raise MissingDependencyError(
            f"ONNX export needs the onnx package, which is not installed ({exc}); "
            "pip install 'deltarule[onnx]'"
        ) from exc
    return onnx


def require_onnxruntime():
    """The ``onnxruntime`` module, or :class:`MissingDependencyError` naming the extra."""
    try:
        import onnxruntime
    except ImportError as exc:
        raise MissingDependencyError(
            f"running ONNX graphs needs onnxruntime, which is not installed ({exc}); "
            "pip install 'deltarule[onnx]'"
        ) from exc
    return onnxruntime


class GraphBuilder:
    """The graph under construction, as an activation's lowering sees it.

    ``dtype``
        the NumPy dtype of the graph's floating values (``float32`` or
        ``float64``): every ``z`` a lowering receives has it, and the value
        it returns must have it too.
    ``op(op_type, *inputs, **attributes) -> str``
        adds one node of the default ONNX domain (e.g. ``"Mul"``, ``"Exp"``,
        ``"Softmax"`` with ``axis=-1``) reading the named ``inputs`` and returns
        the name of its (single) output.
    ``const(value, dtype=None) -> str``
        a constant (a scalar or an array) of ``dtype``, by default
        ``g.dtype``; scalars broadcast against ``(batch, n)`` values.

    Names are made unique per layer, so a lowering never chooses one.
    Lowerings use only these three members, so a plugin needs no ``import
    onnx`` of its own.
    """

    def __init__(self, dtype):
        self._onnx = require_onnx()
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise ExportError(f"the graph's dtype must be float32 or float64, got {self.dtype}")
        self._nodes: list = []
        self._initializers: list = []
        self._constants: dict[tuple, str] = {}
        self._used: set[str] = set()
        self._scope = "graph"

    def _fresh(self, stem: str) -> str:
        k = 0
        name = f"{self._scope}/{stem}"
        while name in self._used:
            k += 1
            name = f"{self._scope}/{stem}_{k}"
        self._used.add(name)
        return name

    def op(self, op_type: str, *inputs: str, **attributes: Any) -> str:
        """Add a node ``op_type(*inputs)`` with ``attributes``; the name of its output."""
        if not isinstance(op_type, str) or not op_type:
            raise ExportError(f"g.op needs an ONNX operator name such as 'Mul', got "
                              f"{op_type!r}")
        for value in inputs:
            if not isinstance(value, str):
                raise ExportError(
                    f"g.op({op_type!r}, ...): inputs are value names (str) such as the z "
                    f"you were given or what g.op / g.const returned, got {value!r}")
        name = self._fresh(op_type)
        self._nodes.append(self._onnx.helper.make_node(op_type, list(inputs), [name],
                                                       name=name, **attributes))
        return name

    def const(self, value, dtype=None) -> str:
        """A constant tensor of ``dtype`` (default ``g.dtype``); the name of its value."""
        from onnx import numpy_helper

        array = np.asarray(value, dtype=self.dtype if dtype is None else dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._constants:
            name = self._fresh("const")
            self._initializers.append(numpy_helper.from_array(array, name))
            self._constants[key] = name
        return self._constants[key]

    def _initializer(self, name: str, array: np.ndarray) -> str:
        """A named parameter tensor (``W1``, ``b1``, …); the library's own use."""
        from onnx import numpy_helper

        self._used.add(name)
        self._initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def _producer(self, value: str):
        """The node whose output ``value`` is, or None."""
        for node in self._nodes:
            if value in node.output:
                return node
        return None

    def _rename(self, old: str, new: str) -> None:
        """Call the value ``old`` ``new`` everywhere (an output name the user sees)."""
        node = self._producer(old)
        if node is None:  # an input or a constant: give the output its own node
            self._nodes.append(self._onnx.helper.make_node("Identity", [old], [new],
                                                           name=f"{new}/Identity"))
            return
        for n in self._nodes:
            n.output[:] = [new if v == old else v for v in n.output]
            n.input[:] = [new if v == old else v for v in n.input]
        self._used.add(new)


def lowering_of(activation, lowerings: Mapping[str, Callable] | None = None):
    """``fn(g, z) -> str`` lowering ``activation``, or None if it has none.

    ``lowerings[activation.name]`` (called as ``fn(activation, g, z)``) wins over
    the activation's own ``lower_onnx``.
    """
    name = getattr(activation, "name", None)
    if lowerings and name in lowerings:
        fn = lowerings[name]
        return lambda g, z: fn(activation, g, z)
    return getattr(activation, LOWERING) if capabilities(activation).lower_onnx else None


def provenance(activation, plugins=()) -> str:
    """``plugin 'p' (origin)`` for a registered component, else its class."""
    from .registry import make_registry

    try:
        catalogue = make_registry(plugins).catalogue()
    except DeltaRuleError:  # a broken plugin elsewhere must not hide this error
        catalogue = None
    suspect = component_suspect(catalogue, "activations", activation)
    if suspect.plugin is not None:
        return suspect.who()
    cls = type(activation)
    return f"given in code, no registered plugin: class {cls.__module__}.{cls.__qualname__}"


def as_network(model, plugins=()) -> Network:
    """The :class:`Network` of a Network, a TrainResult (``.network``) or a model file."""
    if isinstance(model, Network):
        return model
    net = getattr(model, "network", None)
    if isinstance(net, Network):
        return net
    if isinstance(model, (str, os.PathLike)):
        from .io.model import load

        return load(model, plugins=plugins)
    raise ExportError(
        f"to_onnx needs a deltarule Network, a TrainResult or the path of a model file, "
        f"got {type(model).__name__}"
    )


def _label_tensor_type(onnx, classes: np.ndarray):
    """``(array for the graph, ONNX element type)`` of the class labels."""
    if classes.dtype.kind in "US" or (classes.dtype.kind == "O"
                                       and all(isinstance(c, str) for c in classes)):
        return np.array([str(c) for c in classes], dtype=object), onnx.TensorProto.STRING
    if classes.dtype.kind in "biuf":
        return classes, onnx.helper.np_dtype_to_tensor_dtype(classes.dtype)
    raise ExportError(
        f"the model's classes {classes.tolist()!r} are neither all strings nor numbers; "
        "ONNX labels need one type"
    )


def _check_classes(classes, n_out: int) -> np.ndarray:
    classes = np.asarray(classes)
    if classes.ndim != 1:
        raise ExportError(f"the model's classes must be a 1-D list, got shape {classes.shape}")
    expected = 2 if n_out == 1 else n_out
    if len(classes) != expected:
        rule = "one output unit: 2 classes" if n_out == 1 else "one class per output unit"
        raise ExportError(
            f"the model has {n_out} output unit(s) and {len(classes)} classes; a "
            f"classifier needs {expected} ({rule})"
        )
    return classes


def _metadata(net: Network, classes) -> dict:
    from .version import __version__

    meta = {
        "deltarule_version": __version__,
        "layers": list(net.layers),
        "activations": [
            {"name": a.name, "options": a.options()} if callable(getattr(a, "options", None))
            else {"name": a.name}
            for a in net.activations
        ],
        "dtype": net.dtype.name,
    }
    scaler = getattr(net, "scaler", None)
    if scaler is not None:
        meta["scaler"] = {"kind": getattr(scaler, "kind", None)}
    if classes is not None:
        meta["classes"] = classes.tolist()
    for key in ("feature_names", "target_names"):
        names = getattr(net, key, None)
        if names is not None:
            meta[key] = list(names)
    return meta


def to_onnx(model, path=None, *, plugins=(), lowerings: Mapping[str, Callable] | None = None,
            ) -> "onnx.ModelProto":  # noqa: F821
    """The ONNX model of ``model``; written to ``path`` (atomically) if one is given.

    ``model``: a :class:`Network`, a :class:`TrainResult`, or a model file's
    path (loaded with ``plugins``, which supply custom activations).
    ``lowerings``: ``{activation name: fn(activation, g, z) -> str}`` for
    activations without their own ``lower_onnx`` (or to replace it).

    The graph reads ``input: T[batch, n_0]`` and gives ``output`` (or, for
    a model with classes, ``probabilities`` and ``label``); see the module
    docstring and docs/export.md.  Raises :class:`ExportError` when an
    activation has no lowering (naming it and its plugin) or its lowering
    gives an invalid graph, :class:`PluginError` when a lowering raises, and
    :class:`MissingDependencyError` without the ``onnx`` package.
    """
    onnx = require_onnx()
    net = as_network(model, plugins)
    helper = onnx.helper
    g = GraphBuilder(net.dtype)
    elem = helper.np_dtype_to_tensor_dtype(net.dtype)

    missing = [(l, a) for l, a in enumerate(net.activations, 1)
               if lowering_of(a, lowerings) is None]
    if missing:
        act = missing[0][1]
        where = [str(l) for l, a in missing if a.name == act.name]
        layers = f"layer{'s' if len(where) > 1 else ''} {', '.join(where)}"
        raise ExportError(
            f"activation {act.name!r} ({layers}; {provenance(act, plugins)}) has no "
            f"ONNX lowering, so the model cannot be exported: give the activation a "
            f"lower_onnx(g, z) method (docs/export.md) or pass "
            f"lowerings={{{act.name!r}: fn}} to deltarule.to_onnx"
        )

    value = INPUT
    scaler = getattr(net, "scaler", None)
    if scaler is not None:
        g._scope = "scaler"
        offset = np.asarray(scaler.offset, dtype=net.dtype).reshape(-1)
        scale = np.asarray(scaler.scale, dtype=net.dtype).reshape(-1)
        if offset.shape != (net.layers[0],) or scale.shape != (net.layers[0],):
            raise ExportError(
                f"the model's scaler has {offset.size} offsets and {scale.size} scales "
                f"for {net.layers[0]} inputs; it needs one of each per input")
        value = g.op("Sub", value, g._initializer("scaler_offset", offset))
        value = g.op("Div", value, g._initializer("scaler_scale", scale))

    for l, (W, b, act) in enumerate(zip(net.weights, net.biases, net.activations), 1):
        g._scope = f"layer{l}"
        z = g.op("Add", g.op("MatMul", value, g._initializer(f"W{l}", W)),
                 g._initializer(f"b{l}", b))
        g._scope = f"layer{l}/{act.name}"
        before = len(g._nodes)
        try:
            value = lowering_of(act, lowerings)(g, z)
        except DeltaRuleError:
            raise
        except Exception as exc:
            raise PluginError(
                f"activation {act.name!r} (layer {l}; {provenance(act, plugins)}) failed "
                f"in lower_onnx: {describe_exception(exc)}"
            ) from exc
        produced = {v for node in g._nodes[before:] for v in node.output}
        if not isinstance(value, str) or (value != z and value not in produced):
            raise ExportError(
                f"activation {act.name!r} (layer {l}; {provenance(act, plugins)}): "
                f"lower_onnx returned {value!r}, which is not a value it made; return "
                "the name that g.op(...) gave for f(z) (or z itself)"
            )

    classes = getattr(net, "classes", None)
    if classes is not None:
        classes = _check_classes(classes, net.layers[-1])
    outputs_name = PROBABILITIES if classes is not None else OUTPUT
    g._scope = "output"
    g._rename(value, outputs_name)
    outputs = [helper.make_tensor_value_info(outputs_name, elem, [BATCH, net.layers[-1]])]

    if classes is not None:
        g._scope = "label"
        labels, label_type = _label_tensor_type(onnx, classes)
        if net.layers[-1] == 1:
            # one unit: classes[int(ŷ[:, 0] > 0.5)]
            above = g.op("Greater", outputs_name, g.const(0.5))
            index = g.op("Cast", above, to=onnx.TensorProto.INT64)
            index = g.op("Reshape", index, g.const([-1], np.int64))
        else:
            # ArgMax keeps the first of equal maxima, as numpy.argmax does
            index = g.op("ArgMax", outputs_name, axis=1, keepdims=0)
        from onnx import numpy_helper

        g._initializers.append(numpy_helper.from_array(labels, "classes"))
        g._nodes.append(helper.make_node("Gather", ["classes", index], [LABEL], axis=0,
                                        name="label/Gather"))
        outputs.append(helper.make_tensor_value_info(LABEL, label_type, [BATCH]))

    graph = helper.make_graph(
        g._nodes, "deltarule",
        [helper.make_tensor_value_info(INPUT, elem, [BATCH, net.layers[0]])],
        outputs, g._initializers,
        doc_string=f"deltarule MLP {'-'.join(map(str, net.layers))} "
                   f"({', '.join(a.name for a in net.activations)}), {net.dtype.name}",
    )
    from .version import __version__

    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="deltarule", producer_version=__version__)
    proto.ir_version = IR_VERSION
    helper.set_model_props(proto, {"deltarule": json.dumps(_metadata(net, classes))})
    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        names = ", ".join(repr(a.name) for a in net.activations)
        raise ExportError(
            f"the exported graph is not valid ONNX (activations {names}); a lowering "
            f"probably used an unknown operator or produced the wrong type: "
            f"{str(exc).strip().splitlines()[0]}"
        ) from exc
    if path is not None:
        write_model(proto, path)
    return proto


def write_model(proto, path) -> Path:
    """Write ``proto`` to ``path`` atomically (all of it, or nothing)."""
    from .io.files import atomic_write

    data = proto.SerializeToString()
    return atomic_write(path, lambda fh: fh.write(data))


def describe(proto) -> str:
    """One line per graph input and output: ``name  type[shape]``."""
    onnx = require_onnx()
    lines = []
    for kind, values in (("input", proto.graph.input), ("output", proto.graph.output)):
        for v in values:
            t = v.type.tensor_type
            dims = ", ".join(d.dim_param or str(d.dim_value) for d in t.shape.dim)
            type_name = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type)
            type_name = "string" if t.elem_type == onnx.TensorProto.STRING else type_name.name
            lines.append(f"{kind:6} {v.name}: {type_name}[{dims}]")
    return "\n".join(lines)


def session(proto):
    """An ``onnxruntime.InferenceSession`` (CPU) running ``proto``."""
    ort = require_onnxruntime()
    options = ort.SessionOptions()
    options.log_severity_level = 3  # no warnings on stderr from graph optimisations
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])

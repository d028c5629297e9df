"""Model files: an ``.npz`` of the parameters plus JSON metadata.

Layout: arrays ``W1, b1, W2, b2, …``, optionally ``__history__`` and
``__val_history__`` (the loss per epoch), and ``__deltarule__``, a UTF-8 JSON
document stored as a ``uint8`` array (so the file loads with
``allow_pickle=False``); :mod:`deltarule.io.schema` says what it may
hold.  Reading goes through the one safe ``.npz`` reader
(:mod:`deltarule.io.npz`) and checks the metadata before anything is
allocated; writing is atomic (:func:`deltarule.io.files.atomic_write`):
the target is the old file or the complete new one, never half of one.

Format version 2 (version 1 files still load) adds four optional fields,
written when the network has them (see :class:`deltarule.Network`)::

    "scaler":        {"kind": "standard" | "minmax",
                      "offset": [float, ...n_inputs], "scale": [float > 0, ...n_inputs]}
                     meaning x_scaled = (x - offset) / scale
    "classes":       [label, ...]   str or number, >= 2 distinct; one output unit:
                     classes[int(y_hat > 0.5)], k units: classes[argmax y_hat]
    "feature_names": [str, ...n_inputs]
    "target_names":  [str, ...]
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalogue import configure
from ..errors import (
    ConfigError,
    DataTypeError,
    DeltaRuleError,
    ModelFileError,
    UnknownComponentError,
)
from ..network import Network
from ..preprocessing import Scaler
from ..protocols import capabilities
from ..registry import make_registry
from ..validation import check_network_memory
from ..version import __version__
from .files import atomic_write
from .npz import BYTES, FLOATS, META_KEY, NpzArchive, dtype_code
from .schema import FORMAT, MAX_META_BYTES, ModelMeta, parse_metadata

FORMAT_VERSION = 2
HISTORY_KEY = "__history__"  # loss per epoch, when saved from a TrainResult
VAL_HISTORY_KEY = "__val_history__"


def _component_record(comp) -> dict:
    record = {"name": comp.name}
    if capabilities(comp).options:
        record["options"] = comp.options()
    return record


def save(model, path) -> Path:
    """Write ``model`` (a :class:`TrainResult` or :class:`Network`) to ``path``.

    ``.npz`` is added to a name without it; the write is atomic.  Returns the
    path written.
    """
    net: Network = getattr(model, "network", model)
    if not isinstance(net, Network):
        raise DataTypeError(
            f"save() needs a TrainResult or Network, got {type(model).__name__}")
    if path is None:
        raise ConfigError("save() needs the path of the model file to write, got None")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "deltarule_version": __version__,
        "layers": list(net.layers),
        "activations": [_component_record(a) for a in net.activations],
        "dtype": net.dtype.name,
    }
    components = getattr(model, "components", None) or {}
    if "loss" in components:
        meta["loss"] = components["loss"]
    if "optimizer" in components:
        meta["optimizer"] = components["optimizer"]
    meta.update(data_description(net))
    history = getattr(model, "history", None)
    if history is not None:
        meta["epochs"] = len(history)
        meta["final_loss"] = history[-1] if history else None
        meta["stop_reason"] = getattr(model, "stop_reason", None)
    arrays = {}
    for l, (W, b) in enumerate(zip(net.weights, net.biases), start=1):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    if history is not None:
        arrays[HISTORY_KEY] = np.asarray(history, dtype=np.float64)
        val_history = getattr(model, "val_history", None)
        if val_history:
            arrays[VAL_HISTORY_KEY] = np.asarray(val_history, dtype=np.float64)
    arrays[META_KEY] = np.frombuffer(json.dumps(meta, default=_json_default).encode(),
                                     dtype=np.uint8)
    path = model_path(path)
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))


def model_path(path) -> Path:
    """The file :func:`save` writes for ``path``: ``.npz`` is added if missing."""
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


def data_description(net: Network) -> dict:
    """The optional version-2 fields for ``net`` (JSON-ready), those that are set."""
    out = {}
    if net.scaler is not None:
        out["scaler"] = net.scaler.to_dict()
    if net.classes is not None:
        out["classes"] = np.asarray(net.classes).tolist()
    if net.feature_names is not None:
        out["feature_names"] = [str(n) for n in net.feature_names]
    if net.target_names is not None:
        out["target_names"] = [str(n) for n in net.target_names]
    return out


def apply_description(net: Network, meta: dict, where: str) -> None:
    """Set ``net``'s scaler, classes and names from a model file's metadata."""
    try:
        if meta.get("scaler") is not None:
            scaler = Scaler.from_dict(meta["scaler"])
            if scaler.n_features != net.layers[0]:
                raise ConfigError(
                    f"the scaler has {scaler.n_features} features but the network "
                    f"{net.layers[0]} inputs"
                )
            net.scaler = scaler
        if meta.get("classes") is not None:
            classes = meta["classes"]
            if not isinstance(classes, list) or len(set(map(repr, classes))) < 2 or any(
                    isinstance(c, (bool, list, dict)) or c is None for c in classes):
                raise ConfigError("classes must be a list of at least 2 distinct labels")
            n_out = net.layers[-1]
            if not (n_out == len(classes) or (n_out == 1 and len(classes) == 2)):
                raise ConfigError(
                    f"{len(classes)} classes do not fit {n_out} output unit(s)"
                )
            net.classes = np.asarray(classes)
        for key, n in (("feature_names", net.layers[0]), ("target_names", None)):
            names = meta.get(key)
            if names is None:
                continue
            if not isinstance(names, list) or not all(isinstance(x, str) for x in names) \
                    or (n is not None and len(names) != n):
                raise ConfigError(f"{key} must be a list of {n or 'some'} strings")
            setattr(net, key, tuple(names))
    except ConfigError as exc:
        raise ModelFileError(f"{where} has inconsistent metadata: {exc}") from None


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


MAX_HISTORY_BYTES = 1 << 30  # a loss history of 134 million epochs


@dataclass(frozen=True)
class ModelFile:
    """What a model file holds, checked: metadata, parameters, histories."""

    meta: ModelMeta
    params: list[tuple[np.ndarray, np.ndarray]]
    history: np.ndarray | None = None
    val_history: np.ndarray | None = None


def read_model(path, *, histories: bool = False) -> ModelFile:
    """Read and check a model file, refusing anything unsafe or inconsistent.

    Only the metadata and the members it implies are read (plus the loss
    histories with ``histories=True``); any other member is never
    decompressed.  Raises :class:`ModelFileError` naming what is wrong.
    """
    shown = repr(str(path))
    try:
        os.stat(path)
    except FileNotFoundError:
        raise ModelFileError(f"model file {shown} does not exist") from None
    except OSError:
        pass  # the reader says what it is (permission denied, …)
    with NpzArchive(path, ModelFileError, "a deltarule model") as npz:
        if META_KEY not in npz.arrays:
            raise ModelFileError(
                f"{shown} is an .npz file but not a deltarule model (no {META_KEY} "
                "metadata)"
            )
        raw = npz.read(META_KEY, dtypes=BYTES, limit=MAX_META_BYTES, what="uint8 (JSON "
                       "text)")
        if raw.ndim != 1:
            raise ModelFileError(f"{shown}: member {META_KEY!r} has shape {raw.shape}; "
                                 "expected one row of JSON bytes")
        meta = parse_metadata(raw.tobytes(), shown)
        check_network_memory(meta.layers, meta.dtype, ModelFileError,
                             f"{shown} describes a network that")
        code = dtype_code(meta.dtype)
        flat = []
        for name, shape in meta.parameter_shapes():
            arr = npz.read(name, dtypes={code}, shape=shape,
                           limit=math.prod(shape) * meta.dtype.itemsize,
                           what=f"{meta.dtype.name} (the metadata's dtype)")
            if not np.isfinite(arr).all():
                raise ModelFileError(f"{shown}: parameter {name} contains NaN or infinite "
                                     "values")
            flat.append(arr)
        history = val_history = None
        if histories:
            history, val_history = (
                npz.read(key, dtypes=FLOATS, limit=MAX_HISTORY_BYTES)
                if key in npz.arrays else None
                for key in (HISTORY_KEY, VAL_HISTORY_KEY))
            for key, h in ((HISTORY_KEY, history), (VAL_HISTORY_KEY, val_history)):
                if h is not None and h.ndim != 1:
                    raise ModelFileError(f"{shown}: member {key!r} has shape {h.shape}; "
                                         "expected one loss per epoch")
            if history is not None and meta.epochs is not None \
                    and len(history) != meta.epochs:
                raise ModelFileError(
                    f"{shown}: member {HISTORY_KEY!r} holds {len(history)} losses but "
                    f"metadata field 'epochs' says {meta.epochs}"
                )
    return ModelFile(meta, list(zip(flat[0::2], flat[1::2])), history, val_history)


def read_metadata(path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(metadata, arrays)`` of a model file: the checked JSON object, and the
    parameters and loss histories by member name."""
    model = read_model(path, histories=True)
    arrays = {}
    for l, (W, b) in enumerate(model.params, start=1):
        arrays[f"W{l}"], arrays[f"b{l}"] = W, b
    for key, h in ((HISTORY_KEY, model.history), (VAL_HISTORY_KEY, model.val_history)):
        if h is not None:
            arrays[key] = h
    return model.meta.raw, arrays


def load(path, *, plugins=(), entry_points=None) -> Network:
    """Read a model written by :func:`save`; ``plugins`` supply custom activations.

    Every problem with the file raises :class:`ModelFileError`; an activation
    no registered plugin provides raises :class:`UnknownComponentError`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ModelFileError(f"load() needs the path of a model file, got {path!r}")
    model = read_model(path)
    meta, shown = model.meta, repr(str(path))
    catalogue = make_registry(plugins, entry_points=entry_points).catalogue()
    acts = []
    for i, (name, options) in enumerate(meta.activations):
        try:
            comp = catalogue.get("activations", name)
        except UnknownComponentError as exc:
            raise UnknownComponentError(
                f"{shown} needs the activation {name!r}, which no registered plugin "
                f"provides ({exc}); load it with the plugin that provides it: "
                f"plugins=['module:attr'] in code, --plugin module:attr on the command "
                f"line, or install the plugin's package"
            ) from None
        if options:
            try:
                comp = configure(comp, options)
            except DeltaRuleError as exc:
                raise ModelFileError(
                    f"{shown}: metadata field 'activations[{i}].options' is not accepted "
                    f"by activation {name!r}: {exc}"
                ) from exc
        acts.append(comp)
    net = Network(meta.layers, acts, model.params, meta.dtype)
    apply_description(net, meta.raw, shown)  # checked by the schema already
    return net

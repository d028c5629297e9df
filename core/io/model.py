"""Model files: an ``.npz`` of the parameters plus JSON metadata.

Layout: arrays ``W1, b1, W2, b2, …``, optionally ``__history__`` and
``__val_history__`` (the loss per epoch), and ``__deltarule__``, a UTF-8 JSON
document stored as a ``uint8`` array (so the file loads with
``allow_pickle=False``); :mod:`deltarule.io.schema` says what it may
hold.  Reading goes through the one safe ``.npz`` reader
(:mod:`deltarule.io.npz`) and checks the metadata before anything is
allocated; writing is atomic (:func:`deltarule.io.files.atomic_write`):
the target is the old file or the complete new one, never half of one.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..catalogue import configure
from ..errors import DataTypeError, DeltaRuleError, ModelFileError
from ..network import Network
from ..protocols import capabilities
from ..registry import make_registry
from ..validation import check_network_memory
from ..version import __version__
from .files import atomic_write
from .npz import BYTES, FLOATS, META_KEY, NpzArchive, dtype_code
from .schema import FORMAT, MAX_META_BYTES, ModelMeta, parse_metadata

FORMAT_VERSION = 1
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
        comp = catalogue.get("activations", name)
        if options:
            try:
                comp = configure(comp, options)
            except DeltaRuleError as exc:
                raise ModelFileError(
                    f"{shown}: metadata field 'activations[{i}].options' is not accepted "
                    f"by activation {name!r}: {exc}"
                ) from exc
        acts.append(comp)
    return Network(meta.layers, acts, model.params, meta.dtype)

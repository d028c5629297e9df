"""Model files: an ``.npz`` of the parameters plus JSON metadata.

Layout: arrays ``W1, b1, W2, b2, …``, optionally ``__history__`` and
``__val_history__`` (the loss per epoch), and ``__deltarule__``, a UTF-8 JSON
document stored as a ``uint8`` array (so the file loads with
``allow_pickle=False``).  Writing goes to a temporary file in the target's
folder, then ``os.replace``: a crash never leaves half a model behind.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import numpy as np

from ..catalogue import configure
from ..errors import ModelFileError
from ..network import Network
from ..protocols import capabilities
from ..registry import make_registry
from ..version import __version__
from .npz import META_KEY, load_npz_arrays

FORMAT = "deltarule-model"
FORMAT_VERSION = 1
HISTORY_KEY = "__history__"  # loss per epoch, when saved from a TrainResult
VAL_HISTORY_KEY = "__val_history__"


def _component_record(comp) -> dict:
    record = {"name": comp.name}
    if capabilities(comp).options:
        record["options"] = comp.options()
    return record


def save(model, path) -> Path:
    """Write ``model`` (a :class:`TrainResult` or :class:`Network`) to ``path``."""
    net: Network = getattr(model, "network", model)
    if not isinstance(net, Network):
        raise TypeError(f"save() needs a TrainResult or Network, got {type(model).__name__}")
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
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    folder = path.parent if str(path.parent) else Path(".")
    tmp = folder / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # os.open with 0o666 lets the umask decide the mode, as for any new file
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def read_metadata(path) -> tuple[dict, dict[str, np.ndarray]]:
    """``(metadata, arrays)`` of a model file, refusing anything unsafe."""
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model file {str(path)!r} does not exist")
    arrays = load_npz_arrays(path, ModelFileError, "a deltarule model")
    raw = arrays.pop(META_KEY, None)
    if raw is None or raw.dtype != np.uint8:
        raise ModelFileError(
            f"{str(path)!r} is an .npz file but not a deltarule model "
            f"(no {META_KEY} metadata)"
        )
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{str(path)!r} has damaged metadata: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{str(path)!r} is not a deltarule model (wrong format tag)")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(
            f"{str(path)!r} uses model format {meta['format_version']}; this deltarule "
            f"reads up to {FORMAT_VERSION}: upgrade deltarule"
        )
    return meta, arrays


def load(path, *, plugins=(), entry_points=None) -> Network:
    """Read a model written by :func:`save`; ``plugins`` supply custom activations."""
    meta, arrays = read_metadata(path)
    try:
        layers = [int(n) for n in meta["layers"]]
        records = meta["activations"]
        dtype = np.dtype(meta.get("dtype", "float64"))
        params = [(arrays[f"W{l}"], arrays[f"b{l}"]) for l in range(1, len(layers))]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{str(path)!r} is incomplete: missing {exc}") from None
    catalogue = make_registry(plugins, entry_points=entry_points).catalogue()
    acts = []
    for rec in records:
        comp = catalogue.get("activations", rec["name"])
        if rec.get("options"):
            comp = configure(comp, rec["options"])
        acts.append(comp)
    try:
        return Network(layers, acts, params, dtype)
    except ValueError as exc:
        raise ModelFileError(f"{str(path)!r} is inconsistent: {exc}") from None

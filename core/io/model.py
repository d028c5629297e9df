"""Model files: an ``.npz`` of the parameters plus JSON metadata.

Layout: arrays ``W1, b1, W2, b2, …``, optionally ``__history__`` and
``__val_history__`` (the loss per epoch), and ``__deltarule__``, a UTF-8 JSON
document stored as a ``uint8`` array (so the file loads with
``allow_pickle=False``).

Format version 2 (version 1 files still load) adds four optional fields,
written when the network has them (see :class:`deltarule.Network`)::

    "scaler":        {"kind": "standard" | "minmax",
                      "offset": [float, ...n_inputs], "scale": [float > 0, ...n_inputs]}
                     meaning x_scaled = (x - offset) / scale
    "classes":       [label, ...]   str or number, >= 2 distinct; one output unit:
                     classes[int(y_hat > 0.5)], k units: classes[argmax y_hat]
    "feature_names": [str, ...n_inputs]
    "target_names":  [str, ...]  Writing goes to a temporary file in the target's
folder, then ``os.replace``: a crash never leaves half a model behind.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import numpy as np

from ..catalogue import configure
from ..errors import ConfigError, ModelFileError, UnknownComponentError
from ..network import Network
from ..preprocessing import Scaler
from ..protocols import capabilities
from ..registry import make_registry
from ..version import __version__
from .npz import META_KEY, load_npz_arrays

FORMAT = "deltarule-model"
FORMAT_VERSION = 2
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
        raise ConfigError(
            f"save() needs a TrainResult or a Network, got {type(model).__name__}"
        )
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
    if path is None:
        raise ModelFileError("load() needs the path of a model file (.npz), got None")
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
        try:
            comp = catalogue.get("activations", rec["name"])
        except UnknownComponentError as exc:
            raise UnknownComponentError(
                f"{str(path)!r} needs the activation {rec['name']!r}, which no registered "
                f"plugin provides ({exc}); load it with the plugin that provides it: "
                f"plugins=['module:attr'] in code, --plugin module:attr on the command "
                f"line, or install the plugin's package"
            ) from None
        if rec.get("options"):
            comp = configure(comp, rec["options"])
        acts.append(comp)
    try:
        net = Network(layers, acts, params, dtype)
    except ValueError as exc:
        raise ModelFileError(f"{str(path)!r} is inconsistent: {exc}") from None
    apply_description(net, meta, repr(str(path)))
    return net

"""The schema of a model file's metadata, checked before anything is allocated.

A model file's ``__deltarule__`` member is a UTF-8 JSON object (see
:mod:`deltarule.io.model`).  :func:`parse_metadata` reads it within
:data:`MAX_META_BYTES` and :data:`MAX_JSON_DEPTH`, then checks every field
it knows — type, range, and agreement with the other fields — and returns a
:class:`ModelMeta`.  A field that is wrong raises :class:`ModelFileError`
naming the field, what it holds and what it should hold.  Fields it does not
know are ignored (a newer deltarule may add some).

=================  ========  ==================================================
field              required  value
=================  ========  ==================================================
format             yes       ``"deltarule-model"``
format_version     yes       an integer in :data:`READ_VERSIONS`
deltarule_version  no        a string
layers             yes       ≥ 2 positive integers; the network they make has at
                             most :data:`MAX_PARAMETERS` parameters
activations        yes       one ``{"name": str, "options": {…}}`` per weight
                             layer (``options`` may be left out)
dtype              no        ``"float32"`` or ``"float64"`` (the default)
loss, optimizer    no        a string (the component's name) or null
epochs             no        an integer ≥ 0 or null
final_loss         no        a number (NaN and ±Infinity allowed) or null
stop_reason        no        a non-empty string or null
scaler             no        null or ``{"kind": "standard" | "minmax",
                             "offset": [n_inputs finite numbers],
                             "scale": [n_inputs finite numbers > 0]}``
classes            no        null or distinct labels (strings or finite
                             numbers): 2 for one output unit, else one per unit
feature_names      no        null or ``n_inputs`` strings
target_names       no        null or 1 … ``n_outputs`` strings
=================  ========  ==================================================
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ModelFileError
from ..validation import MAX_PARAMETERS, n_parameters

FORMAT = "deltarule-model"
READ_VERSIONS = (1, 2)  # 2 adds scaler, classes, feature_names, target_names
MAX_META_BYTES = 1 << 20  # 1 MiB of JSON; deltarule writes a few hundred bytes
MAX_JSON_DEPTH = 32  # deltarule writes depth 4 (options may nest a little)
DTYPES = ("float32", "float64")

_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"')


@dataclass(frozen=True)
class ModelMeta:
    """A model file's checked metadata (``raw``: the JSON object as read)."""

    raw: dict
    format_version: int
    layers: tuple[int, ...]
    activations: tuple[tuple[str, dict], ...]
    dtype: np.dtype
    epochs: int | None = None
    scaler: dict | None = None
    classes: list | None = None
    feature_names: list | None = None
    target_names: list | None = None
    extra: dict = field(default_factory=dict)

    @property
    def n_parameters(self) -> int:
        return n_parameters(self.layers)

    def parameter_shapes(self) -> list[tuple[str, tuple[int, ...]]]:
        """``[("W1", (n0, n1)), ("b1", (n1,)), …]``: the members the layers imply."""
        out = []
        for l, (n_in, n_out) in enumerate(zip(self.layers[:-1], self.layers[1:]), start=1):
            out += [(f"W{l}", (n_in, n_out)), (f"b{l}", (n_out,))]
        return out


def _show(value: Any, width: int = 60) -> str:
    text = json.dumps(value, default=repr) if not isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


class _Checker:
    def __init__(self, meta: dict, source: str):
        self.meta, self.source = meta, source

    def fail(self, key: str, expected: str, value: Any = None, *, got: bool = True):
        shown = f", got {_show(value)}" if got else ""
        raise ModelFileError(
            f"{self.source}: metadata field {key!r} must be {expected}{shown}"
        )

    def get(self, key: str, *, required: bool):
        if key not in self.meta:
            if required:
                raise ModelFileError(
                    f"{self.source}: metadata field {key!r} is missing; the file is not a "
                    "complete deltarule model"
                )
            return None
        return self.meta[key]


def _is_int(v) -> bool:
    return type(v) is int


def _is_number(v) -> bool:
    return type(v) in (int, float)


def json_depth(text: str) -> int:
    """Deepest nesting of ``[`` and ``{`` in JSON ``text`` (strings skipped)."""
    skeleton = np.frombuffer(_STRING.sub('""', text).encode("utf-8", "replace"),
                             dtype=np.uint8)
    step = (np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64)
            - np.isin(skeleton, (ord("]"), ord("}"))))
    return int(np.cumsum(step).max(initial=0))


def parse_metadata(raw: bytes, source: str) -> ModelMeta:
    """Decode and check a model file's metadata (see the module docstring).

    ``source`` names the file in errors.  Raises :class:`ModelFileError`.
    """
    if len(raw) > MAX_META_BYTES:
        raise ModelFileError(
            f"{source}: its metadata is too large ({len(raw)} bytes, limit "
            f"{MAX_META_BYTES})"
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{source} has damaged metadata: not UTF-8 ({exc.reason} "
                             f"at byte {exc.start})") from None
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ModelFileError(
            f"{source} has damaged metadata: JSON nested {depth} deep (limit "
            f"{MAX_JSON_DEPTH})"
        )
    try:
        meta = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{source} has damaged metadata: {exc}") from None
    return check_metadata(meta, source)


def check_metadata(meta: Any, source: str) -> ModelMeta:
    """Check a decoded metadata object field by field; a :class:`ModelMeta`."""
    if not isinstance(meta, dict):
        raise ModelFileError(
            f"{source} is not a deltarule model: its metadata is {type(meta).__name__}, "
            "not a JSON object"
        )
    c = _Checker(meta, source)
    if meta.get("format") != FORMAT:
        raise ModelFileError(
            f"{source} is not a deltarule model (its format tag is "
            f"{_show(meta.get('format'))}, not {FORMAT!r})"
        )
    version = c.get("format_version", required=True)
    if not _is_int(version) or version < 1:
        c.fail("format_version", "a positive integer", version)
    if version > max(READ_VERSIONS):
        raise ModelFileError(
            f"{source} uses model format {version}; this deltarule reads formats "
            f"{min(READ_VERSIONS)} to {max(READ_VERSIONS)}: upgrade deltarule"
        )
    dv = c.get("deltarule_version", required=False)
    if dv is not None and not isinstance(dv, str):
        c.fail("deltarule_version", "a string", dv)

    layers = c.get("layers", required=True)
    if not isinstance(layers, list) or len(layers) < 2 or not all(
            _is_int(n) and n >= 1 for n in layers):
        c.fail("layers", "a list of at least 2 positive integers (layer widths, inputs "
                         "first)", layers)
    count = n_parameters(layers)
    if count > MAX_PARAMETERS:
        raise ModelFileError(
            f"{source}: metadata field 'layers' describes a network of {count} "
            f"parameters ({'-'.join(map(str, layers))}); deltarule reads models of at "
            f"most {MAX_PARAMETERS}"
        )
    n_weight_layers = len(layers) - 1

    acts = c.get("activations", required=True)
    expected = (f"a list of {n_weight_layers} {{\"name\": str, \"options\": {{...}}}} "
                "objects, one per weight layer")
    if not isinstance(acts, list) or len(acts) != n_weight_layers:
        c.fail("activations", expected, acts)
    records = []
    for i, rec in enumerate(acts):
        key = f"activations[{i}]"
        if not isinstance(rec, dict):
            c.fail(key, '{"name": str, "options": {...}}', rec)
        name = rec.get("name")
        if not isinstance(name, str) or not name:
            c.fail(f"{key}.name", "a non-empty string (an activation's name)", name)
        options = rec.get("options", {})
        if options is None:
            options = {}
        if not isinstance(options, dict):
            c.fail(f"{key}.options", "an object of option values", options)
        records.append((name, options))

    dtype = c.get("dtype", required=False)
    if dtype is None:
        dtype = "float64"
    if dtype not in DTYPES:
        c.fail("dtype", "'float32' or 'float64'", dtype)

    for key in ("loss", "optimizer"):
        v = c.get(key, required=False)
        if v is not None and (not isinstance(v, str) or not v):
            c.fail(key, "a component name (a non-empty string) or null", v)
    epochs = c.get("epochs", required=False)
    if epochs is not None and not (_is_int(epochs) and epochs >= 0):
        c.fail("epochs", "an integer ≥ 0 or null", epochs)
    fl = c.get("final_loss", required=False)
    if fl is not None and not _is_number(fl):
        c.fail("final_loss", "a number or null", fl)
    sr = c.get("stop_reason", required=False)
    if sr is not None and (not isinstance(sr, str) or not sr):
        c.fail("stop_reason", "a non-empty string or null", sr)

    n_in, n_out = layers[0], layers[-1]
    scaler = _check_scaler(c, n_in)
    classes = _check_classes(c, n_out)
    features = _check_names(c, "feature_names", n_in, n_in)
    targets = _check_names(c, "target_names", 1, n_out)
    return ModelMeta(
        raw=meta, format_version=version, layers=tuple(layers),
        activations=tuple(records), dtype=np.dtype(dtype), epochs=epochs,
        scaler=scaler, classes=classes, feature_names=features, target_names=targets,
    )


def _finite_numbers(values, n: int) -> bool:
    return isinstance(values, list) and len(values) == n and all(
        _is_number(v) and math.isfinite(v) for v in values)


def _check_scaler(c: _Checker, n_in: int) -> dict | None:
    scaler = c.get("scaler", required=False)
    if scaler is None:
        return None
    if not isinstance(scaler, dict):
        c.fail("scaler", 'null or {"kind": ..., "offset": [...], "scale": [...]}', scaler)
    kind = scaler.get("kind")
    if kind not in ("standard", "minmax"):
        c.fail("scaler.kind", "'standard' or 'minmax'", kind)
    offset, scale = scaler.get("offset"), scaler.get("scale")
    if not _finite_numbers(offset, n_in):
        c.fail("scaler.offset", f"a list of {n_in} finite numbers (one per input)", offset)
    if not _finite_numbers(scale, n_in) or not all(s > 0 for s in scale):
        c.fail("scaler.scale", f"a list of {n_in} finite numbers > 0 (one per input)", scale)
    return scaler


def _check_classes(c: _Checker, n_out: int) -> list | None:
    classes = c.get("classes", required=False)
    if classes is None:
        return None
    need = 2 if n_out == 1 else n_out
    why = ("2 labels (one output unit: ŷ > 0.5 picks the second)" if n_out == 1
           else f"{n_out} labels, one per output unit")
    if not isinstance(classes, list) or len(classes) != need:
        c.fail("classes", f"a list of {why}", classes)
    for i, label in enumerate(classes):
        if not (isinstance(label, str) or (_is_number(label) and math.isfinite(label))):
            c.fail(f"classes[{i}]", "a string or a finite number", label)
    if len({(isinstance(v, str), v) for v in classes}) != len(classes):
        c.fail("classes", "distinct labels", classes)
    return classes


def _check_names(c: _Checker, key: str, least: int, most: int) -> list | None:
    names = c.get(key, required=False)
    if names is None:
        return None
    count = f"{least}" if least == most else f"{least} to {most}"
    if not isinstance(names, list) or not least <= len(names) <= most or not all(
            isinstance(n, str) for n in names):
        c.fail(key, f"a list of {count} strings", names)
    return names

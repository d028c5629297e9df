"""Checks of user input, run once before any training starts.

Every failure raises a :mod:`deltarule.errors` exception naming the problem
and the fix; nothing here ever modifies the caller's arrays.
"""

from __future__ import annotations

import math
import numbers
import os

import numpy as np

from .errors import ConfigError, DataError, DataTypeError

DTYPES = {"float64": np.float64, "float32": np.float32}
MAX_PARAMETERS = 1 << 28  # 268 435 456 weights and biases: 2 GiB as float64
_ALWAYS_FITS = 1 << 24  # 16 MiB: not worth asking the system about


def n_parameters(layers) -> int:
    """``Σ_l n_{l-1}·n_l + n_l``: weights and biases of a network (exact integers)."""
    return sum(a * b + b for a, b in zip(layers[:-1], layers[1:]))


def memory_budget() -> tuple[int, str]:
    """``(bytes, what)``: the most this process can hope to allocate.

    The physical memory, or the address-space / data-segment limit
    (``ulimit -v`` / ``-d``) when one is set lower.
    """
    budget, what = 1 << 62, "no known limit"
    try:
        budget = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        what = "the physical memory"
    except (AttributeError, ValueError, OSError):  # pragma: no cover - not POSIX
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX
        return budget, what
    for limit, name in ((resource.RLIMIT_AS, "the address-space limit (ulimit -v)"),
                        (getattr(resource, "RLIMIT_DATA", None),
                         "the data-segment limit (ulimit -d)")):
        if limit is None:
            continue
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY and 0 <= soft < budget:
            budget, what = soft, name
    return budget, what


def format_bytes(n: int) -> str:
    """``1.5 GiB``-style sizes for messages."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{n} bytes" if unit == "bytes" else f"{size:.3g} {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover


def check_network_memory(layers, dtype, error=None, what: str = "the network",
                         rows: int = 0) -> int:
    """Refuse, before allocating, a network too large to train or hold.

    Needs ``2·P·itemsize`` bytes for ``P`` parameters and their gradients,
    plus, when ``rows`` is given, ``4·rows·Σ n_l·itemsize`` for the
    workspace's buffers (``z, a, g, δ`` per layer).  Raises ``error``
    (default :class:`ConfigError`) when ``P`` exceeds :data:`MAX_PARAMETERS`
    or the bytes exceed :func:`memory_budget`; returns the bytes.
    """
    error = error or ConfigError
    itemsize = 4 if dtype in ("float32", np.float32) else np.dtype(dtype).itemsize
    count = n_parameters(layers)
    need = 2 * count * itemsize + 4 * rows * sum(layers[1:]) * itemsize
    if need < _ALWAYS_FITS and count <= MAX_PARAMETERS:
        return need
    shape = "-".join(map(str, layers))
    if count > MAX_PARAMETERS:
        raise error(
            f"{what} {shape} has {count} parameters; deltarule handles at most "
            f"{MAX_PARAMETERS} (narrower layers would fit)"
        )
    budget, source = memory_budget()
    if need > budget:
        rows_text = f" and {rows} rows at once" if rows else ""
        raise error(
            f"{what} {shape} needs {format_bytes(need)} for its {count} parameters"
            f"{rows_text} as {np.dtype(dtype).name}, more than {source} allows "
            f"({format_bytes(budget)}); use narrower layers" + (
                " or a smaller --batch-size" if rows else "")
        )
    return need


def as_dtype(dtype) -> np.dtype:
    """``"float64"`` (default), ``"float32"`` or the NumPy equivalents."""
    try:
        dt = np.dtype(dtype if dtype is not None else np.float64)
    except TypeError:
        dt = None
    if dt is None or dt.name not in DTYPES:
        raise ConfigError(f"dtype must be 'float64' or 'float32', got {dtype!r}")
    return dt


def as_matrix(data, what: str, dtype: np.dtype, *, allow_1d: bool) -> np.ndarray:
    """A C-contiguous private copy of ``data`` as a 2-D ``dtype`` array."""
    if data is None:
        raise DataTypeError(f"{what} is None; pass an array of numbers")
    try:
        arr = np.asarray(data)
    except ValueError:  # NumPy 2: "setting an array element with a sequence…"
        raise DataError(
            f"{what} is a ragged nested list (its rows differ in length or depth); pass "
            "a rectangular table of numbers"
        ) from None
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        if arr.dtype.kind == "c":
            raise DataTypeError(f"{what} holds complex numbers; pass real numbers")
        try:
            arr = np.asarray(data, dtype=np.float64)
        except (TypeError, ValueError):
            bad = _first_non_numeric(arr)
            raise DataTypeError(
                f"{what} must hold numbers only, but {bad}; convert or drop that entry"
            ) from None
    if arr.ndim == 1 and allow_1d:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        hint = " (use X.reshape(-1, 1) for a single feature)" if arr.ndim == 1 else ""
        raise DataError(
            f"{what} must be 2-D (n_samples, n_columns), got shape {arr.shape}{hint}"
        )
    if arr.shape[0] == 0:
        raise DataError(f"{what} has no rows; pass at least one sample")
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # reported just below
            out = np.array(arr, dtype=dtype, order="C", copy=True)
    except MemoryError:
        raise DataError(
            f"{what} of shape {arr.shape} needs {arr.size * np.dtype(dtype).itemsize} "
            "bytes for deltarule's copy, more than the memory available"
        ) from None
    bad = ~np.isfinite(out)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        original = arr[row, col]
        if np.isnan(out[row, col]):
            kind = "NaN"
        elif np.isinf(original):
            kind = "an infinite value"
        else:
            kind = f"{original!r}, too large for {np.dtype(dtype).name}"
        raise DataError(
            f"{what} contains {kind} at row {row}, column {col}; "
            "remove or impute non-finite values before training"
        )
    return out


def _first_non_numeric(arr: np.ndarray) -> str:
    flat = arr.reshape(-1) if arr.ndim else arr.reshape(1)
    for i, v in enumerate(flat):
        try:
            float(v)
        except (TypeError, ValueError):
            pos = np.unravel_index(i, arr.shape) if arr.ndim else ()
            shown = v.item() if isinstance(v, np.generic) else v
            return f"entry {tuple(int(p) for p in pos)} is {shown!r}"
    return f"its dtype is {arr.dtype}"


def check_layers(layers) -> tuple[int, ...]:
    try:
        sizes = tuple(layers)
    except TypeError:
        raise ConfigError(
            f"layers must be a list of layer widths such as [2, 3, 1], got {layers!r}"
        ) from None
    if len(sizes) < 2:
        raise ConfigError(
            f"layers needs at least two sizes (inputs and outputs), got {list(sizes)}; "
            "e.g. layers=[2, 3, 1]"
        )
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ConfigError(
                f"every layer width must be a positive integer, got {s!r} in {list(sizes)}"
            )
    return tuple(int(s) for s in sizes)


def check_positive(value, what: str, *, integer: bool = False, allow_none: bool = False):
    if value is None and allow_none:
        return None
    kinds = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kinds):
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(f"{what} must be {kind}, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{what} must be positive and finite, got {value!r}")
    return int(value) if integer else float(value)


def check_xy(X: np.ndarray, y: np.ndarray, layers: tuple[int, ...], what=("X", "y")):
    if X.shape[1] != layers[0]:
        raise DataError(
            f"{what[0]} has {X.shape[1]} columns but the input layer has {layers[0]} "
            f"units (layers={list(layers)}); make layers[0] == {X.shape[1]}"
        )
    if y.shape[1] != layers[-1]:
        hint = f"make layers[-1] == {y.shape[1]}"
        if y.shape[1] == 1 and layers[-1] > 1 and len(y) and \
                np.array_equal(y, np.round(y)) and y.min() >= 0 and y.max() < layers[-1]:
            # class labels 0…k-1 for a k-unit output: the fix is the encoding
            hint = (f"{what[1]} looks like class labels 0…{int(y.max())}: one-hot encode "
                    f"them, e.g. np.eye({layers[-1]})[{what[1]}.astype(int).ravel()] "
                    f"(--one-hot on the command line), or make layers[-1] == 1")
        raise DataError(
            f"{what[1]} has {y.shape[1]} columns but the output layer has {layers[-1]} "
            f"units (layers={list(layers)}); {hint}"
        )
    if X.shape[0] != y.shape[0]:
        raise DataError(
            f"{what[0]} has {X.shape[0]} rows but {what[1]} has {y.shape[0]}; "
            "every sample needs exactly one target row"
        )

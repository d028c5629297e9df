"""Input scalers stored with a model: ``x_scaled = (x − offset) / scale``.

A :class:`Scaler` is fitted once on the training inputs ``X`` ``(n_samples,
n_features)`` and travels with the network (``Network.scaler``) into the
model file, so ``Network.predict`` and ``deltarule predict`` scale new rows
exactly as the training rows were scaled.

==============  =====================  ==========================
kind            ``offset`` (per column) ``scale`` (per column)
==============  =====================  ==========================
``"standard"``  the mean ``μ``          the standard deviation ``σ``
``"minmax"``    the minimum             ``max − min``
==============  =====================  ==========================

A constant column would give ``scale = 0``; it gets ``scale = 1`` instead
(the column becomes 0 after scaling, as in scikit-learn's scalers), so every
stored ``scale`` is a positive finite number.

>>> import numpy as np
>>> s = Scaler.fit(np.array([[1.0, 10.0], [3.0, 10.0]]), "standard")
>>> s.offset.tolist(), s.scale.tolist()
([2.0, 10.0], [1.0, 1.0])
>>> s.transform(np.array([[3.0, 12.0]])).tolist()
[[1.0, 2.0]]
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, DataError

KINDS = ("standard", "minmax")


class Scaler:
    """Per-column affine input scaling ``(x − offset) / scale``.

    ``kind``: ``"standard"`` or ``"minmax"`` (how it was fitted);
    ``offset``, ``scale``: float64 arrays of shape ``(n_features,)``, every
    ``scale`` > 0.  Instances are immutable in practice: :meth:`fit` builds
    a new one, :meth:`transform` never writes to its input.
    """

    __slots__ = ("kind", "offset", "scale")

    def __init__(self, kind: str, offset, scale):
        if kind not in KINDS:
            raise ConfigError(f"scaler kind must be one of {', '.join(KINDS)}, got {kind!r}")
        offset = np.array(offset, dtype=np.float64).reshape(-1)
        scale = np.array(scale, dtype=np.float64).reshape(-1)
        if offset.shape != scale.shape or offset.size == 0:
            raise ConfigError(
                f"a scaler needs one offset and one scale per feature, got "
                f"{offset.size} offsets and {scale.size} scales"
            )
        if not np.isfinite(offset).all():
            raise ConfigError("scaler offsets must be finite numbers")
        if not (np.isfinite(scale).all() and (scale > 0).all()):
            raise ConfigError("scaler scales must be finite numbers > 0")
        offset.flags.writeable = False
        scale.flags.writeable = False
        self.kind, self.offset, self.scale = kind, offset, scale

    @classmethod
    def fit(cls, X, kind: str = "standard") -> "Scaler":
        """The scaler of ``kind`` for the columns of ``X`` ``(n_samples, n_features)``."""
        if kind not in KINDS:
            raise ConfigError(
                f"scale must be one of {', '.join(KINDS)} (or None for no scaling), "
                f"got {kind!r}"
            )
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[0] == 0:
            raise DataError(f"a scaler is fitted on a 2-D array with rows, got shape {X.shape}")
        if kind == "standard":
            offset, scale = X.mean(axis=0), X.std(axis=0)
        else:
            offset = X.min(axis=0)
            scale = X.max(axis=0) - offset
        # a constant column: nothing to scale, keep it finite (it maps to 0)
        scale = np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)
        return cls(kind, offset, scale)

    @property
    def n_features(self) -> int:
        return int(self.offset.size)

    def transform(self, X) -> np.ndarray:
        """``(X − offset) / scale`` in ``X``'s float dtype (a new array)."""
        X = np.asarray(X)
        dtype = X.dtype if X.dtype.kind == "f" else np.float64
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise DataError(
                f"the scaler was fitted on {self.n_features} features but X has shape "
                f"{X.shape}; pass rows with {self.n_features} columns"
            )
        out = np.subtract(X, self.offset.astype(dtype, copy=False), dtype=dtype)
        np.divide(out, self.scale.astype(dtype, copy=False), out)
        return out

    def inverse_transform(self, X) -> np.ndarray:
        """``X · scale + offset``: back to the original units."""
        X = np.asarray(X, dtype=np.float64)
        return X * self.scale + self.offset

    def to_dict(self) -> dict:
        """The model file's ``"scaler"`` record (JSON-ready)."""
        return {"kind": self.kind, "offset": self.offset.tolist(),
                "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, record) -> "Scaler":
        """A scaler from a model file's ``"scaler"`` record."""
        if not isinstance(record, dict):
            raise ConfigError(f"a scaler record must be a JSON object, got {record!r}")
        try:
            return cls(record["kind"], record["offset"], record["scale"])
        except KeyError as exc:
            raise ConfigError(f"a scaler record needs kind, offset and scale; {exc} is missing") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"a scaler record holds non-numeric values: {exc}") from None

    def __eq__(self, other):
        return (isinstance(other, Scaler) and self.kind == other.kind
                and np.array_equal(self.offset, other.offset)
                and np.array_equal(self.scale, other.scale))

    __hash__ = None

    def __repr__(self):
        return f"Scaler(kind={self.kind!r}, n_features={self.n_features})"

    def __reduce__(self):
        return (Scaler, (self.kind, self.offset.copy(), self.scale.copy()))


def spread_note(X, threshold: float = 1e3) -> str | None:
    """A note when the columns' ranges differ by ``threshold``× or more, else None.

    Gradient descent then takes steps suited to one column and far too
    large or too small for the others; ``--scale standard`` fixes it.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 2:
        return None
    spans = X.max(axis=0) - X.min(axis=0)
    spans = spans[np.isfinite(spans) & (spans > 0)]
    if spans.size < 2:
        return None
    ratio = float(spans.max() / spans.min())
    if ratio < threshold:
        return None
    return (
        f"the feature ranges differ by a factor of {ratio:.3g} (from {spans.min():.3g} to "
        f"{spans.max():.3g}); scaling the inputs (--scale standard or minmax) usually "
        f"trains much better"
    )


__all__ = ["KINDS", "Scaler", "spread_note"]

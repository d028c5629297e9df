"""Losses: ``value(y, y_hat) -> float`` beside ``gradient(y, y_hat) -> dL/dŷ``.

``y`` and ``y_hat`` are ``(n_samples, n_outputs)``.  Every loss sums over the
outputs of a sample; ``reduction`` says how samples combine: ``"sum"`` adds
them, ``"mean"`` divides the sum by ``n_samples`` (value and gradient
alike).  The loop reads ``reduction`` to weigh mini-batch losses into the
epoch loss.

``fused_delta(activation)`` returns, for an output activation the loss knows
how to pair with (softmax for ``cross_entropy``, sigmoid for
``binary_cross_entropy``), a callable ``(y, y_hat, z, out) -> float`` that
writes ``δ_L = ∂L/∂z_L`` into ``out`` and returns the loss computed stably
from ``z``; for any other activation it returns ``None`` and the loop takes
the general path ``∂L/∂ŷ ⊙ f'(z)``.

Sample weights: ``value(y, y_hat, weights=None)`` takes an optional
``(n_samples,)`` array ``w ≥ 0`` and returns ``Σ_i w_i L_i`` (``"sum"``) or
``Σ_i w_i L_i / Σ_i w_i`` (``"mean"``), ``L_i`` being sample ``i``'s loss.
Only the value needs them: the loop scales the rows of the gradient (or of
the fused delta) by ``w_i`` (``"sum"``) or ``w_i · n / Σ w`` (``"mean"``)
itself, since every loss here is a sum of per-sample terms (2-D arrays
only, not the model axis below).

Model axis: every bundled loss declares ``model_axis = True``.  Given
``y_hat`` (and ``y``, or a ``y`` shared by every model) with a leading model
axis, ``(models, n_samples, n_outputs)``, ``value`` returns one loss per
model, a float array of shape ``(models,)``, and the gradients keep the
shape of ``y_hat``; each model's entries are computed by the same
floating-point operations as a 2-D call on that model alone (one BLAS dot
per model where the 2-D call takes one), so they agree to the last bit.

Declarations read by the spec suite: ``minimum`` (the value at
``y_hat == y``), ``targets`` (``"real"``, ``"binary"`` or ``"one_hot"``) and
``predictions`` (``"real"``, ``"unit"`` for the open interval (0, 1), or
``"simplex"`` for rows in the open probability simplex).
"""

from __future__ import annotations

import numbers

import numpy as np

from deltarule.errors import ConfigError
from deltarule.hookspecs import hookimpl

from .activations import Sigmoid, Softmax

REDUCTIONS = ("sum", "mean")


def _check_reduction(name, reduction):
    if reduction not in REDUCTIONS:
        raise ConfigError(
            f"{name}: reduction must be one of {REDUCTIONS}, got {reduction!r}"
        )
    return reduction


def _check_eps(name, eps):
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not 0 < eps < 0.5:
        raise ConfigError(f"{name}: eps must be a number in (0, 0.5), e.g. 1e-12, got {eps!r}")
    return float(eps)


def _weighted(rows, weights, reduction):
    """``Σ_i w_i L_i`` (``"sum"``) or that divided by ``Σ_i w_i`` (``"mean"``)."""
    w = np.asarray(weights, dtype=rows.dtype).reshape(-1)
    total = float(np.dot(w, rows))
    return total / float(w.sum()) if reduction == "mean" else total
def _block_dot(a, b):
    """``Σ a ⊙ b`` over each model's block: ``(models, …) → (models,)``.

    One ``dot`` per model, the very kernel ``np.vdot`` runs on a 2-D array
    (``matmul`` of a row by a column is NumPy's ``dot``), so each value
    equals ``np.vdot(a[m], b[m])`` bit for bit; returned in float64 like
    ``float(np.vdot(...))``.
    """
    m = a.shape[0]
    out = np.matmul(a.reshape(m, 1, -1), b.reshape(m, -1, 1)).reshape(m)
    return out.astype(np.float64, copy=False)


def _block_sum(a):
    """``Σ a`` over each model's block, as ``a[m].sum()`` computes it, in float64."""
    return a.reshape(a.shape[0], -1).sum(axis=1).astype(np.float64, copy=False)


def _clip_eps(eps, dtype):
    # 1 - 1e-12 rounds to 1 in float32: never clip closer than the dtype resolves
    return max(eps, float(np.finfo(dtype).eps)) if np.dtype(dtype).kind == "f" else eps


class MSE:
    """Squared error ``L = ½ Σ_i Σ_k (ŷ_ik − y_ik)²``; ``∂L/∂ŷ = ŷ − y``.

    Default reduction: ``"sum"`` over samples, whose gradient step is the
    document's ``w += lr · aᵀδ``.  ``reduction="mean"`` divides value and
    gradient by ``n_samples``.
    """

    name = "mse"
    model_axis = True
    minimum = 0.0
    targets = "real"
    predictions = "real"

    def __init__(self, reduction="sum"):
        self.reduction = _check_reduction(self.name, reduction)

    def __repr__(self):
        return f"MSE(reduction={self.reduction!r})"

    def options(self):
        return {"reduction": self.reduction}

    def value(self, y, y_hat, weights=None):
        diff = np.subtract(y_hat, y)
        if weights is not None:
            np.multiply(diff, diff, diff)
            return 0.5 * _weighted(diff.sum(axis=1), weights, self.reduction)
        if diff.ndim == 3:  # model axis: one value per model
            v = 0.5 * _block_dot(diff, diff)
        else:
            v = 0.5 * float(np.vdot(diff, diff))
        return v / y_hat.shape[-2] if self.reduction == "mean" else v

    def gradient(self, y, y_hat, out=None):
        out = np.subtract(y_hat, y, out)
        if self.reduction == "mean":
            np.multiply(out, 1.0 / y_hat.shape[-2], out)
        return out

    def value_and_gradient(self, y, y_hat, out=None):
        """Both at once, sharing ``ŷ − y``: the loop's per-step call."""
        out = np.subtract(y_hat, y, out)
        if out.ndim == 3:
            v = 0.5 * _block_dot(out, out)
        else:
            v = 0.5 * float(np.vdot(out, out))
        if self.reduction == "mean":
            scale = 1.0 / y_hat.shape[-2]
            np.multiply(out, scale, out)
            v *= scale
        return v, out


class BinaryCrossEntropy:
    """``L = −Σ_i Σ_k [y log p + (1 − y) log(1 − p)]``, ``p = clip(ŷ, ε, 1 − ε)``.

    For targets ``y ∈ {0, 1}`` (any value in [0, 1] works) and predictions in
    (0, 1), one column per independent binary output: ``(n_samples,
    n_outputs)``.  ``∂L/∂ŷ = (p − y) / (p (1 − p))``.

    Default reduction: ``"mean"`` over samples (summed over outputs).
    ``eps`` (default ``1e-12``; at least the dtype's machine epsilon) keeps
    the logarithms finite.  With a ``sigmoid`` output the loop uses the fused
    delta ``δ_L = ŷ − y`` (divided by ``n_samples`` for ``"mean"``) and the
    value ``Σ softplus(z) − y z``, exact even where ``ŷ`` rounds to 0 or 1.
    """

    name = "binary_cross_entropy"
    model_axis = True
    minimum = 0.0
    targets = "binary"
    predictions = "unit"

    def __init__(self, reduction="mean", eps=1e-12):
        self.reduction = _check_reduction(self.name, reduction)
        self.eps = _check_eps(self.name, eps)

    def __repr__(self):
        return f"BinaryCrossEntropy(reduction={self.reduction!r}, eps={self.eps!r})"

    def options(self):
        return {"reduction": self.reduction, "eps": self.eps}

    def _scale(self, n):
        return 1.0 / n if self.reduction == "mean" else 1.0

    def value(self, y, y_hat, weights=None):
        y = np.asarray(y)
        eps = _clip_eps(self.eps, np.result_type(y_hat))
        p = np.clip(y_hat, eps, 1.0 - eps)
        if weights is not None:
            rows = (y * np.log(p) + (1.0 - y) * np.log1p(-p)).sum(axis=1)
            return -_weighted(rows, weights, self.reduction)
        if p.ndim == 3:  # model axis: one value per model
            y = np.broadcast_to(y, p.shape)
            total = _block_dot(y, np.log(p))
            np.subtract(1.0, p, p)
            np.log(p, p)
            total += _block_dot(np.subtract(1.0, y), p)
            return -total * self._scale(p.shape[-2])
        total = float(np.vdot(y, np.log(p)))
        np.subtract(1.0, p, p)
        np.log(p, p)
        total += float(np.vdot(np.subtract(1.0, y), p))
        return -total * self._scale(len(y))

    def gradient(self, y, y_hat, out=None):
        eps = _clip_eps(self.eps, np.result_type(y_hat))
        p = np.clip(y_hat, eps, 1.0 - eps)
        out = np.subtract(p, y, out)
        denom = np.subtract(1.0, p)
        np.multiply(denom, p, denom)
        np.divide(out, denom, out)
        scale = self._scale(y_hat.shape[-2])
        if scale != 1.0:
            np.multiply(out, scale, out)
        return out

    def check_targets(self, y):
        """Once per run: targets are probabilities, ``0 ≤ y ≤ 1``."""
        bad = (y < 0) | (y > 1)
        if bad.any():
            row, col = (int(k) for k in np.argwhere(bad)[0])
            raise ValueError(
                f"binary_cross_entropy needs targets between 0 and 1, but row {row}, "
                f"column {col} is {float(y[row, col]):g}; use 0/1 labels"
            )

    def fused_delta(self, activation):
        """The sigmoid pair's ``(y, ŷ, z, out) -> L``, or ``None`` otherwise."""
        if not isinstance(activation, Sigmoid):
            return None

        def sigmoid_bce(y, y_hat, z, out):
            # L = Σ log(1 + e^z) − y z; logaddexp(z, 0) = log(1 + e^z), stably
            np.logaddexp(z, 0.0, out)
            if out.ndim == 3:  # model axis: one value per model
                total = _block_sum(out) - _block_dot(np.broadcast_to(y, z.shape), z)
            else:
                total = float(out.sum()) - float(np.vdot(y, z))
            scale = self._scale(z.shape[-2])
            np.subtract(y_hat, y, out)
            if scale != 1.0:
                np.multiply(out, scale, out)
            return total * scale

        return sigmoid_bce


_TINY = {}


def _tiny(dtype) -> float:
    """The smallest normal number of ``dtype`` (cached: ``finfo`` is slow)."""
    t = _TINY.get(dtype)
    if t is None:
        t = _TINY[dtype] = float(np.finfo(dtype).tiny)
    return t


def _softmax_ce_from_z(y, z, out):
    """``Σ_i [(Σ_k y_ik) logsumexp(z_i) − Σ_k y_ik z_ik]``, exact for any ``z``;
    uses ``out`` as scratch.  With a model axis: one value per model."""
    row_max = np.maximum.reduce(z, axis=-1, keepdims=True)
    np.subtract(z, row_max, out)
    if out.ndim == 3:
        y = np.broadcast_to(y, z.shape)
        shifted = _block_dot(y, out)
        np.exp(out, out)
        log_norm = np.log(np.add.reduce(out, axis=-1))  # (models, n)
        return _block_dot(np.add.reduce(y, axis=-1), log_norm) - shifted
    shifted = float(np.vdot(y, out))                # Σ y (z − max)
    np.exp(out, out)
    log_norm = np.log(np.add.reduce(out, axis=1))   # logsumexp(z) − max, (n,)
    return float(np.dot(np.add.reduce(y, axis=1), log_norm)) - shifted


class CrossEntropy:
    """Categorical cross-entropy ``L = −Σ_i Σ_k y_ik log ŷ_ik``.

    For one-hot targets ``y`` and predictions whose rows are probability
    distributions (a ``softmax`` output), ``(n_samples, n_classes)``.  The
    general path uses ``∂L/∂ŷ = −y / ŷ`` with ``ŷ`` clipped below at the
    dtype's smallest normal number so ``log 0`` never occurs.

    Default reduction: ``"mean"`` over samples.  The targets' rows must be
    distributions (one-hot, or probabilities summing to 1): ``check_targets``
    refuses other ``y`` before training.  With a ``softmax`` output the loop
    then uses the fused delta ``δ_L = ŷ − y`` (in general ``ŷ · Σ_k y_k −
    y``), divided by ``n_samples`` for ``"mean"``.  Its value is
    ``−Σ y log ŷ`` while every ``ŷ`` is a normal floating-point number, else
    ``Σ_i [(Σ_k y_ik) logsumexp(z_i) − Σ_k y_ik z_ik]`` from ``z``, which
    is exact even where ``ŷ`` underflows to 0.
    """

    name = "cross_entropy"
    model_axis = True
    minimum = 0.0
    targets = "one_hot"
    predictions = "simplex"

    def __init__(self, reduction="mean"):
        self.reduction = _check_reduction(self.name, reduction)

    def __repr__(self):
        return f"CrossEntropy(reduction={self.reduction!r})"

    def options(self):
        return {"reduction": self.reduction}

    def _scale(self, n):
        return 1.0 / n if self.reduction == "mean" else 1.0

    @staticmethod
    def _floor(y_hat):
        dt = np.result_type(y_hat)
        return _tiny(dt if dt.kind == "f" else np.dtype(np.float64))

    def value(self, y, y_hat, weights=None):
        p = np.maximum(y_hat, self._floor(y_hat))
        np.log(p, p)
        if weights is not None:
            return -_weighted((np.asarray(y) * p).sum(axis=1), weights, self.reduction)
        if p.ndim == 3:  # model axis: one value per model
            return -_block_dot(np.broadcast_to(y, p.shape), p) * self._scale(p.shape[-2])
        return -float(np.vdot(np.asarray(y), p)) * self._scale(len(y))

    def gradient(self, y, y_hat, out=None):
        out = np.divide(y, np.maximum(y_hat, self._floor(y_hat)), out)
        return np.multiply(out, -self._scale(y_hat.shape[-2]), out)

    def check_targets(self, y):
        """Once per run: every row of ``y`` is a distribution (one-hot, or
        probabilities summing to 1), which the fused delta relies on."""
        if (y < 0).any():
            row = int(np.argwhere(y < 0)[0][0])
            raise ValueError(
                f"cross_entropy needs one-hot (or probability) rows, but row {row} of "
                f"the targets has a negative entry; one-hot encode class labels, "
                f"e.g. np.eye(n_classes)[labels]"
            )
        sums = np.add.reduce(y, axis=1)
        tol = 1e-6 if y.dtype == np.float32 else 1e-9
        bad = np.flatnonzero(np.abs(sums - 1.0) > tol)
        if bad.size:
            row = int(bad[0])
            raise ValueError(
                f"cross_entropy needs one-hot (or probability) rows, but row {row} of "
                f"the targets sums to {float(sums[row]):g}; one-hot encode class "
                f"labels, e.g. np.eye(n_classes)[labels]"
            )

    def fused_delta(self, activation):
        """The softmax pair's ``(y, ŷ, z, out) -> L``, or ``None`` otherwise."""
        if not isinstance(activation, Softmax):
            return None

        def softmax_ce(y, y_hat, z, out):
            if out.ndim == 3:
                return self._stacked_softmax_ce(y, y_hat, z, out)
            if np.minimum.reduce(y_hat, None) >= _tiny(out.dtype):
                # every ŷ is a normal number: L = −Σ y log ŷ is accurate
                np.log(y_hat, out)
                total = -float(np.vdot(y, out))
            else:
                # ŷ underflowed somewhere: exactly, from z, by log-sum-exp
                total = _softmax_ce_from_z(y, z, out)
            # δ = ŷ Σ_k y_k − y = ŷ − y: check_targets made every row sum to 1
            np.subtract(y_hat, y, out)
            scale = self._scale(len(y))
            if scale != 1.0:
                np.multiply(out, scale, out)
            return total * scale

        return softmax_ce

    def _stacked_softmax_ce(self, y, y_hat, z, out):
        """The fused softmax pair with a model axis: each model takes the branch
        it would take alone (``−Σ y log ŷ`` or log-sum-exp from ``z``)."""
        y = np.broadcast_to(y, z.shape)
        m = out.shape[0]
        normal = np.minimum.reduce(y_hat.reshape(m, -1), axis=1) >= _tiny(out.dtype)
        np.log(y_hat, out)
        total = -_block_dot(y, out)
        if not normal.all():
            total = np.where(normal, total, _softmax_ce_from_z(y, z, out))
        np.subtract(y_hat, y, out)
        scale = self._scale(z.shape[-2])
        if scale != 1.0:
            np.multiply(out, scale, out)
        return total * scale


@hookimpl
def deltarule_losses():
    return [MSE(), BinaryCrossEntropy(), CrossEntropy()]

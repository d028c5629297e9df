"""What a run's numbers say that the user should hear: the warning checks.

Each check returns ``(warning class, message)`` or ``None``; the trainer
emits them with :func:`warn` (once per run, never per epoch), the command
line prints them as ``note:`` lines.  All are :class:`DeltaRuleWarning`\\ s:

==========================  ==============================================
warning                     when
==========================  ==========================================
``ClassTargetWarning``      before training: one target column of small
                            whole numbers with three or more values, and an
                            output whose range cannot reach them (sigmoid,
                            softmax, tanh) — class labels trained as numbers
``DivergenceWarning``       the loss became NaN or infinite, or ended over
                            1000× its first epoch's
``SaturationWarning``       after training: the network gives the same
                            output for every row although the targets
                            differ (saturated units: a rate far too large,
                            or unscaled inputs)
``ConvergenceWarning``      the run stopped at ``max_epochs`` while the loss
                            still fell by more than 1 % over the last tenth
                            of the epochs (at least 10), and was still above
                            2 % of the first epoch's
==========================  ==========================================
"""

from __future__ import annotations

import inspect
import os
import warnings

import numpy as np

from .errors import ClassTargetWarning, ConvergenceWarning, DivergenceWarning, SaturationWarning

BOUNDED_OUTPUTS = {"sigmoid": (0.0, 1.0), "softmax": (0.0, 1.0), "tanh": (-1.0, 1.0)}
_HERE = os.path.dirname(os.path.abspath(__file__))
_PACKAGE = os.path.dirname(_HERE)


def warn(category, message: str) -> None:
    """``warnings.warn`` attributed to the first caller outside deltarule."""
    level, frame = 2, inspect.currentframe().f_back
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_HERE):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def class_target(y: np.ndarray, output_activation: str) -> tuple | None:
    """Class labels ``0, 1, 2, …`` in one column, trained on a bounded output."""
    bounds = BOUNDED_OUTPUTS.get(output_activation)
    if bounds is None or y.ndim != 2 or y.shape[1] != 1 or len(y) < 3:
        return None
    col = y[:, 0]
    if not np.array_equal(col, np.round(col)):
        return None
    values = np.unique(col)
    if not 3 <= len(values) <= 100 or (bounds[0] <= values.min() and values.max() <= bounds[1]):
        return None
    k = len(values)
    return (ClassTargetWarning,
            f"the target holds {k} whole-number values ({_list(values)}), which look like "
            f"class labels, but a {output_activation} output can only give values in "
            f"{list(bounds)}: one-hot encode them (np.eye({k})[labels] in code, --one-hot "
            f"on the command line) with a softmax output and cross_entropy, or use an "
            f"identity output if they really are numbers")


def after_run(result, X: np.ndarray, y: np.ndarray) -> list[tuple]:
    """The warnings a finished run deserves (see the module docstring)."""
    out = []
    if result.stop_reason == "diverged":
        out.append((DivergenceWarning,
                    f"the loss became non-finite at epoch {result.epochs}; the run stopped "
                    "and kept the last finite parameters. Lower lr, scale the inputs and "
                    "targets, or use an adaptive optimizer (adam)"))
        return out
    history = result.history
    if len(history) >= 2 and np.isfinite(history[-1]) and history[0] > 0 \
            and history[-1] > 1e3 * history[0]:
        out.append((DivergenceWarning,
                    f"the loss grew from {history[0]:.4g} to {history[-1]:.4g} over "
                    f"{len(history)} epochs: the run is diverging (the outputs run off to "
                    "huge values). Lower lr, scale the inputs and targets, or use an "
                    "adaptive optimizer (adam)"))
        return out
    saturated = _saturation(result.network, X, y)
    if saturated:
        out.append(saturated)
    history = result.history
    if result.stop_reason == "max_epochs" and len(history) >= 20:
        k = max(10, len(history) // 10)
        before, last = history[-k - 1], history[-1]
        first = history[0]
        if np.isfinite(before) and np.isfinite(last) and before > 0 and not saturated \
                and (before - last) / abs(before) > 0.01 and last > 0.02 * abs(first):
            out.append((ConvergenceWarning,
                        f"the run stopped at max_epochs={len(history)} while the loss was "
                        f"still falling ({before:.4g} → {last:.4g} over the last {k} "
                        "epochs); more epochs or a larger lr would lower it further"))
    return out


def _saturation(net, X, y) -> tuple | None:
    """The same output for every row although the targets differ: saturated
    units (at the output, or a hidden layer feeding it a constant)."""
    if len(X) < 2:
        return None
    # a saturated network gives one output whatever the row, so a few rows
    # tell; 128 keep the check's cost (one forward, once per run) far below
    # an epoch's even on small data sets
    rows = slice(0, 128)
    with np.errstate(all="ignore"):
        y_hat = net.forward(X[rows])
    if not np.isfinite(y_hat).all() or np.ptp(y[rows], axis=0).max() == 0:
        return None
    spread = np.ptp(y_hat, axis=0).max()
    if spread > 1e-9 * max(1.0, float(np.abs(y_hat).max())):
        return None
    name = getattr(net.activations[-1], "name", "output")
    value = _list(np.unique(np.round(y_hat[0], 6)))
    bounds = BOUNDED_OUTPUTS.get(name)
    where = "the output units" if bounds and np.all(
        np.minimum(np.abs(y_hat - bounds[0]), np.abs(y_hat - bounds[1])) < 1e-6
    ) else "the hidden units"
    return (SaturationWarning,
            f"the network gives the same output ({value}) for every row although the "
            f"targets differ: {where} are saturated, so the gradients vanished and "
            "training stalled. Scale the inputs (--scale standard), lower lr, or start "
            "from smaller weights (init='xavier')")


def _list(values, keep: int = 6) -> str:
    vals = [f"{v:g}" for v in np.asarray(values).ravel()]
    return ", ".join(vals if len(vals) <= keep else vals[:keep - 1] + ["…", vals[-1]])

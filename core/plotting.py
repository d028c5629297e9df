"""Pictures of a run: the loss curve and, for two inputs, the decision boundary.

Needs matplotlib (``pip install 'deltarule[plot]'``).  Figures are drawn with
matplotlib's Agg renderer on a :class:`matplotlib.figure.Figure` of their
own: pyplot and its global backend are never touched, so this works on
servers without a display and never disturbs an interactive session.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from .errors import ConfigError, MissingDependencyError
from .io.files import atomic_write

# beyond this many points a loss curve is thinned: the picture is the same
MAX_CURVE_POINTS = 4000


def require_matplotlib():
    """The :class:`~matplotlib.figure.Figure` class, or a clear error if missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "drawing pictures needs matplotlib, which is not installed: "
            "pip install 'deltarule[plot]'"
        ) from None
    return Figure


def _thin(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """``(epochs, losses)``, 1-based, at most about MAX_CURVE_POINTS of them."""
    y = np.asarray(values, dtype=np.float64)
    x = np.arange(1, len(y) + 1)
    step = max(1, math.ceil(len(y) / MAX_CURVE_POINTS))
    if step > 1:
        keep = np.unique(np.r_[np.arange(0, len(y), step), len(y) - 1])
        x, y = x[keep], y[keep]
    return x, y


def draw_loss(ax, history: Sequence[float], val_history: Sequence[float] = ()) -> None:
    """The training (and validation) loss per epoch on ``ax``.

    The loss axis is logarithmic when every finite loss is positive.
    """
    curves = [(history, "training")]
    if len(val_history):
        curves.append((val_history, "validation"))
    finite = np.concatenate([np.asarray(h, dtype=np.float64) for h, _ in curves])
    finite = finite[np.isfinite(finite)]
    for values, label in curves:
        x, y = _thin(values)
        ax.plot(x, y, label=label, linewidth=1.5)
    if finite.size and (finite > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.set_title("loss per epoch")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()


def _bounds(X, pad: float = 0.15, given=None):
    if X is None or len(X) == 0:
        if given is not None:  # e.g. the range the training data covered
            return tuple((lo - pad * (hi - lo), hi + pad * (hi - lo)) for lo, hi in given)
        return (-0.25, 1.25), (-0.25, 1.25)
    out = []
    for col in (X[:, 0], X[:, 1]):
        lo, hi = float(col.min()), float(col.max())
        span = max(hi - lo, 1e-3)
        out.append((lo - pad * span, hi + pad * span))
    return tuple(out)


def draw_boundary(ax, predict: Callable[[np.ndarray], np.ndarray], X=None, y=None, *,
                  names: Sequence[str] = ("x1", "x2"), resolution: int = 200,
                  bounds=None, classes=None) -> None:
    """The network's output over the plane of its two inputs, with the data.

    ``predict`` maps ``(n, 2)`` inputs to ``(n, k)`` outputs.  One output:
    its value as colour with the line ``ŷ = 0.5`` where it is crossed; several
    outputs: the region where each class (the arg-max) wins.  ``X``
    ``(n, 2)`` and ``y`` ``(n, k)`` (optional) are drawn as points coloured
    by their target; without ``X`` the plane spans ``bounds`` ``[(lo, hi),
    (lo, hi)]`` if given, else −0.25 … 1.25.  ``classes`` name the classes
    in the title and legend.
    """
    (x0, x1), (y0, y1) = _bounds(X, given=bounds)
    gx, gy = np.meshgrid(np.linspace(x0, x1, resolution), np.linspace(y0, y1, resolution))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    out = np.asarray(predict(grid), dtype=np.float64)
    if out.ndim == 1:
        out = out.reshape(-1, 1)
    if out.shape[1] == 1:
        z = out[:, 0].reshape(gx.shape)
        lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
        if lo == hi:
            hi = lo + 1e-9
        fill = ax.contourf(gx, gy, z, levels=np.linspace(lo, hi, 21), cmap="RdBu_r",
                           alpha=0.8)
        ax.figure.colorbar(fill, ax=ax, label="network output ŷ")
        if lo < 0.5 < hi:
            ax.contour(gx, gy, z, levels=[0.5], colors="k", linewidths=1.5)
        if X is not None and len(X):
            c = None if y is None or y.shape[1] != 1 else y[:, 0]
            ax.scatter(X[:, 0], X[:, 1], c=c, cmap="RdBu_r", vmin=lo, vmax=hi,
                       edgecolors="k", s=60, zorder=3)
        if classes is not None and len(classes) == 2:
            ax.set_title(f"P({classes[1]}); black line: ŷ = 0.5 ({classes[0]} | {classes[1]})")
        else:
            ax.set_title("network output; black line: ŷ = 0.5")
    else:
        k = out.shape[1]
        cls = np.argmax(out, axis=1).reshape(gx.shape)
        cmap = "tab10" if k <= 10 else "tab20"
        ax.contourf(gx, gy, cls, levels=np.arange(-0.5, k), cmap=cmap, alpha=0.35,
                    vmin=-0.5, vmax=k - 0.5)
        if X is not None and len(X):
            c = None if y is None or y.shape[1] != k else np.argmax(y, axis=1)
            ax.scatter(X[:, 0], X[:, 1], c=c, cmap=cmap, vmin=-0.5, vmax=k - 0.5,
                       edgecolors="k", s=40, zorder=3)
        if classes is not None and len(classes) == k:
            import matplotlib
            from matplotlib.patches import Patch

            colours = matplotlib.colormaps[cmap]  # as contourf maps class i: (i + ½) / k
            ax.legend(handles=[Patch(color=colours((i + 0.5) / k), alpha=0.6, label=str(c))
                               for i, c in enumerate(classes)],
                      loc="best", fontsize="small")
            ax.set_title("predicted class")
        else:
            ax.set_title(f"predicted class (arg-max of {k} outputs)")
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel(names[0])
    ax.set_ylabel(names[1])


def save_figure(path, *, history: Sequence[float] = (), val_history: Sequence[float] = (),
                network=None, X=None, y=None, names: Sequence[str] | None = None,
                title: str | None = None, bounds=None, classes=None) -> Path:
    """Write a PNG (or any format matplotlib knows from the suffix) to ``path``.

    A name without a suffix gets ``.png``; the path written is returned.  The
    file is written atomically: the whole picture, or the old file untouched.

    Panels: the loss curve when ``history`` is not empty; the decision
    boundary when ``network`` (a :class:`deltarule.Network`) has two inputs,
    with the points ``X``, ``y`` if given.  At least one panel must apply.
    """
    Figure = require_matplotlib()
    boundary = network is not None and network.layers[0] == 2
    panels = int(len(history) > 0) + int(boundary)
    if panels == 0:
        why = "no loss history" if network is None else (
            f"no loss history, and the network has {network.layers[0]} inputs "
            "(a decision boundary needs exactly 2)")
        raise ConfigError(f"nothing to draw: {why}")
    fig = Figure(figsize=(6.4 * panels, 4.8), layout="constrained")
    axes = fig.subplots(1, panels, squeeze=False)[0]
    i = 0
    if len(history):
        draw_loss(axes[i], history, val_history)
        i += 1
    if boundary:
        draw_boundary(axes[i], network.predict, X, y,
                      names=tuple(names) if names else ("x1", "x2"), bounds=bounds,
                      classes=classes)
    if title:
        fig.suptitle(title)
    path = Path(path)
    return _write(fig, path)


def _write(fig, path) -> Path:
    """Write ``fig`` to ``path`` whole or not at all (``.png`` if it has no suffix)."""
    path = Path(path)
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    fmt = path.suffix[1:].lower()  # the suffix's format, never a guess
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=100))


def save_sweep_figure(path, summary, many, *, title: str = "") -> Path:
    """Draw a sweep: each setting's convergence rate with its Wilson interval
    (left) and its epochs to converge as a box plot (right); write ``path``.

    ``summary``: rows of :meth:`deltarule.ManyResult.summary`; ``many`` the
    result whose models give the epochs.
    """
    Figure = require_matplotlib()
    labels = [row["label"] for row in summary]
    fig = Figure(figsize=(max(6.4, 1.2 * len(labels) + 3), 4.8 * 2), layout="constrained")
    ax_rate, ax_epochs = fig.subplots(2, 1)
    x = np.arange(len(summary))
    rate = np.array([row["rate"] for row in summary], dtype=float)
    low = np.array([row["rate_low"] for row in summary], dtype=float)
    high = np.array([row["rate_high"] for row in summary], dtype=float)
    err = np.vstack([np.nan_to_num(rate - low), np.nan_to_num(high - rate)])
    ax_rate.errorbar(x, rate, yerr=err, fmt="o", capsize=4)
    pct = f"{summary[0]['confidence']:.0%}" if summary else ""
    ax_rate.set_ylabel(f"convergence rate ({pct} Wilson interval)")
    ax_rate.set_ylim(-0.02, 1.02)
    ax_rate.set_xticks(x, labels, rotation=20, ha="right")
    ax_rate.grid(True, alpha=0.3)
    epochs = []
    for row in summary:
        epochs.append([r.epochs for r in many.results
                       if r is not None and r.settings == row["settings"]
                       and many.is_converged(r)] or [np.nan])
    ax_epochs.boxplot(epochs, positions=x)
    ax_epochs.set_xticks(x, labels, rotation=20, ha="right")
    ax_epochs.set_ylabel("epochs to converge")
    ax_epochs.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    return _write(fig, path)

"""Every run option once: its name and default.

:data:`DEFAULTS` is read by :class:`~deltarule.Trainer`, :func:`~deltarule.train`,
the command line and the presets.
"""

from __future__ import annotations

DEFAULTS = dict(
    activation="sigmoid",
    loss="mse",
    optimizer="sgd",
    init="randn",
    lr=0.1,
    max_epochs=10000,
    target_loss=None,
    batch_size=None,
    shuffle=True,
    seed=None,
    dtype="float64",
    validation_split=None,
    optimizer_options=None,
    patience=None,
    min_delta=0.0,
    time_budget=None,
    gradient_tol=None,
    threads=None,
    l2=0.0,
)

"""The hook specifications: the contract between the training loop and plugins.

Each seed step of back-propagation is a hook.  The catalogue hooks
(``deltarule_initializers`` … ``deltarule_optimizers``) are called **once per
run**, when the run resolves its components; the loop then calls the chosen
components' methods directly.  ``deltarule_stop`` and the observers are called
once per epoch (or once per run), never once per batch.

A plugin is any object or module with functions named like the hooks below and
marked with :data:`deltarule.hookimpl`.
"""

from __future__ import annotations

import pluggy

PROJECT = "deltarule"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def deltarule_initializers():
    """Return initializer components (a list, or a single component).

    An initializer has a ``name`` and is called as
    ``init(layer_sizes, rng, dtype) -> [(W1, b1), (W2, b2), ...]`` where
    ``W_l`` has shape ``(layer_sizes[l-1], layer_sizes[l])`` and ``b_l`` shape
    ``(layer_sizes[l],)``.  It must draw every random number from ``rng`` (a
    :class:`numpy.random.Generator`) and never from NumPy's global state.

    Called once per run, on every plugin; the results are merged by name.
    """


@hookspec
def deltarule_activations():
    """Return activation components (a list, or a single component).

    An activation has a ``name`` and ``forward(z) -> a`` (same shape as
    ``z``, ``(n_samples, n_units)``).  An element-wise activation gives
    ``derivative(z, a) -> da/dz``; one that couples units (softmax) gives
    ``vjp(z, a, g) -> g · ∂a/∂z`` instead.  Both receive the forward output
    ``a`` so that, e.g., sigmoid can use ``a * (1 - a)``.

    Called once per run, on every plugin; the results are merged by name.
    """


@hookspec
def deltarule_losses():
    """Return loss components (a list, or a single component).

    A loss has a ``name``, ``value(y, y_hat) -> float`` and
    ``gradient(y, y_hat) -> dL/dy_hat`` (shape of ``y_hat``,
    ``(n_samples, n_outputs)``).

    Called once per run, on every plugin; the results are merged by name.
    """


@hookspec
def deltarule_optimizers():
    """Return optimizer components (a list, or a single component).

    An optimizer component has a ``name`` and is a factory: calling it with
    its hyper-parameters (``lr=...``, plus any options) builds a fresh
    optimizer for one run, whose ``step(params, grads)`` updates each array
    of ``params`` in place from the matching array of ``grads`` and keeps
    its own state.  ``step`` must not modify ``grads``.

    Called once per run, on every plugin; the results are merged by name.
    """


@hookspec
def deltarule_options():
    """Declare the run options this plugin reads from ``state.config``.

    :returns: a list of :class:`deltarule.Option` (or one, or ``None``).

    Called once per :class:`~deltarule.Trainer`, before any option is
    checked.  A declared option is then accepted by ``train()``, ``Trainer``
    and ``deltarule train --option NAME=VALUE``, checked by the option's
    ``check`` before any data is read, filled with its ``default`` when not
    given, and visible to every plugin as ``state.config[NAME]``.  A name
    may be declared once: redeclaring a core option or another plugin's
    option is a :class:`~deltarule.PluginError`.
    """


@hookspec
def deltarule_stop(state):
    """Decide whether training stops after the epoch just run.

    ``state`` is the run's read-only :class:`deltarule.State` (epoch, loss,
    validation loss, parameters, …).  Return a short reason string
    (``"max_epochs"``, ``"target_loss"``, …) to stop, or ``None`` to go on.
    Called after every epoch on every implementation; any non-``None``
    return stops the run and becomes ``result.stop_reason``.
    """


@hookspec
def deltarule_train_start(state):
    """Observe the start of a run: parameters initialised, no epoch run yet."""


@hookspec
def deltarule_epoch_end(state):
    """Observe the end of every epoch, after the stop criteria were asked.

    ``state.stop_reason`` is set when this is the last epoch.
    """


@hookspec
def deltarule_train_end(state):
    """Observe the end of a run: ``state.stop_reason`` says why it ended."""


HOOK_NAMES = (
    "deltarule_initializers",
    "deltarule_activations",
    "deltarule_losses",
    "deltarule_optimizers",
    "deltarule_options",
    "deltarule_stop",
    "deltarule_train_start",
    "deltarule_epoch_end",
    "deltarule_train_end",
)

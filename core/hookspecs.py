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

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:  # for the annotations only
    from .config import Option
    from .loop import State

PROJECT = "deltarule"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def deltarule_initializers() -> Any:
    """Return initializer components.

    An initializer has a ``name`` and is called as
    ``init(layer_sizes, rng, dtype) -> [(W1, b1), (W2, b2), ...]`` where
    ``W_l`` has shape ``(layer_sizes[l-1], layer_sizes[l])`` and ``b_l`` shape
    ``(layer_sizes[l],)``.  It must draw every random number from ``rng`` (a
    :class:`numpy.random.Generator`) and never from NumPy's global state.
    (:class:`deltarule.protocols.Initializer`.)

    :returns: a list (or dict, or one) of initializers, or ``None``.

    Called once per run (when the catalogue is collected), on every plugin;
    the results are merged by name.  Must be a plain implementation, not a
    wrapper.
    """


@hookspec
def deltarule_activations() -> Any:
    """Return activation components.

    An activation has a ``name`` and ``forward(z) -> a`` (same shape as
    ``z``, ``(n_samples, n_units)``).  An element-wise activation gives
    ``derivative(z, a) -> da/dz``; one that couples units (softmax) gives
    ``vjp(z, a, g) -> g · ∂a/∂z`` instead.  An element-wise one may give both
    (``vjp`` = ``g ⊙ f'(z)`` in one pass): the loop then calls ``vjp``
    (:func:`deltarule.protocols.uses_vjp`).  Both receive the forward output
    ``a`` so that, e.g., sigmoid can use ``a * (1 - a)``.  None of them may
    modify ``z``, ``a`` or ``g``.  (:class:`deltarule.protocols.Activation`.)

    :returns: a list (or dict, or one) of activations, or ``None``.

    Called once per run (when the catalogue is collected), on every plugin;
    the results are merged by name.  Must be a plain implementation, not a
    wrapper.
    """


@hookspec
def deltarule_losses() -> Any:
    """Return loss components.

    A loss has a ``name``, ``value(y, y_hat) -> float`` and
    ``gradient(y, y_hat) -> dL/dy_hat`` (shape of ``y_hat``,
    ``(n_samples, n_outputs)``); neither may modify ``y`` or ``y_hat``.
    (:class:`deltarule.protocols.Loss`.)

    :returns: a list (or dict, or one) of losses, or ``None``.

    Called once per run (when the catalogue is collected), on every plugin;
    the results are merged by name.  Must be a plain implementation, not a
    wrapper.
    """


@hookspec
def deltarule_optimizers() -> Any:
    """Return optimizer components.

    An optimizer component has a ``name`` and is a factory: calling it with
    its hyper-parameters (``lr=...``, plus any options) builds a fresh
    optimizer for one run, whose ``step(params, grads)`` updates each array
    of ``params`` in place from the matching array of ``grads`` and keeps
    its own state.  ``step`` must not modify ``grads``.
    (:class:`deltarule.protocols.Optimizer`.)

    :returns: a list (or dict, or one) of optimizer factories, or ``None``.

    Called once per run (when the catalogue is collected), on every plugin;
    the results are merged by name.  Must be a plain implementation, not a
    wrapper.
    """


@hookspec
def deltarule_options() -> list[Option] | Option | None:
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
def deltarule_stop(state: State) -> str | None:
    """Decide whether training stops after the epoch just run.

    :param state: the run's :class:`deltarule.State` (epoch, loss,
        validation loss, parameters, …).  Read-only: its arrays are
        read-only views; bookkeeping goes in ``state.scratch``, and a
        criterion that restores earlier parameters calls
        ``state.set_final_params``.
    :returns: a short reason string (``"max_epochs"``, ``"target_loss"``,
        …) to stop, or ``None`` to go on.

    Called after every epoch (after the validation loss, before
    ``deltarule_epoch_end``) on every implementation; the first non-``None``
    answer in pluggy's call order stops the run and becomes
    ``result.stop_reason``.  Plain implementations are called directly (no
    pluggy per epoch); a wrapper is honoured by calling through pluggy.

    In a ``deltarule.train_many`` run, a plugin declaring ``model_axis =
    True`` is called once per epoch with a :class:`deltarule.many.ManyState`
    (``loss``, ``grad_norm``, ``active``, … one entry per model) and answers
    ``None``, one reason for every model still training, or a sequence of
    one reason or ``None`` per model; any other plugin is called once per
    model with a :class:`deltarule.many.ModelView` (the ``State`` API).
    """


@hookspec
def deltarule_train_start(state: State) -> None:
    """Observe the start of a run: parameters initialised, no epoch run yet.

    :param state: the run's read-only :class:`deltarule.State`
        (``state.epoch == 0``).

    Called once per run (and per ``partial_fit`` continuation).
    """


@hookspec
def deltarule_epoch_end(state: State) -> None:
    """Observe the end of every epoch, after the stop criteria were asked.

    :param state: the run's read-only :class:`deltarule.State`;
        ``state.stop_reason`` is set when this is the last epoch.

    Called after every epoch, in the hot loop: keep it cheap.
    """


@hookspec
def deltarule_train_end(state: State) -> None:
    """Observe the end of a run.

    :param state: the run's read-only :class:`deltarule.State`;
        ``state.stop_reason`` says why it ended (including ``"interrupted"``,
        ``"diverged"``, ``"caller"`` and ``"error"``).

    Called once per run, however it ended.
    """


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

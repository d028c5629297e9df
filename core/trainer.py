"""``Trainer``, ``train`` and ``TrainResult``: one run, from options to result.

The trainer checks the options, resolves every component from the
catalogue once, prepares the data and the network, then hands them to the
epoch loop (:mod:`deltarule.loop`) and builds the :class:`TrainResult`
from the run's log.
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from .catalogue import is_pair, unknown_options_message
from . import diagnostics
from .config import DEFAULTS
from .errors import ComponentError, ConfigError, DataError, UnknownOptionError
from .io.data import holdout
from .loop import State, run_epochs
from .network import Network
from .protocols import accepts_keyword, validate_component
from .registry import Registry, make_plugin_manager
from .threads import check_threads
from .validation import (
    as_dtype,
    as_matrix,
    check_layers,
    check_positive,
    check_xy,
)


@dataclass
class TrainResult:
    """What a run produced.

    ``params``: ``[(W1, b1), ...]`` copies; ``history``: the loss of every
    epoch run; ``val_history``: the validation loss per epoch (empty without
    validation data); ``stop_reason``: e.g. ``"max_epochs"``; ``network``: the
    trained :class:`Network`, also used by :meth:`predict` and :meth:`save`.
    """

    network: Network
    history: list[float]
    stop_reason: str
    val_history: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    config: dict = field(default_factory=dict)
    components: dict = field(default_factory=dict)

    @property
    def params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.network.params

    @property
    def epochs(self) -> int:
        return len(self.history)

    final_loss: float | None = None
    final_val_loss: float | None = None

    @property
    def loss(self) -> float:
        """The training loss of the parameters returned (``nan`` if no epoch ran).

        Usually the last epoch's; when a stop criterion restored earlier
        parameters (``patience``), the loss those parameters scored.
        """
        if self.final_loss is not None:
            return self.final_loss
        return self.history[-1] if self.history else math.nan

    @property
    def val_loss(self) -> float | None:
        """The validation loss of the parameters returned, or ``None`` without
        validation data."""
        if self.final_val_loss is not None:
            return self.final_val_loss
        return self.val_history[-1] if self.val_history else None

    def predict(self, X) -> np.ndarray:
        """The network's output for ``X``: ``(n_samples, layers[-1])``."""
        return self.network.predict(X)

    def save(self, path) -> "Path":
        """Write the model to ``path`` (``.npz`` + JSON metadata), atomically;
        return the path written (``.npz`` appended when missing)."""
        from .io.model import save  # io.model reads TrainResult's fields, not its class

        return save(self, path)


class Trainer:
    """A reusable training configuration with its own plugin manager.

    ``Trainer(layers, **options).fit(X, y)`` is ``deltarule.train(X, y,
    layers=layers, **options)``.  A trainer keeps the last run's network and
    optimizer, so :meth:`partial_fit` continues where :meth:`fit` stopped.
    Two trainers never share anything.

    Options (defaults in brackets):

    - ``layers``: widths ``[n_inputs, hidden..., n_outputs]`` [inferred:
      ``[n_features, 3, n_outputs]``, the document's hidden width];
    - ``activation`` ["sigmoid"], ``loss`` ["mse"], ``optimizer`` ["sgd"],
      ``init`` ["randn"]: a name, a ``(name, {options})`` pair, or a
      component object; ``activation`` may also be a list, one per layer;
      ``init`` may also be an explicit ``[(W1, b1), ...]``;
    - ``lr`` [0.1] and ``optimizer_options`` [None]: the optimizer's
      hyper-parameters;
    - stop criteria: ``max_epochs`` [10000], ``target_loss``, ``patience`` with
      ``min_delta`` [0.0], ``time_budget`` (seconds), ``gradient_tol``;
    - ``batch_size`` [None: full batch], ``shuffle`` [True];
    - ``validation_split`` (a fraction held out) or ``validation_data=`` in
      :meth:`fit`;
    - ``seed`` [None]: int or Generator, the only source of randomness;
    - ``dtype`` ["float64"] or "float32", end to end;
    - ``threads`` [None]: cap the BLAS threads during the run (threadpoolctl);
    - ``l2`` [0.0]: the L2 penalty ``½ l2 Σ_l ‖W_l‖²`` on the weights (not the
      biases), added to every batch's loss and divided, like a ``"mean"``
      loss, by the batch's rows (its total sample weight);
    - ``plugins``: objects, modules or ``"module:attr"`` paths for this
      trainer only; ``entry_points`` [None: unless
      ``DELTARULE_DISABLE_PLUGIN_AUTOLOAD`` is set] loads the ``deltarule``
      entry-point group.
    """

    def __init__(self, layers=None, *, plugins: Sequence[Any] = (),
                 entry_points: bool | None = None, **options):
        unknown = sorted(set(options) - set(DEFAULTS))
        if unknown:
            raise UnknownOptionError(unknown_run_options(unknown))
        self.layers = None if layers is None else check_layers(layers)
        self.config = {**DEFAULTS, **options}
        self.registry: Registry = make_plugin_manager(plugins, entry_points=entry_points)
        self._check_config()
        self.catalogue = self.registry.catalogue()
        self.network: Network | None = None
        self.optimizer = None
        self.result: TrainResult | None = None
        self._rng = None
        self._split_rows = None
        # resolve names now, so an unknown name fails before any data is read
        self._loss = self._component("losses", self.config["loss"])
        self._optimizer_factory = self._resolve_optimizer()
        init = self.config["init"]
        if isinstance(init, str) or is_pair(init):
            self._init = self._component("initializers", init)
        elif callable(init):
            self._init = init  # a component, or a plain function(layers, rng, dtype)
        else:
            self._init = None  # explicit [(W1, b1), ...], checked against the layers
        acts = self.config["activation"]
        self._per_layer = isinstance(acts, list) or (
            isinstance(acts, tuple) and not is_pair(acts)
        )
        if not self._per_layer:
            acts = [acts]
        self._acts = [self._component("activations", a) for a in acts]

    # -- configuration -------------------------------------------------
    def _check_config(self) -> None:
        c = self.config
        c["lr"] = check_positive(c["lr"], "lr (the learning rate)")
        l2 = c["l2"]
        if isinstance(l2, bool) or not isinstance(l2, numbers.Real) \
                or not (math.isfinite(l2) and l2 >= 0):
            raise ConfigError(
                f"l2 (the penalty ½ l2 Σ‖W‖² on the weights) must be a number ≥ 0, got {l2!r}"
            )
        c["l2"] = float(l2)
        c["max_epochs"] = check_positive(c["max_epochs"], "max_epochs", integer=True,
                                         allow_none=True)
        c["batch_size"] = check_positive(c["batch_size"], "batch_size", integer=True,
                                         allow_none=True)
        c["patience"] = check_positive(c["patience"], "patience", integer=True,
                                       allow_none=True)
        c["time_budget"] = check_positive(c["time_budget"], "time_budget (seconds)",
                                          allow_none=True)
        c["gradient_tol"] = check_positive(c["gradient_tol"], "gradient_tol",
                                           allow_none=True)
        if c["target_loss"] is not None:
            t = c["target_loss"]
            if isinstance(t, bool) or not isinstance(t, (int, float, np.floating)) \
                    or math.isnan(t):
                raise ConfigError(f"target_loss must be a number or None, got {t!r}")
            c["target_loss"] = float(t)
        md = c["min_delta"]
        if isinstance(md, bool) or not isinstance(md, (int, float, np.floating)) \
                or not md >= 0:
            raise ConfigError(f"min_delta must be a number ≥ 0, got {md!r}")
        vs = c["validation_split"]
        if vs is not None and (isinstance(vs, bool) or not isinstance(vs, numbers.Real)
                               or not 0 < vs < 1):
            raise ConfigError(
                f"validation_split must be a fraction strictly between 0 and 1, got {vs!r}"
            )
        if c["max_epochs"] is None and all(
            c[k] is None for k in ("target_loss", "patience", "time_budget", "gradient_tol")
        ) and not self._has_third_party_stop():
            raise ConfigError(
                "max_epochs=None with no other stop criterion would train forever; "
                "set max_epochs, target_loss, patience, time_budget or gradient_tol"
            )
        c["dtype"] = as_dtype(c["dtype"]).name
        c["threads"] = check_threads(c["threads"])
        seed = c["seed"]
        if isinstance(seed, bool) or (
            seed is not None and not isinstance(seed, (int, np.integer, np.random.Generator,
                                                       np.random.SeedSequence))
        ) or (isinstance(seed, (int, np.integer)) and seed < 0):
            raise ConfigError(
                f"seed must be a non-negative int, a numpy.random.Generator or None, "
                f"got {seed!r}"
            )
        opts = c["optimizer_options"]
        if opts is not None and not isinstance(opts, dict):
            raise ConfigError(
                f"optimizer_options must be a dict such as {{'beta1': 0.9}}, got {opts!r}"
            )

    def _has_third_party_stop(self) -> bool:
        return any(
            self.registry.origins.get(impl.plugin_name) != "builtin"
            for impl in self.registry.pm.hook.deltarule_stop.get_hookimpls()
        )

    def _component(self, family: str, spec):
        """A component from a name, a ``(name, options)`` pair or an object."""
        return self.catalogue.resolve(family, spec)

    def _resolve_optimizer(self):
        spec = self.config["optimizer"]
        if isinstance(spec, str) or is_pair(spec):
            return self._component("optimizers", spec if isinstance(spec, str) else spec[0])
        if callable(getattr(spec, "step", None)) and not inspect.isclass(spec):
            return spec  # a built optimizer: deep-copied per run
        validate_component(spec, "optimizers")
        return spec

    def _build_optimizer(self):
        spec = self.config["optimizer"]
        factory = self._optimizer_factory
        if callable(getattr(factory, "step", None)) and not inspect.isclass(factory):
            return copy.deepcopy(factory)
        options = dict(self.config["optimizer_options"] or {})
        if is_pair(spec):
            options.update(spec[1])
        options.setdefault("lr", self.config["lr"])
        unknown = unknown_options_message(
            factory, options, f"optimizer {getattr(factory, 'name', factory)!r}")
        if unknown:
            raise UnknownOptionError(unknown)
        try:
            opt = factory(**options)
        except TypeError as exc:
            raise ConfigError(
                f"optimizer {getattr(factory, 'name', factory)!r} rejected options "
                f"{options}: {exc}"
            ) from None
        if not callable(getattr(opt, "step", None)):
            raise ComponentError(
                f"optimizer {getattr(factory, 'name', factory)!r} built {opt!r}, "
                "which has no step(params, grads) method"
            )
        return opt

    def _activations_for(self, n_layers: int):
        if not self._per_layer:
            return self._acts * n_layers
        if len(self._acts) != n_layers:
            raise ConfigError(
                f"activation lists {len(self._acts)} activations but the network has "
                f"{n_layers} weight layers; give one name per layer or a single name"
            )
        return list(self._acts)

    # -- data ----------------------------------------------------------
    def _prepare(self, X, y, validation_data, *, fresh: bool, sample_weight=None):
        dtype = np.dtype(self.config["dtype"])
        Xm = as_matrix(X, "X", dtype, allow_1d=False)
        ym = as_matrix(y, "y", dtype, allow_1d=True)
        wm = self._weights(sample_weight, len(Xm), dtype, "sample_weight")
        layers = self.layers
        if layers is None:
            if self.network is not None and not fresh:
                layers = self.network.layers
            else:
                layers = (Xm.shape[1], 3, ym.shape[1])  # the document's hidden width
        check_xy(Xm, ym, layers)
        self._check_targets(ym, "y")
        if self.network is not None and not fresh and self.network.layers != layers:
            raise ConfigError("partial_fit data does not match the trained network")
        val = None
        if validation_data is not None and self.config["validation_split"] is not None:
            raise ConfigError(
                "give validation_split or validation_data, not both: the split would "
                "be ignored"
            )
        if validation_data is not None:
            try:
                Xv, yv, *rest = validation_data
                if len(rest) > 1:
                    raise ValueError
            except (TypeError, ValueError):
                raise DataError(
                    "validation_data must be a pair (X_val, y_val) or a triple "
                    "(X_val, y_val, sample_weight_val)"
                ) from None
            Xv = as_matrix(Xv, "X_val", dtype, allow_1d=False)
            yv = as_matrix(yv, "y_val", dtype, allow_1d=True)
            check_xy(Xv, yv, layers, what=("X_val", "y_val"))
            self._check_targets(yv, "y_val")
            wv = self._weights(rest[0] if rest else None, len(Xv), dtype,
                               "sample_weight_val")
            val = (Xv, yv) if wv is None else (Xv, yv, wv)
        return layers, Xm, ym, val, wm

    def _weights(self, w, n: int, dtype, what: str):
        """Sample weights as a private ``(n,)`` array, or None; checked once."""
        if w is None:
            return None
        value = getattr(self._loss, "value", None)
        if not accepts_keyword(value, "weights"):
            raise ConfigError(
                f"loss {self._loss.name!r} does not take sample weights (its value() has "
                "no 'weights' argument); use a bundled loss or drop sample_weight"
            )
        wm = as_matrix(np.asarray(w), what, dtype, allow_1d=True)
        if wm.shape != (n, 1):
            raise DataError(
                f"{what} must hold one weight per row: shape ({n},), got "
                f"{np.shape(w)}"
            )
        wm = np.ascontiguousarray(wm[:, 0])
        if (wm < 0).any() or not wm.sum() > 0:
            raise DataError(f"{what} must be ≥ 0 with a positive sum")
        return wm

    def _check_targets(self, y, what: str) -> None:
        """The loss's own once-per-run check of the targets, if it has one."""
        check = getattr(self._loss, "check_targets", None)
        if callable(check):
            try:
                check(y)
            except ValueError as exc:
                raise DataError(f"{what}: {exc}") from None

    def _split(self, Xm, ym, rng, fresh: bool, wm=None):
        """Hold out ``validation_split`` of the rows.

        The rows drawn by :meth:`fit` are kept for :meth:`partial_fit` on data
        of the same length, so validation rows never leak into training.
        """
        if fresh or self._split_rows is None or self._split_rows[0] != len(Xm):
            self._split_rows = (len(Xm), *holdout(len(Xm), self.config["validation_split"], rng))
        _, tr, va = self._split_rows
        if wm is None:
            return Xm[tr], ym[tr], None, (Xm[va], ym[va])
        return Xm[tr], ym[tr], wm[tr], (Xm[va], ym[va], wm[va])

    def _new_network(self, layers, rng) -> Network:
        dtype = np.dtype(self.config["dtype"])
        acts = self._activations_for(len(layers) - 1)
        if self._init is None:
            params = self.config["init"]
        else:
            params = self._init(layers, rng, dtype)
        return Network(layers, acts, params, dtype)

    # -- running -------------------------------------------------------
    def fit(self, X, y, *, validation_data=None, sample_weight=None) -> TrainResult:
        """Train from freshly initialised parameters; return the result.

        ``sample_weight``: ``(n_samples,)`` weights ``≥ 0`` for the loss (see
        :mod:`deltarule.workspace`); ``validation_data`` may carry its own
        as a third item.
        """
        for _ in self._run(X, y, validation_data, fresh=True, epochs=None,
                           sample_weight=sample_weight):
            pass
        return self.result

    def steps(self, X, y, *, validation_data=None) -> Iterator[State]:
        """Train lazily: yield the :class:`State` after every epoch.

        Breaking out of the loop ends the run (``stop_reason="caller"``);
        ``trainer.result`` then holds what was reached.  The loop body runs
        with the caller's NumPy error settings; with ``threads=N`` the BLAS
        cap stays on until the run ends.
        """
        return self._run(X, y, validation_data, fresh=True, epochs=None, caller_code=True)

    def partial_fit(self, X, y, *, epochs: int = 1, validation_data=None,
                    sample_weight=None) -> TrainResult:
        """Run ``epochs`` more epochs from the current parameters (warm start)."""
        epochs = check_positive(epochs, "epochs", integer=True)
        for _ in self._run(X, y, validation_data, fresh=self.network is None,
                           epochs=epochs, sample_weight=sample_weight):
            pass
        return self.result

    def _run(self, X, y, validation_data, *, fresh: bool, epochs, caller_code=False,
             sample_weight=None):
        cfg = self.config
        layers, Xm, ym, val, wm = self._prepare(X, y, validation_data, fresh=fresh,
                                                sample_weight=sample_weight)
        if fresh or self._rng is None:
            self._rng = np.random.default_rng(cfg["seed"])
        rng = self._rng
        if val is None and cfg["validation_split"] is not None:
            Xm, ym, wm, val = self._split(Xm, ym, rng, fresh, wm)
        if fresh:
            out_act = self._activations_for(len(layers) - 1)[-1]
            problem = diagnostics.class_target(ym, getattr(out_act, "name", ""))
            if problem:
                diagnostics.warn(*problem)
        if fresh:
            self.network = self._new_network(layers, rng)
            self.optimizer = self._build_optimizer()
        net = self.network
        run_cfg = dict(cfg, layers=list(layers))
        if epochs is not None:
            run_cfg["max_epochs"] = epochs
        state = State(net, run_cfg, capacity=min(run_cfg["max_epochs"] or 0, 1 << 16))
        gen = run_epochs(self.registry, net, self._loss, self.optimizer, Xm, ym, val, state,
                         rng, caller_code=caller_code, weights=wm)
        try:
            yield from gen
        finally:
            gen.close()
            self.result = TrainResult(
                network=net.copy(),
                history=state.history.tolist(),
                val_history=state.val_history.tolist(),
                stop_reason=state.stop_reason or "caller",
                final_loss=state.restored_loss,
                final_val_loss=state.restored_val_loss,
                elapsed=state.elapsed,
                config=run_cfg,
                components={
                    "activations": [a.name for a in net.activations],
                    "loss": self._loss.name,
                    "optimizer": getattr(self.optimizer, "name", type(self.optimizer).__name__),
                },
            )
        # reached only when the run ended without an exception
        if fresh:
            for problem in diagnostics.after_run(self.result, Xm, ym):
                diagnostics.warn(*problem)


# names users reach for that deltarule spells differently
_ALIASES = {"epochs": "max_epochs", "learning_rate": "lr", "n_epochs": "max_epochs",
            "max_iter": "max_epochs", "random_state": "seed", "batch": "batch_size",
            "hidden_layer_sizes": "layers", "validation_fraction": "validation_split"}


def unknown_run_options(names) -> str:
    """"unknown training option 'epochs' (did you mean 'max_epochs'?); …"."""
    import difflib

    known = sorted(DEFAULTS)
    parts = []
    for name in names:
        hint = _ALIASES.get(name) or next(iter(
            difflib.get_close_matches(name, known, n=1, cutoff=0.6)), None)
        parts.append(f"{name!r}" + (f" (did you mean {hint!r}?)" if hint else ""))
    return (f"unknown training option {', '.join(parts)}; the options are "
            f"{', '.join(known)}")


def train(X, y, layers=None, *, activation="sigmoid", loss="mse", optimizer="sgd",
          init="randn", lr=0.1, max_epochs=10000, target_loss=None, batch_size=None,
          seed=None, plugins=(), validation_data=None, **options) -> TrainResult:
    """Train a network on ``X`` (``(n_samples, n_features)``) and ``y``.

    ``layers`` lists the layer widths, inputs first (default: one hidden
    layer of 3 units, the document's network).  ``activation`` is one name or
    component for every layer, or a list with one per layer; ``init`` a name
    or an explicit ``[(W1, b1), ...]``; ``plugins`` objects, modules or
    ``"module:attr"`` paths to register for this run only.  Further options
    (``dtype``, ``validation_split``, ``patience``, ``optimizer_options``, …)
    are those of :class:`Trainer`.
    """
    trainer = Trainer(
        layers, activation=activation, loss=loss, optimizer=optimizer, init=init,
        lr=lr, max_epochs=max_epochs, target_loss=target_loss, batch_size=batch_size,
        seed=seed, plugins=plugins, **options,
    )
    return trainer.fit(X, y, validation_data=validation_data)

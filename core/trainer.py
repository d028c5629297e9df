"""``Trainer``, ``train`` and ``TrainResult``: one run, from options to result.

The trainer checks the options, resolves every component from the
catalogue once, prepares the data and the network, then hands them to the
epoch loop (:mod:`deltarule.loop`) and builds the :class:`TrainResult`
from the run's log.
"""

from __future__ import annotations

import copy
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

from . import config, diagnostics
from .catalogue import is_pair, unknown_options_message
from .errors import (
    ComponentError,
    ConfigError,
    DataError,
    DeltaRuleError,
    PluginError,
    UnknownOptionError,
)
from .faults import component_suspect, describe_exception, plugin_fault, probe, run_suspects
from .loop import Run, RunLog, State, full_loss, validation_scale
from .network import Network
from .protocols import capabilities, validate_component
from .registry import Registry, make_registry
from .validation import as_matrix, check_network_memory, check_positive, check_xy


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
    final_loss: float | None = None
    final_val_loss: float | None = None

    @classmethod
    def from_log(cls, log: RunLog, network: Network, config: dict,
                 components: dict) -> "TrainResult":
        """The result of a run from its :class:`~deltarule.loop.RunLog`."""
        return cls(
            network=network,
            history=log.history.tolist(),
            val_history=log.val_history.tolist(),
            stop_reason=log.stop_reason or "caller",
            elapsed=log.elapsed,
            config=config,
            components=components,
            final_loss=log.restored_loss,
            final_val_loss=log.restored_val_loss,
        )

    @property
    def params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return self.network.params

    @property
    def epochs(self) -> int:
        return len(self.history)

    @property
    def loss(self) -> float:
        """The training loss of the parameters returned (``nan`` if no epoch ran).

        Usually the last epoch's; when the run ended on other parameters (a
        stop criterion such as ``patience`` restored the best ones, or the
        divergence guard the last finite ones), the loss those parameters
        score on the whole training set.
        """
        if self.final_loss is not None:
            return self.final_loss
        return float(self.history[-1]) if len(self.history) else math.nan

    @property
    def val_loss(self) -> float | None:
        """The validation loss of the parameters returned, or ``None`` without
        validation data."""
        if self.final_val_loss is not None:
            return self.final_val_loss
        return float(self.val_history[-1]) if len(self.val_history) else None

    def predict(self, X) -> np.ndarray:
        """The network's output for ``X``: ``(n_samples, layers[-1])``."""
        return self.network.predict(X)

    def save(self, path) -> Path:
        """Write the model to ``path`` (``.npz`` + JSON metadata), atomically;
        return the path written (``.npz`` appended when missing), as
        :func:`deltarule.save` does."""
        from .io.model import save  # io.model reads TrainResult's fields, not its class

        return save(self, path)


@dataclass
class ModelResult(TrainResult):
    """One model of a :meth:`Trainer.fit_many` run: a :class:`TrainResult`
    whose ``history`` is a read-only float64 array, plus the model's
    ``index`` in the run, its ``seed`` and its grid ``settings``."""

    index: int = 0
    seed: int = 0
    settings: dict = field(default_factory=dict)

    def save(self, path) -> Path:
        """As :meth:`TrainResult.save`: write the model, return the path written."""
        from .io.model import save

        return save(TrainResult(self.network, list(self.history), self.stop_reason,
                                list(self.val_history), self.elapsed, self.config,
                                self.components), path)


class Trainer:
    """A reusable training configuration with its own plugin manager.

    ``Trainer(layers, **options).fit(X, y)`` is ``deltarule.train(X, y,
    layers=layers, **options)``.  A trainer keeps the last run's network and
    optimizer, so :meth:`partial_fit` continues where :meth:`fit` stopped.
    Two trainers never share anything.

    ``options`` are the run options of :mod:`deltarule.config` — each
    defined there once, with its default and check (the table is in
    docs/components.md, "Run options") — plus those the registered plugins
    declare with ``deltarule_options``.  In short: ``layers``, the
    components ``activation``, ``loss``, ``optimizer``, ``init`` (a name, a
    ``(name, {options})`` pair or an object), ``lr`` and
    ``optimizer_options``, the stop criteria ``max_epochs``, ``target_loss``,
    ``patience``/``min_delta``, ``time_budget``, ``gradient_tol``,
    ``batch_size``/``shuffle``, ``validation_split`` (or ``validation_data=``
    in :meth:`fit`), ``seed``, ``dtype`` and ``threads``.  :attr:`options`
    holds this trainer's :class:`~deltarule.Option` objects by name and
    :attr:`config` the values in force.

    ``plugins``: objects, modules or ``"module:attr"`` paths for this
    trainer only; ``entry_points`` [None: unless
    ``DELTARULE_DISABLE_PLUGIN_AUTOLOAD`` is set] loads the ``deltarule``
    entry-point group.
    """

    def __init__(self, layers=None, *, plugins: Sequence[Any] = (),
                 entry_points: bool | None = None, **options):
        self.registry: Registry = make_registry(plugins, entry_points=entry_points)
        #: every option this trainer accepts: the core ones and its plugins' (by name)
        self.options = config.declared(self.registry)
        self.config = config.resolve(
            {**options, "layers": layers},
            self.options,
        )
        self.layers = self.config["layers"]
        config.check_can_stop(self.config, self.options, self._has_third_party_stop())
        self.catalogue = self.registry.catalogue()
        self.network: Network | None = None
        self.optimizer = None
        self.result: TrainResult | None = None
        self._rng = None
        self._split_rows = None
        self._probed = None  # the batch rows the components were last probed on
        #: ``(train_rows, validation_rows)`` of the last run's ``validation_split``
        #: (index arrays into the X given to fit), or ``None``
        self.validation_rows: tuple[np.ndarray, np.ndarray] | None = None
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
    def _has_third_party_stop(self) -> bool:
        impls = self.registry.implementations("deltarule_stop", wrappers="defer")
        if impls is None:
            return True  # only a user plugin can add a wrapper
        return any(impl.origin != "builtin" for impl in impls)

    def _component(self, family: str, spec):
        """A component from a name, a ``(name, options)`` pair or an object."""
        return self.catalogue.resolve(family, spec)

    def _resolve_optimizer(self):
        spec = self.config["optimizer"]
        if isinstance(spec, str) or is_pair(spec):
            return self._component("optimizers", spec if isinstance(spec, str) else spec[0])
        if capabilities(spec).step:
            return spec  # a built optimizer: deep-copied per run
        validate_component(spec, "optimizers")
        return spec

    def _build_optimizer(self):
        spec = self.config["optimizer"]
        factory = self._optimizer_factory
        if capabilities(factory).step:
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
        except DeltaRuleError:
            raise
        except Exception as exc:
            suspect = component_suspect(self.catalogue, "optimizers", factory)
            raise PluginError(f"{suspect.who()} failed before the first epoch: "
                              f"{suspect.target('call')} (building the optimizer) raised "
                              f"{describe_exception(exc)}") from exc
        if not capabilities(opt).step:
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
        if not capabilities(self._loss).value_weights:
            raise ConfigError(
                f"loss {self._loss.name!r} does not take sample weights (its value() has "
                "no 'weights' argument); use a bundled loss or drop sample_weight"
            )
        wm = as_matrix(np.asarray(w), what, dtype, allow_1d=True)
        if wm.shape != (n, 1):
            raise DataError(
                f"{what} must hold one weight per row: shape ({n},), got {np.shape(w)}"
            )
        wm = np.ascontiguousarray(wm[:, 0])
        if (wm < 0).any():
            row = int(np.flatnonzero(wm < 0)[0])
            raise DataError(f"{what} must be ≥ 0, but row {row} holds {float(wm[row]):g}")
        if not wm.sum() > 0:
            raise DataError(f"{what} is zero for every row; at least one weight must be "
                            "above zero")
        return wm

    def _check_targets(self, y, what: str) -> None:
        """The loss's own once-per-run check of the targets, if it has one."""
        if capabilities(self._loss).check_targets:
            try:
                self._loss.check_targets(y)
            except DeltaRuleError:
                raise
            except ValueError as exc:
                raise DataError(f"{what}: {exc}") from None
            except Exception as exc:
                suspect = component_suspect(self.catalogue, "losses", self._loss)
                raise PluginError(f"{suspect.who()} failed before the first epoch: "
                                  f"{suspect.target('check_targets()')} raised "
                                  f"{describe_exception(exc)}") from exc

    def _split(self, Xm, ym, split_rng, fresh: bool, wm=None):
        """Hold out ``validation_split`` of the rows, drawn from ``split_rng()``.

        The rows drawn by :meth:`fit` are kept for :meth:`partial_fit` on data
        of the same length, so validation rows never leak into training.
        """
        if fresh or self._split_rows is None or self._split_rows[0] != len(Xm):
            rows = holdout(len(Xm), self.config["validation_split"], split_rng())
            self._split_rows = (len(Xm), *rows)
        _, tr, va = self._split_rows
        self.validation_rows = (tr.copy(), va.copy())
        if wm is None:
            return Xm[tr], ym[tr], None, (Xm[va], ym[va])
        return Xm[tr], ym[tr], wm[tr], (Xm[va], ym[va], wm[va])

    def _new_network(self, layers, rng) -> Network:
        dtype = np.dtype(self.config["dtype"])
        acts = self._activations_for(len(layers) - 1)
        if self._init is None:
            return Network(layers, acts, self.config["init"], dtype)
        suspect = component_suspect(self.catalogue, "initializers", self._init)
        try:
            params = self._init(layers, rng, dtype)
        except Exception as exc:
            raise PluginError(f"{suspect.who()} failed before the first epoch: "
                              f"{suspect.target('call')} raised "
                              f"{describe_exception(exc)}") from exc
        try:
            return Network(layers, acts, params, dtype)
        except DataError as exc:  # the initializer's result does not fit the layers
            raise PluginError(f"{suspect.who()} failed before the first epoch: "
                              f"{suspect.target('call')} returned parameters that do not "
                              f"fit layers={list(layers)}: {exc}") from exc

    # -- running -------------------------------------------------------
    def fit(self, X, y, *, validation_data=None, sample_weight=None) -> TrainResult:
        """Train from freshly initialised parameters; return the result.

        ``sample_weight``: ``(n_samples,)`` weights ``≥ 0`` of the rows in the
        loss (see :mod:`deltarule.workspace`); ``validation_data`` may carry
        the validation rows' weights as a third item.  Ctrl-C ends the run:
        ``trainer.result`` keeps the parameters reached, and the
        ``KeyboardInterrupt`` goes on to the caller.
        """
        _drain(self._run(X, y, validation_data, fresh=True, epochs=None,
                         sample_weight=sample_weight))
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
        _drain(self._run(X, y, validation_data, fresh=self.network is None, epochs=epochs,
                         sample_weight=sample_weight))
        return self.result

    def fit_many(self, X, y, seeds, *, grid=None, validation_data=None,
                 converged=("target_loss",), on_done=None):
        """Train one network per seed and grid setting, stacked; a ``ManyResult``.

        ``seeds``: the seeds (each model's only source of randomness, as
        ``seed=`` is for :meth:`fit`); ``grid``: ``{option: [values, ...]}``
        over ``layers``, ``batch_size``, ``validation_split``, ``lr``,
        ``max_epochs``, ``target_loss``, ``patience``, ``min_delta``,
        ``time_budget``, ``gradient_tol``; every combination runs with every
        seed.  Models of one shape train together along a leading model axis
        (:mod:`deltarule.stacked`); each ends as :meth:`fit` with its seed
        and settings would.  ``converged``: the stop reasons (or a predicate
        ``result -> bool``) the summary counts as convergence; ``on_done(k)``
        is called whenever ``k`` more models have stopped.  Ctrl-C ends the
        run: what finished is kept (``result.interrupted``).
        """
        from .stacked import expand_grid

        return self.fit_models(X, y, expand_grid(check_grid(grid), check_seeds(seeds)),
                               validation_data=validation_data, converged=converged,
                               on_done=on_done)

    def fit_models(self, X, y, specs, *, validation_data=None, converged=("target_loss",),
                   on_done=None):
        """:meth:`fit_many` for the given ``ModelSpec`` s (also one chunk of a
        distributed run); the grid settings are in each spec."""
        import time
        import warnings

        from .stacked import ManyResult, PerModelWarning, fallback_notes, run_group

        if self.config["seed"] is not None:
            raise ConfigError("fit_many takes its seeds from seeds=, not from seed=")
        if self.config["l2"]:
            raise ConfigError(
                "fit_many does not take the l2 option yet: the stacked models would "
                "train without it; use fit() per model for an L2 penalty"
            )
        started = time.perf_counter()
        results: list = [None] * len(specs)
        position = {spec.index: i for i, spec in enumerate(specs)}
        notes, interrupted = [], False
        for ((layers, batch), members), on_fault in self.probe_stacks(X, y, specs,
                                                                        validation_data):
            if interrupted:
                break
            starts = [self._model_start(spec, trainer, layers, data)
                      for spec, trainer, data in members]
            acts = members[0][1]._activations_for(len(layers) - 1)
            for note in fallback_notes(self.registry, [("activation", a) for a in acts]
                                       + [("loss", self._loss),
                                          ("optimizer", starts[0].optimizer)]):
                if note not in notes:
                    notes.append(note)
                    warnings.warn(note, PerModelWarning, stacklevel=3)
            outcomes, interrupted = run_group(
                self.registry, layers, acts, self._loss, starts, batch_size=batch,
                shuffle=self.config["shuffle"], threads=self.config["threads"],
                on_done=on_done, on_fault=on_fault)
            components = {"activations": [a.name for a in acts], "loss": self._loss.name,
                          "optimizer": getattr(starts[0].optimizer, "name",
                                               type(starts[0].optimizer).__name__)}
            for (spec, _, _), start, out in zip(members, starts, outcomes):
                if out is not None:  # None: Ctrl-C before its stack started, not run
                    results[position[spec.index]] = self._model_result(spec, start, out,
                                                                       components)
        return ManyResult(list(specs), results, converged=converged, notes=notes,
                          interrupted=interrupted, elapsed=time.perf_counter() - started)

    def _model_result(self, spec, start, out, components):
        """The :class:`ModelResult` of one stacked model, as a single run reports it."""
        final_loss = final_val_loss = None
        if out.restored:  # as a single run reports it: the returned parameters'
            final_loss = full_loss(out.network, self._loss, start.X, start.y)
            if start.val is not None:
                final_val_loss = full_loss(out.network, self._loss, *start.val) \
                    * validation_scale(self._loss, len(start.X), start.val)
        return ModelResult(
            network=out.network, history=out.history, stop_reason=out.stop_reason,
            val_history=out.val_history, elapsed=out.elapsed, config=start.config,
            components=components, index=spec.index, seed=spec.seed,
            settings=dict(spec.settings), final_loss=final_loss,
            final_val_loss=final_val_loss)

    def probe_stacks(self, X, y, specs, validation_data=None):
        """The models of a many-model run by stack, each stack's components probed.

        ``[(((layers, batch_size), members), on_fault), ...]``: every option
        and the component contract are checked on one model of every stack
        (:meth:`_probe_stack`) before any epoch runs, so a broken plugin
        fails before training (and, for a distributed run, before anything
        is sent to a worker).  ``members`` are ``(spec, trainer, data)``.
        """
        groups = self._groups(X, y, specs, validation_data)
        return [(group, self._probe_stack(group[0][0], group[1])) for group in groups]

    def _groups(self, X, y, specs, validation_data):
        """``[((layers, batch_size), [(spec, trainer, prepared data), ...]), ...]``:
        the models by stack, each setting's trainer and data prepared once."""
        from .stacked import SHAPE_OPTIONS

        prepared_for, groups = {}, {}
        for spec in specs:
            key = repr(sorted(spec.settings.items()))
            if key not in prepared_for:
                trainer = self.with_settings(spec.settings)
                prepared_for[key] = (trainer, trainer._prepare(X, y, validation_data,
                                                                fresh=True)[:4])
            trainer, (layers, Xm, ym, val) = prepared_for[key]
            c = trainer.config
            # one stack per shape; within it an option is None for all or none
            group = (layers, c["batch_size"],
                     tuple(c[k] for k in SHAPE_OPTIONS if k not in ("layers", "batch_size")),
                     tuple(sorted((k, v is None) for k, v in spec.settings.items())))
            groups.setdefault(group, []).append((spec, trainer, (Xm, ym, val)))
        return [(key[:2], members) for key, members in groups.items()]

    def _probe_stack(self, layers, members):
        """:func:`~deltarule.faults.probe` on one model of a stack; its ``on_fault``.

        A component without the model axis is called once per model on that
        model's 2-D arrays, which are the calls of a single run: the probe
        makes them on the first model's real shapes (its initial parameters,
        its first batch), as :meth:`fit` does.  Skipped, as there, when every
        component is deltarule's own.  ``on_fault(exc, epoch)``: the
        :class:`PluginError` naming the plugin behind an exception of the
        stacked run (see :func:`~deltarule.faults.plugin_fault`), or ``None``.
        """
        from types import SimpleNamespace

        from .faults import bundled
        from .stacked import unflatten

        spec, trainer, data = members[0]
        acts = trainer._activations_for(len(layers) - 1)
        optimizer = trainer._build_optimizer()
        probe_args = dict(catalogue=self.catalogue, optimizer_factory=self._optimizer_factory)

        def check(epoch=0):
            start = trainer._model_start(spec, trainer, layers, data)
            net = Network(layers, acts, unflatten(start.theta, layers), start.theta.dtype)
            rows = min(len(start.X), trainer.config["batch_size"] or len(start.X))
            probe(net, self._loss, start.optimizer, start.X[:rows], start.y[:rows],
                  epoch=epoch, **probe_args)

        own = [*acts, self._loss, optimizer] + ([self._init] if self._init else [])
        if not all(bundled(c) for c in own):
            check()

        def on_fault(exc, epoch):
            if isinstance(exc, DeltaRuleError) and not isinstance(exc, PluginError):
                return None  # deltarule's own error, meant as it is
            suspects = run_suspects(self.registry, self.catalogue,
                                    SimpleNamespace(activations=acts), self._loss,
                                    optimizer, self._optimizer_factory)
            return plugin_fault(exc, epoch=epoch, suspects=suspects,
                                reprobe=lambda: check(epoch))
        return on_fault

    def _model_start(self, spec, trainer, layers, data):
        """One model as :meth:`_run` starts a fresh run with ``seed=spec.seed``."""
        from .stacked import ModelStart

        Xm, ym, val = data
        rng = np.random.default_rng(spec.seed)
        if val is None and trainer.config["validation_split"] is not None:
            Xm, ym, _, val = trainer._split(Xm, ym, lambda: split_stream(rng), True)
        net = trainer._new_network(layers, rng)
        run_cfg = dict(trainer.config, layers=list(layers), seed=spec.seed)
        return ModelStart(spec.index, spec.seed, net.theta, trainer._build_optimizer(), rng,
                          Xm, ym, val, run_cfg)

    def with_settings(self, settings: dict) -> "Trainer":
        """A shallow copy of this trainer with the options ``settings`` changed
        (each checked as :class:`Trainer` checks it); shares the plugins."""
        trainer = copy.copy(self)
        trainer.config = config.resolve({**self.config, **settings}, self.options)
        trainer.layers = trainer.config["layers"]
        config.check_can_stop(trainer.config, self.options, self._has_third_party_stop())
        trainer.network = trainer.optimizer = trainer.result = None
        trainer._rng = trainer._split_rows = None
        return trainer

    def _run(self, X, y, validation_data, *, fresh: bool, epochs, caller_code=False,
             sample_weight=None):
        cfg = self.config
        layers, Xm, ym, val, wm = self._prepare(X, y, validation_data, fresh=fresh,
                                                sample_weight=sample_weight)
        if fresh or self._rng is None:
            self._rng = np.random.default_rng(cfg["seed"])
        rng = self._rng
        self.validation_rows = None
        if val is None and cfg["validation_split"] is not None:
            Xm, ym, wm, val = self._split(Xm, ym, lambda: split_stream(rng), fresh, wm)
        if fresh:
            self._warn_class_target(ym, layers)
            # the parameters and the workspace's buffers must fit, checked before either
            rows = min(len(Xm), cfg["batch_size"] or len(Xm))
            check_network_memory(layers, cfg["dtype"], rows=rows)
            self.network = self._new_network(layers, rng)
            self.optimizer = self._build_optimizer()
        net = self.network
        run_cfg = dict(cfg, layers=list(layers))
        if epochs is not None:
            run_cfg["max_epochs"] = epochs
        rows = min(len(Xm), cfg["batch_size"] or len(Xm))
        if fresh or self._probed != rows:
            # the component contract, on this run's shapes, before the first epoch
            # (partial_fit continuing on batches of the same size needs no new probe)
            probe(net, self._loss, self.optimizer, Xm[:rows], ym[:rows],
                  catalogue=self.catalogue, optimizer_factory=self._optimizer_factory)
            self._probed = rows

        def on_fault(exc, epoch):
            """A PluginError naming the plugin behind ``exc``, if one can be found."""
            suspects = run_suspects(self.registry, self.catalogue, net, self._loss,
                                    self.optimizer, self._optimizer_factory)
            return plugin_fault(exc, epoch=epoch, suspects=suspects, reprobe=lambda: probe(
                net, self._loss, self.optimizer, Xm[:rows], ym[:rows],
                catalogue=self.catalogue, optimizer_factory=self._optimizer_factory,
                epoch=epoch))

        run = Run(self.registry, net, self._loss, self.optimizer, Xm, ym, val, run_cfg, rng,
                  weights=wm, on_fault=on_fault)
        log, gen = run.log, run.epochs(caller_code=caller_code)
        del run  # the workspaces go with the generator, before the result is built
        try:
            yield from gen
        finally:
            gen.close()
            del gen
            self.result = TrainResult.from_log(log, net.copy(), run_cfg, {
                "activations": [a.name for a in net.activations],
                "loss": self._loss.name,
                "optimizer": getattr(self.optimizer, "name", type(self.optimizer).__name__),
            })
        if fresh:  # reached only when the run ended without an exception
            self._warn_after(Xm, ym)

    def _warn_class_target(self, ym, layers) -> None:
        """Before a fresh run: class labels about to be trained as numbers."""
        out_act = self._activations_for(len(layers) - 1)[-1]
        problem = diagnostics.class_target(ym, getattr(out_act, "name", ""))
        if problem:
            diagnostics.warn(*problem)

    def _warn_after(self, Xm, ym) -> None:
        """After a fresh run: what its numbers say (see :mod:`deltarule.diagnostics`)."""
        for problem in diagnostics.after_run(self.result, Xm, ym):
            diagnostics.warn(*problem)


def _drain(run) -> None:
    """Run the generator ``run`` to its end.

    A Ctrl-C that lands between two epochs (outside the generator) is thrown
    into it, so it ends the run like one landing inside an epoch: stop reason
    ``"interrupted"``, the parameters reached kept.  One raised before or
    after the epochs propagates.
    """
    try:
        for _ in run:
            pass
    except KeyboardInterrupt as exc:
        try:
            run.throw(exc)
        except StopIteration:
            pass


def split_stream(rng: np.random.Generator) -> np.random.Generator:
    """The stream the validation rows are drawn from: a child of the run's seed.

    Stream layout of a run with ``seed``: the run's generator
    ``default_rng(seed)`` draws the initial weights, then every epoch's
    shuffle of the rows; the validation rows come from its first child
    stream (``SeedSequence(seed).spawn(1)[0]`` for an int seed), which
    draws nothing from the run's generator.  So the initial weights and the
    shuffles are the same with and without ``validation_split``, and the
    command line and the library hold out the same rows for the same seed.
    """
    seed_seq = getattr(rng.bit_generator, "seed_seq", None)
    if isinstance(seed_seq, np.random.SeedSequence):
        # spawn() from a copy: the caller's sequence keeps its child counter,
        # so every fit with the same seed holds out the same rows
        child = copy.deepcopy(seed_seq).spawn(1)[0]
        return np.random.Generator(type(rng.bit_generator)(child))
    # a bit generator without a seed sequence: an independent copy of its state
    return copy.deepcopy(rng)


def holdout(n: int, fraction: float, rng: np.random.Generator):
    """Row indices ``(train, validation)``: a random ``fraction`` held out.

    ``round(n · fraction)`` rows are held out; both parts must keep at least
    one row.  Only ``rng`` is used for randomness.
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) \
            or not 0 < fraction < 1:
        raise ConfigError(
            f"the validation split must be a fraction strictly between 0 and 1, "
            f"got {fraction!r}"
        )
    n_val = int(round(n * fraction))
    if n_val < 1 or n_val >= n:
        raise ConfigError(
            f"a validation split of {fraction} of {n} samples leaves {n - n_val} for "
            f"training and {n_val} for validation; both need at least 1"
        )
    order = rng.permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def check_grid(grid) -> dict:
    if grid is None:
        return {}
    if not isinstance(grid, dict):
        raise ConfigError(f"grid must be a dict {{option: [values, ...]}}, got {grid!r}")
    out = {}
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise ConfigError(f"grid[{key!r}] must be a list of values, got {values!r}")
        values = list(values)
        if not values:
            raise ConfigError(f"grid[{key!r}] is empty; give at least one value")
        out[key] = values
    return out


def check_seeds(seeds) -> list[int]:
    """``seeds`` as a list of ints ≥ 0: an iterable of them, or ``n`` for ``0 … n−1``."""
    if isinstance(seeds, (int, np.integer)) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ConfigError(f"seeds={seeds!r}: give a count ≥ 1 or a list of seeds")
        return list(range(int(seeds)))
    try:
        out = list(seeds)
    except TypeError:
        raise ConfigError(
            f"seeds must be a list of whole numbers ≥ 0 (or a count), got {seeds!r}"
        ) from None
    for s in out:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ConfigError(f"seeds must be whole numbers ≥ 0, got {s!r}")
    if not out:
        raise ConfigError("seeds is empty; give at least one seed")
    return [int(s) for s in out]


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

"""The training loop: the seed's five steps, with every step from a plugin.

Per epoch: forward through every layer, the loss, the delta rule backward,
one optimizer step (per batch), then the stop criteria and the observers.
Components are resolved from the hooks once per run; the per-step path calls
their bound methods directly and never goes through ``pm.hook``.
"""

from __future__ import annotations

import copy
import inspect
import math
import numbers
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Sequence

import numpy as np

from .errors import ComponentError, ConfigError, DataError
from .manager import Registry, check_component, make_plugin_manager
from .network import Network, Workspace
from .threads import check_threads, limit_blas_threads
from .validation import (
    as_dtype,
    as_matrix,
    check_layers,
    check_network_memory,
    check_positive,
    check_xy,
)


class State:
    """What stop criteria and observers see of a run; read-only for them.

    Attributes: ``epoch`` (epochs completed, 1-based), ``loss`` (training
    loss of that epoch), ``val_loss`` (``None`` without validation data),
    ``history`` / ``val_history`` (read-only arrays of the losses so far), ``params`` (read-only
    views ``[(W1, b1), ...]`` of the live parameters), ``grads`` (read-only
    views of the last batch's gradients), ``grad_norm`` (their L2 norm),
    ``elapsed`` (seconds since the run started), ``config`` (the run's
    options, read-only), ``stop_reason`` (set once the run stops), and
    ``scratch`` (a per-run dict where plugins may keep bookkeeping).
    """

    __slots__ = (
        "_epoch", "_loss", "_val_loss", "_hist", "_n", "_val_hist", "_n_val", "_net",
        "_params", "_grads", "_start", "_config", "_stop_reason", "scratch",
        "_final_params",
    )

    def __init__(self, net: Network, config: dict, history=(), val_history=(),
                 capacity: int | None = None):
        self._epoch = 0
        self._loss = math.nan
        self._val_loss = None
        # the loss logs are allocated once per run (max_epochs entries when
        # known), so an epoch allocates nothing, not even a float object
        cap = max(capacity or 0, len(history), len(val_history), 16)
        self._hist = np.empty(cap)
        self._n = len(history)
        self._hist[: self._n] = history
        self._val_hist = np.empty(cap)
        self._n_val = len(val_history)
        self._val_hist[: self._n_val] = val_history
        self._net = net
        self._params = net.readonly_params()
        self._grads = net.readonly_grads()
        self._start = time.perf_counter()
        self._config = MappingProxyType(config)
        self._stop_reason = None
        self._final_params = None
        self.scratch: dict[str, Any] = {}

    epoch = property(lambda self: self._epoch, doc="Epochs completed so far (1-based).")
    loss = property(lambda self: self._loss, doc="Training loss of the last epoch.")
    val_loss = property(lambda self: self._val_loss, doc="Validation loss, or None.")
    params = property(lambda self: self._params, doc="Read-only [(W, b), ...] views.")
    grads = property(lambda self: self._grads, doc="Read-only gradient views.")
    config = property(lambda self: self._config, doc="The run's options (read-only).")
    stop_reason = property(lambda self: self._stop_reason, doc="Why the run stopped.")

    @property
    def history(self) -> np.ndarray:
        """The loss of every epoch so far: a read-only float64 array view."""
        return _readonly(self._hist[: self._n])

    @property
    def val_history(self) -> np.ndarray:
        """The validation loss of every epoch so far (read-only), or empty."""
        return _readonly(self._val_hist[: self._n_val])

    def _grow(self) -> None:
        """Double the loss logs (runs without a known ``max_epochs``)."""
        for attr in ("_hist", "_val_hist"):
            old = getattr(self, attr)
            new = np.empty(2 * len(old))
            new[: len(old)] = old
            setattr(self, attr, new)

    @property
    def grad_norm(self) -> float:
        """``‖∇θ L‖₂`` of the last batch (computed when asked)."""
        g = self._net.grad
        return math.sqrt(float(np.dot(g, g)))

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._start

    def set_final_params(self, params) -> None:
        """Ask the loop to end the run with ``params`` (e.g. the best seen).

        For stop criteria such as ``patience`` that restore earlier
        parameters; takes effect only if the run stops at this epoch.
        """
        self._final_params = [(np.array(W), np.array(b)) for W, b in params]

    def __repr__(self):
        return (
            f"State(epoch={self._epoch}, loss={self._loss!r}, "
            f"val_loss={self._val_loss!r}, stop_reason={self._stop_reason!r})"
        )


def _readonly(view: np.ndarray) -> np.ndarray:
    view.flags.writeable = False
    return view


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

    @property
    def loss(self) -> float:
        """The loss of the last epoch run (``nan`` if none ran)."""
        return self.history[-1] if self.history else math.nan

    def predict(self, X) -> np.ndarray:
        """The network's output for ``X``: ``(n_samples, layers[-1])``."""
        return self.network.predict(X)

    def save(self, path) -> None:
        """Write the model to ``path`` (``.npz`` + JSON metadata), atomically."""
        from .model_io import save

        save(self, path)


_DEFAULTS = dict(
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
)


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
    - ``plugins``: objects, modules or ``"module:attr"`` paths for this
      trainer only; ``entry_points`` [None: unless
      ``DELTARULE_DISABLE_PLUGIN_AUTOLOAD`` is set] loads the ``deltarule``
      entry-point group.
    """

    def __init__(self, layers=None, *, plugins: Sequence[Any] = (),
                 entry_points: bool | None = None, **options):
        unknown = sorted(set(options) - set(_DEFAULTS))
        if unknown:
            raise TypeError(
                f"unknown training option(s) {unknown}; known options: "
                f"{', '.join(sorted(_DEFAULTS))}"
            )
        self.layers = None if layers is None else check_layers(layers)
        self.config = {**_DEFAULTS, **options}
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
        if isinstance(init, str) or _is_pair(init):
            self._init = self._component("initializers", init)
        elif callable(init):
            self._init = init  # a component, or a plain function(layers, rng, dtype)
        else:
            self._init = None  # explicit [(W1, b1), ...], checked against the layers
        acts = self.config["activation"]
        self._per_layer = isinstance(acts, list) or (
            isinstance(acts, tuple) and not _is_pair(acts)
        )
        if not self._per_layer:
            acts = [acts]
        self._acts = [self._component("activations", a) for a in acts]

    # -- configuration -------------------------------------------------
    def _check_config(self) -> None:
        c = self.config
        c["lr"] = check_positive(c["lr"], "lr (the learning rate)")
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
        if isinstance(spec, str):
            return self.catalogue.get(family, spec)
        if _is_pair(spec):
            base = self.catalogue.get(family, spec[0])
            return configure(base, spec[1])
        check_component(spec, family)
        return spec

    def _resolve_optimizer(self):
        spec = self.config["optimizer"]
        if isinstance(spec, str) or _is_pair(spec):
            return self._component("optimizers", spec if isinstance(spec, str) else spec[0])
        if callable(getattr(spec, "step", None)) and not inspect.isclass(spec):
            return spec  # a built optimizer: deep-copied per run
        check_component(spec, "optimizers")
        return spec

    def _build_optimizer(self):
        spec = self.config["optimizer"]
        factory = self._optimizer_factory
        if callable(getattr(factory, "step", None)) and not inspect.isclass(factory):
            return copy.deepcopy(factory)
        options = dict(self.config["optimizer_options"] or {})
        if _is_pair(spec):
            options.update(spec[1])
        options.setdefault("lr", self.config["lr"])
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
    def _prepare(self, X, y, validation_data, *, fresh: bool):
        dtype = np.dtype(self.config["dtype"])
        Xm = as_matrix(X, "X", dtype, allow_1d=False)
        ym = as_matrix(y, "y", dtype, allow_1d=True)
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
                Xv, yv = validation_data
            except (TypeError, ValueError):
                raise DataError("validation_data must be a pair (X_val, y_val)") from None
            Xv = as_matrix(Xv, "X_val", dtype, allow_1d=False)
            yv = as_matrix(yv, "y_val", dtype, allow_1d=True)
            check_xy(Xv, yv, layers, what=("X_val", "y_val"))
            self._check_targets(yv, "y_val")
            val = (Xv, yv)
        return layers, Xm, ym, val

    def _check_targets(self, y, what: str) -> None:
        """The loss's own once-per-run check of the targets, if it has one."""
        check = getattr(self._loss, "check_targets", None)
        if callable(check):
            try:
                check(y)
            except ValueError as exc:
                raise DataError(f"{what}: {exc}") from None

    def _split(self, Xm, ym, rng, fresh: bool):
        """Hold out ``validation_split`` of the rows.

        The rows drawn by :meth:`fit` are kept for :meth:`partial_fit` on data
        of the same length, so validation rows never leak into training.
        """
        from .data_io import holdout

        if fresh or self._split_rows is None or self._split_rows[0] != len(Xm):
            self._split_rows = (len(Xm), *holdout(len(Xm), self.config["validation_split"], rng))
        _, tr, va = self._split_rows
        return Xm[tr], ym[tr], (Xm[va], ym[va])

    def _new_network(self, layers, rng) -> Network:
        dtype = np.dtype(self.config["dtype"])
        acts = self._activations_for(len(layers) - 1)
        if self._init is None:
            params = self.config["init"]
        else:
            params = self._init(layers, rng, dtype)
        return Network(layers, acts, params, dtype)

    # -- running -------------------------------------------------------
    def fit(self, X, y, *, validation_data=None) -> TrainResult:
        """Train from freshly initialised parameters; return the result."""
        for _ in self._run(X, y, validation_data, fresh=True, epochs=None):
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

    def partial_fit(self, X, y, *, epochs: int = 1, validation_data=None) -> TrainResult:
        """Run ``epochs`` more epochs from the current parameters (warm start)."""
        epochs = check_positive(epochs, "epochs", integer=True)
        for _ in self._run(X, y, validation_data, fresh=self.network is None,
                           epochs=epochs):
            pass
        return self.result

    def _run(self, X, y, validation_data, *, fresh: bool, epochs, caller_code=False):
        cfg = self.config
        layers, Xm, ym, val = self._prepare(X, y, validation_data, fresh=fresh)
        if fresh or self._rng is None:
            self._rng = np.random.default_rng(cfg["seed"])
        rng = self._rng
        if val is None and cfg["validation_split"] is not None:
            Xm, ym, val = self._split(Xm, ym, rng, fresh)
        if fresh:
            # the parameters and the workspace's buffers must fit, checked before either
            rows = min(len(Xm), cfg["batch_size"] or len(Xm))
            check_network_memory(layers, cfg["dtype"], rows=rows)
            self.network = self._new_network(layers, rng)
            self.optimizer = self._build_optimizer()
        net = self.network
        run_cfg = dict(cfg, layers=list(layers))
        if epochs is not None:
            run_cfg["max_epochs"] = epochs
        state = State(net, run_cfg, capacity=min(run_cfg["max_epochs"] or 0, 1 << 16))
        gen = _loop(self, net, Xm, ym, val, state, rng, caller_code=caller_code)
        try:
            yield from gen
        finally:
            gen.close()
            self.result = TrainResult(
                network=net.copy(),
                history=state._hist[: state._n].tolist(),
                val_history=state._val_hist[: state._n_val].tolist(),
                stop_reason=state._stop_reason or "caller",
                elapsed=state.elapsed,
                config=run_cfg,
                components={
                    "activations": [a.name for a in net.activations],
                    "loss": self._loss.name,
                    "optimizer": getattr(self.optimizer, "name", type(self.optimizer).__name__),
                },
            )


def _is_pair(spec) -> bool:
    """A ``(name, {options})`` component spec."""
    return (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)
            and isinstance(spec[1], dict))


def _direct_calls(hook):
    """The hook's implementations as plain functions, in pluggy's call order.

    ``None`` if any implementation is a wrapper (then the caller must go
    through pluggy).  Calling them directly saves pluggy's ~1.5 µs per call.
    """
    impls = hook.get_hookimpls()
    if any(i.hookwrapper or getattr(i, "wrapper", False) for i in impls):
        return None
    calls = []
    for impl in reversed(impls):
        if tuple(impl.argnames) == ("state",):
            calls.append(impl.function)
        else:  # pluggy lets an implementation take fewer arguments than the spec
            calls.append(lambda state, f=impl.function: f())
    return calls


def _loop(trainer: Trainer, net: Network, X, y, val, state: State, rng, *,
          caller_code: bool = False):
    """The epoch loop, as a generator yielding ``state`` after every epoch.

    Everything that can be decided once is decided here, before the first
    epoch: workspaces and their op lists, the stop criteria and observers as
    plain functions, the optimizer's bound ``step``.
    """
    pm = trainer.registry.pm
    cfg = state.config
    loss_c = trainer._loss
    opt_step = trainer.optimizer.step
    params, grads = [net.theta], [net.grad]
    n = len(X)
    batch = cfg["batch_size"]
    full = batch is None or batch >= n
    if full:
        ws = _filled_workspace(net, loss_c, X, y)
        fwd_ops, loss_value, bwd_ops = ws.forward_ops, ws.loss_value, ws.backward_ops
    else:
        run_batches = _batch_runner(net, loss_c, X, y, batch, cfg["shuffle"], rng,
                                    opt_step, params, grads)
    val_loss = _validation_loss(net, loss_c, *val) if val is not None else None
    # two generations of backups: the divergence guard's "last finite parameters"
    theta = net.theta
    backup = [theta.copy(), theta.copy()]

    stop_hook = pm.hook.deltarule_stop
    stop_fns = _direct_calls(stop_hook)
    epoch_end = pm.hook.deltarule_epoch_end
    end_fns = _direct_calls(epoch_end)
    has_end = bool(epoch_end.get_hookimpls())

    isfinite = math.isfinite
    copyto = np.copyto
    epoch = state._epoch
    # the loop silences NumPy's floating-point warnings (it checks the loss
    # itself); code between steps() epochs gets the caller's settings back
    outer_errstate = np.geterr() if caller_code else None
    reason = None

    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"), \
            limit_blas_threads(cfg["threads"]):
        pm.hook.deltarule_train_start(state=state)
        try:
            while reason is None:
                epoch += 1
                copyto(backup[epoch & 1], theta)
                if full:
                    for op in fwd_ops:
                        op()
                    loss = float(loss_value())
                    if isfinite(loss):
                        for op in bwd_ops:
                            op()
                        opt_step(params, grads)
                else:
                    loss = run_batches()
                if state._n == len(state._hist):
                    state._grow()
                state._hist[state._n] = loss
                state._n += 1
                state._epoch = epoch
                state._loss = loss
                if not isfinite(loss):
                    reason = "diverged"
                    _restore_finite(net, backup, epoch, X, y, loss_c)
                else:
                    if val_loss is not None:
                        v = val_loss()
                        state._val_loss = v
                        state._val_hist[state._n_val] = v
                        state._n_val += 1
                    if stop_fns is None:
                        reason = next((r for r in stop_hook(state=state) if r is not None),
                                      None)
                    else:
                        # every criterion is asked (they may keep bookkeeping);
                        # the first answer in pluggy's order is the reason
                        for f in stop_fns:
                            answer = f(state)
                            if reason is None:
                                reason = answer
                if reason is not None:
                    state._stop_reason = reason
                    if state._final_params is not None and reason != "diverged":
                        net.set_params(state._final_params)
                else:
                    state._final_params = None  # asked for by a criterion that did not stop
                if has_end:
                    if end_fns is None:
                        epoch_end(state=state)
                    else:
                        for f in end_fns:
                            f(state)
                if outer_errstate is None:
                    yield state
                else:  # the caller's loop body runs with its own NumPy error settings
                    with np.errstate(**outer_errstate):
                        yield state
        except KeyboardInterrupt:
            # Ctrl-C ends the run cleanly; the parameters reached are kept
            state._stop_reason = "interrupted"
            if not np.isfinite(theta).all():
                _restore_finite(net, backup, epoch, X, y, loss_c)
        except GeneratorExit:
            if state._stop_reason is None:
                state._stop_reason = "caller"
            raise
        except Exception:
            # a plugin (or component) raised: the parameters reached are kept
            state._stop_reason = "error"
            raise
        finally:
            if state._stop_reason is None:
                state._stop_reason = reason or "caller"
            pm.hook.deltarule_train_end(state=state)


def _filled_workspace(net: Network, loss_c, X, y, backward: bool = True) -> Workspace:
    """A workspace over the whole of ``X``, ``y`` (the run's private copies)."""
    return Workspace(net, loss_c, len(X), x=X, y=y, backward=backward)


def _batch_runner(net, loss_c, X, y, batch, shuffle, rng, opt_step, params, grads):
    """``() -> epoch loss`` for mini-batches, reshuffled each epoch with ``rng``.

    The epoch loss sums the batch losses (``reduction="sum"``) or weighs them
    by their share of the rows (``reduction="mean"``), so it is comparable
    with the full-batch loss.  A non-finite batch loss ends the epoch before
    its step.
    """
    n = len(X)
    spaces = {batch: Workspace(net, loss_c, batch)}
    if n % batch:
        spaces[n % batch] = Workspace(net, loss_c, n % batch)
    mean = getattr(loss_c, "reduction", "sum") == "mean"
    plan = []
    for start in range(0, n, batch):
        ws = spaces[min(batch, n - start)]
        weight = ws.n_rows / n if mean else 1.0
        plan.append((slice(start, start + ws.n_rows), ws.x, ws.y, ws.forward_ops,
                     ws.loss_value, ws.backward_ops, weight))
    unshuffled = np.arange(n)
    order = unshuffled.copy()
    take_x, take_y, isfinite = X.take, y.take, math.isfinite

    def run_batches() -> float:
        if shuffle:
            # from arange each epoch, so partial_fit continues exactly like one run
            np.copyto(order, unshuffled)
            rng.shuffle(order)
        total = 0.0
        for rows, xb, yb, fwd_ops, loss_value, bwd_ops, weight in plan:
            idx = order[rows]
            take_x(idx, 0, xb)
            take_y(idx, 0, yb)
            for op in fwd_ops:
                op()
            part = float(loss_value())
            if not isfinite(part):
                return part
            total += part * weight
            for op in bwd_ops:
                op()
            opt_step(params, grads)
        return total

    return run_batches


def _validation_loss(net: Network, loss_c, Xv, yv):
    """``() -> L(y_val, ŷ_val)`` with the current parameters."""
    ws = _filled_workspace(net, loss_c, Xv, yv, backward=False)
    fwd_ops, value, y_hat = ws.forward_ops, loss_c.value, ws.y_hat

    def val_loss() -> float:
        for op in fwd_ops:
            op()
        return float(value(yv, y_hat))

    return val_loss


def _restore_finite(net: Network, backup, epoch: int, X, y, loss_c) -> None:
    """Put back the newest parameters that are finite *and* score a finite loss.

    Candidates, newest first: the epoch's starting parameters, then the
    previous epoch's.  Full batch, the first scored the non-finite loss, so
    the second — the parameters behind ``history[-2]`` — is kept.  Failing
    both, the newest finite parameters are kept (never NaN parameters).
    """
    candidates = [net.theta.copy(), backup[epoch & 1], backup[(epoch + 1) & 1]]
    finite = [c for c in candidates if np.isfinite(c).all()]
    for theta in finite:
        np.copyto(net.theta, theta)
        if math.isfinite(float(loss_c.value(y, net.forward(X)))):
            return
    if finite:
        np.copyto(net.theta, finite[0])


def configure(component, options: dict):
    """A copy of ``component`` with ``options`` applied (``(name, options)`` form)."""
    if not isinstance(options, dict):
        raise ConfigError(f"component options must be a dict, got {options!r}")
    if hasattr(component, "configure"):
        return component.configure(**options)
    cls = type(component)
    try:
        return cls(**{**_current_options(component), **options})
    except TypeError as exc:
        raise ConfigError(
            f"{component.name!r} does not take options {sorted(options)}: {exc}"
        ) from None


def _current_options(component) -> dict:
    opts = getattr(component, "options", None)
    return dict(opts()) if callable(opts) else {}


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

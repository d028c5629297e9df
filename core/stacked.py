"""Many networks at once: the loop with a leading model axis.

``M`` networks of one shape are stacked along a new first axis and trained
together: every buffer of :mod:`deltarule.workspace` gains a leading model
axis, ``(M, n_samples, n_units)``, the parameters of all of them live in one
``(M, n_params)`` array, and ``np.matmul`` runs the M matrix products of a
layer in one call::

    z_l[m] = a_{l-1}[m] W_l[m] + b_l[m]           for every model m at once
    ∂L/∂W_l[m] = a_{l-1}[m]ᵀ δ_l[m]               ∂L/∂b_l[m] = Σ_samples δ_l[m]

Each model's numbers go through the very floating-point operations of a
single run (``matmul`` calls the BLAS kernel ``np.dot`` calls, per model;
losses take one BLAS dot per model), so a model of a stacked run ends with
the parameters of the single :func:`deltarule.train` run with its seed, to
the last bit in practice, and with the same stop reason at the same epoch.

Components declare that they accept the model axis with ``model_axis =
True`` (see :func:`supports_model_axis`); one that does not is called once
per model on 2-D views (correct, slower).  The same holds for plugins
implementing ``deltarule_stop`` and the observer hooks: a model-axis plugin
sees one :class:`ManyState` per epoch, any other one :class:`ModelView`
per model, which behaves like the :class:`~deltarule.State` of a single run.

Every model stops on its own: after each epoch every stop criterion judges
every model; a model that stops is frozen (its result is taken then) and
later dropped from the stack, while the others go on; the run ends when all
have stopped.  A model whose loss is not finite stops with ``"diverged"``
and gets the last finite parameters back, as a single run does, without
touching the others.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any

import numpy as np

from .errors import ComponentError, PluginError
from .faults import copy_checked
from .network import Network
from .protocols import accepts_out, capabilities, uses_vjp
from .threads import limit_blas_threads

#: options that shape the stack: models differing in them run as separate groups
SHAPE_OPTIONS = ("layers", "batch_size", "validation_split")


def is_grid_axis(values) -> bool:
    """Whether a list given for an option is a grid axis: numbers (or ``None``)."""
    import numbers

    return isinstance(values, (list, tuple)) and len(values) > 0 and all(
        v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool))
        for v in values)


def supports_model_axis(obj) -> bool:
    """Whether a component or plugin declares ``model_axis = True``."""
    return getattr(obj, "model_axis", False) is True


# ---------------------------------------------------------------- the stack
def _stacked_views(flat: np.ndarray, shapes) -> list[np.ndarray]:
    """Views ``(M, *shape)`` of each parameter block of ``flat`` ``(M, P)``."""
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        view = flat[:, start:start + size].view()
        view.shape = (flat.shape[0], *shape)  # raises rather than copying
        out.append(view)
        start += size
    return out


class StackedNetwork:
    """``M`` networks of one shape: ``theta`` and ``grad`` are ``(M, P)``.

    Row ``m`` of ``theta`` is the flat parameter vector of model ``m``, laid
    out as :class:`~deltarule.Network` lays out its own; ``weights[l]`` are
    ``(M, n_{l-1}, n_l)`` views, ``biases[l]`` ``(M, 1, n_l)`` views (they
    broadcast over the samples), ``grad_biases[l]`` ``(M, n_l)`` views.
    """

    def __init__(self, layers, activations, theta: np.ndarray):
        self.layers = tuple(layers)
        self.activations = list(activations)
        self.theta = np.ascontiguousarray(theta)
        self.dtype = self.theta.dtype
        self.grad = np.zeros_like(self.theta)
        shapes, bias_shapes = [], []
        for n_in, n_out in zip(self.layers[:-1], self.layers[1:]):
            shapes += [(n_in, n_out), (1, n_out)]
            bias_shapes += [(n_in, n_out), (n_out,)]
        views = _stacked_views(self.theta, shapes)
        gviews = _stacked_views(self.grad, bias_shapes)
        self.weights, self.biases = views[0::2], views[1::2]
        self.grad_weights, self.grad_biases = gviews[0::2], gviews[1::2]
        self.n_layers = len(self.layers) - 1

    @property
    def models(self) -> int:
        return self.theta.shape[0]


class StackedWorkspace:
    """:class:`~deltarule.workspace.Workspace` with a leading model axis.

    Buffers ``x (M, n, n_0)``, ``y (M, n, n_L)`` (or read-only views that
    broadcast one shared array over the models), ``z_l, a_l, g_l, d_l``
    ``(M, n, n_l)``.  ``loss_value()`` returns the ``(M,)`` float64 losses.
    A component without ``model_axis = True`` gets one call per model on the
    2-D views ``z[m]``, ``a[m]``, ….
    """

    def __init__(self, net: StackedNetwork, loss, n_rows: int, *, x=None, y=None,
                 backward: bool = True):
        self.net, self.loss, self.n_rows = net, loss, n_rows
        M, dt = net.models, net.dtype
        self.x = np.empty((M, n_rows, net.layers[0]), dtype=dt) if x is None else x
        self.y = np.empty((M, n_rows, net.layers[-1]), dtype=dt) if y is None else y
        shape = [(M, n_rows, n) for n in net.layers[1:]]
        self.z = [np.empty(s, dtype=dt) for s in shape]
        self.a = [np.empty(s, dtype=dt) for s in shape]
        self.y_hat = self.a[-1]
        self.forward_ops = self._forward_ops()
        if backward:
            self.g = [np.empty(s, dtype=dt) for s in shape]
            self.d = [np.empty(s, dtype=dt) for s in shape]
            self.loss_value = self._loss_op()
            self.backward_ops = self._backward_ops()

    def _forward_ops(self):
        ops, a_prev = [], self.x
        for W, b, z, a, act in zip(self.net.weights, self.net.biases, self.z, self.a,
                                   self.net.activations):
            ops += [partial(np.matmul, a_prev, W, z), partial(np.add, z, b, z)]
            ops.append(_component_op(act, act.forward, (z,), a))
            a_prev = a
        return ops

    def _loss_op(self):
        """``() -> (M,) losses``, leaving ``δ_L`` (fused) or ``∂L/∂ŷ`` in ``g_L``."""
        loss, y, y_hat, z, g = self.loss, self.y, self.y_hat, self.z[-1], self.g[-1]
        fused_for = getattr(loss, "fused_delta", None)
        self.fused = fused_for(self.net.activations[-1]) if callable(fused_for) else None
        if supports_model_axis(loss):
            op = _loss_call(loss, self.fused, y, y_hat, z, g)
            return lambda: np.asarray(op(), dtype=np.float64)
        # one 2-D call per model (views), exactly as a single run makes it
        calls = [_loss_call(loss, self.fused, y[m], y_hat[m], z[m], g[m])
                 for m in range(self.net.models)]
        return lambda: np.array([float(c()) for c in calls], dtype=np.float64)

    def _backward_ops(self):
        net = self.net
        inputs = [self.x] + self.a[:-1]
        ops, L = [], net.n_layers
        delta = None
        ones = np.ones(self.x.shape[-2], dtype=self.x.dtype)
        for l in range(L - 1, -1, -1):
            act, z, a, g, d = net.activations[l], self.z[l], self.a[l], self.g[l], self.d[l]
            if l < L - 1:  # ∂L/∂a_l = δ_{l+1} W_{l+1}ᵀ
                ops.append(partial(np.matmul, delta, net.weights[l + 1].transpose(0, 2, 1), g))
            if l == L - 1 and self.fused is not None:
                delta = g
            elif uses_vjp(act):  # as a single run chooses
                ops.append(_component_op(act, act.vjp, (z, a, g), d))
                delta = d
            elif callable(getattr(act, "derivative", None)):
                ops.append(_component_op(act, act.derivative, (z, a), d))
                ops.append(partial(np.multiply, g, d, g))
                delta = g
            else:
                raise ComponentError(
                    f"activation {act.name!r} (layer {l + 1}) has neither "
                    "derivative(z, a) nor vjp(z, a, g)"
                )
            ops.append(partial(np.matmul, inputs[l].transpose(0, 2, 1), delta,
                               net.grad_weights[l]))
            # 1ᵀ δ_l per model: the same BLAS call as a single run's
            ops.append(partial(np.matmul, ones, delta, net.grad_biases[l]))
        return ops


def _component_op(component, method, args, out):
    """An op computing ``method(*args)`` into ``out``: one call for a model-axis
    component, else one call per model on the 2-D views."""
    takes_out = accepts_out(method)
    if supports_model_axis(component):
        if takes_out:
            return partial(method, *args, out=out)
        return partial(_store, out, method, args)
    per_model = [(tuple(arg[m] for arg in args), out[m]) for m in range(out.shape[0])]
    if takes_out:
        def op():
            for margs, mout in per_model:
                method(*margs, out=mout)
    else:
        def op():
            for margs, mout in per_model:
                copy_checked(mout, method(*margs), method)
    return op


def _store(out, method, args):
    copy_checked(out, method(*args), method)


def _loss_call(loss, fused, y, y_hat, z, g):
    """``() -> L`` for one block of arrays, leaving the gradient (or fused δ) in ``g``."""
    if fused is not None:
        return partial(fused, y, y_hat, z, g)
    vg = getattr(loss, "value_and_gradient", None)
    if callable(vg) and accepts_out(vg):
        return lambda: vg(y, y_hat, out=g)[0]
    if callable(vg):
        def value_and_gradient():
            value, grad = vg(y, y_hat)
            copy_checked(g, grad, vg)
            return value
        return value_and_gradient
    value, gradient = loss.value, loss.gradient
    if accepts_out(gradient):
        def separate():
            gradient(y, y_hat, out=g)
            return value(y, y_hat)
    else:
        def separate():
            copy_checked(g, gradient(y, y_hat), gradient)
            return value(y, y_hat)
    return separate


def _value_op(loss, y, y_hat, models: int):
    """``() -> (M,) L(y, ŷ)`` without gradients (validation)."""
    if supports_model_axis(loss):
        return lambda: np.asarray(loss.value(y, y_hat), dtype=np.float64)
    pairs = [(y[m], y_hat[m]) for m in range(models)]
    value = loss.value
    return lambda: np.array([float(value(ym, hm)) for ym, hm in pairs], dtype=np.float64)


# ---------------------------------------------------------------- what plugins see
def _readonly(a: np.ndarray) -> np.ndarray:
    v = a.view()
    v.flags.writeable = False
    return v


class ManyState:
    """What a model-axis stop criterion or observer sees of a stacked run.

    Every per-model attribute has one entry per model of the group, in the
    order of the run's models (``models`` of them), whether still training
    or already stopped (a stopped model keeps its last values):

    ``epoch``         epochs completed by the models still training (an int);
    ``loss``          ``(models,)`` training loss of each model's last epoch;
    ``val_loss``      ``(models,)`` validation loss, or ``None`` without
                      validation data;
    ``history``       ``(models, epoch)`` read-only losses so far (entries
                      after a model stopped are not meaningful);
    ``val_history``   likewise, ``(models, 0)`` without validation data;
    ``params``        read-only ``[(W_l (models, n_{l-1}, n_l), b_l (models, n_l))]``
                      (a stopped model shows the parameters it stopped with);
    ``grads``         likewise, the last batch's gradients;
    ``grad_norm``     ``(models,)`` their L2 norms;
    ``active``        ``(models,)`` bool: still training before this epoch's
                      decision;
    ``stop_reason``   ``(models,)`` object array: why each stopped, or ``None``;
    ``seeds``         ``(models,)`` each model's seed;
    ``elapsed``       seconds since the group started;
    ``config``        the run's options, read-only; an option that differs
                      between models is an array with one entry per model;
    ``scratch``       a per-run dict for plugins' bookkeeping.

    A stop criterion answers ``None`` (no model stops), a reason string (every
    model still training stops), or a sequence of ``models`` entries, each a
    reason or ``None``.  ``set_final_params(params, where)`` asks the loop to
    end the models selected by the bool array ``where`` with the matching
    entries of ``params`` (full-size arrays as ``params`` gives them),
    for those that stop at this epoch.
    """

    model_axis = True

    def __init__(self, run: "_GroupRun"):
        self._run = run
        self.scratch: dict[str, Any] = {}

    models = property(lambda self: self._run.G)
    epoch = property(lambda self: self._run.epoch)
    loss = property(lambda self: _readonly(self._run.loss_full))
    val_loss = property(lambda self: None if self._run.val_full is None
                        else _readonly(self._run.val_full))
    active = property(lambda self: _readonly(self._run.active))
    stop_reason = property(lambda self: _readonly(self._run.reasons))
    seeds = property(lambda self: _readonly(self._run.seeds))
    config = property(lambda self: self._run.config)
    elapsed = property(lambda self: time.perf_counter() - self._run.start)

    @property
    def history(self) -> np.ndarray:
        return _readonly(self._run.hist[:, :self._run.epoch])

    @property
    def val_history(self) -> np.ndarray:
        r = self._run
        return _readonly(r.val_hist[:, :r.epoch] if r.val_hist is not None
                         else np.empty((r.G, 0)))

    @property
    def params(self):
        return self._run.full_pairs("theta")

    @property
    def grads(self):
        return self._run.full_pairs("grad")

    @property
    def grad_norm(self) -> np.ndarray:
        return _readonly(self._run.grad_norms())

    def set_final_params(self, params, where) -> None:
        self._run.set_final(params, np.asarray(where, dtype=bool))

    def __repr__(self):
        return (f"ManyState(models={self.models}, epoch={self.epoch}, "
                f"active={int(self._run.active.sum())})")


class ModelView:
    """One model of a stacked run, as a :class:`~deltarule.State` shows a run.

    Given to stop criteria and observers that do not declare ``model_axis =
    True``, once per model: ``epoch``, ``loss``, ``val_loss``, ``history``,
    ``val_history``, ``params``, ``grads``, ``grad_norm``, ``elapsed``,
    ``config`` (this model's own options), ``stop_reason``, ``scratch`` and
    ``set_final_params(params)`` mean what they mean for a single run.
    """

    def __init__(self, run: "_GroupRun", g: int):
        self._run, self._g = run, g
        self._config = MappingProxyType(run.model_configs[g])
        self.scratch: dict[str, Any] = {}

    epoch = property(lambda self: self._run.epoch)
    config = property(lambda self: self._config)
    elapsed = property(lambda self: time.perf_counter() - self._run.start)

    @property
    def loss(self) -> float:
        return float(self._run.loss_full[self._g])

    @property
    def val_loss(self):
        v = self._run.val_full
        return None if v is None else float(v[self._g])

    @property
    def history(self) -> np.ndarray:
        return _readonly(self._run.hist[self._g, :self._run.epoch])

    @property
    def val_history(self) -> np.ndarray:
        v = self._run.val_hist
        return _readonly(v[self._g, :self._run.epoch] if v is not None else np.empty(0))

    @property
    def stop_reason(self):
        return self._run.reasons[self._g]

    @property
    def params(self):
        return self._run.model_pairs("theta", self._g)

    @property
    def grads(self):
        return self._run.model_pairs("grad", self._g)

    @property
    def grad_norm(self) -> float:
        row = self._run.row_of[self._g]
        if row < 0:
            return float(self._run.norm_full[self._g])
        g = self._run.net.grad[row]
        return math.sqrt(float(np.dot(g, g)))

    def set_final_params(self, params) -> None:
        self._run.final[self._g] = [(np.array(W), np.array(b)) for W, b in params]

    def __repr__(self):
        return (f"ModelView(model={self._g}, epoch={self.epoch}, loss={self.loss!r}, "
                f"stop_reason={self.stop_reason!r})")


def _answers(answer, G: int, plugin: str):
    """A model-axis stop answer as ``None``, a str (every model) or ``(G,)`` objects."""
    if answer is None or isinstance(answer, str):
        return answer
    arr = np.asarray(answer, dtype=object)
    if arr.shape != (G,):
        raise PluginError(
            f"stop criterion {plugin!r} declares model_axis = True but answered "
            f"{answer!r}; answer None, one reason string, or a sequence of {G} entries "
            "(one reason or None per model)"
        )
    return arr


# ---------------------------------------------------------------- one group's run
@dataclass
class ModelStart:
    """One model ready to train: its parameters, optimizer, generator and data."""

    index: int
    seed: int
    theta: np.ndarray            # (P,) initial parameters, Network layout
    optimizer: Any
    rng: np.random.Generator
    X: np.ndarray
    y: np.ndarray
    val: tuple | None
    config: dict


@dataclass
class ModelOutcome:
    """What one model of a group ended with (the trainer builds its result)."""

    index: int
    network: Network
    history: np.ndarray
    val_history: np.ndarray
    stop_reason: str
    elapsed: float
    restored: bool = False      # ends on other parameters than the last epoch's


class _Hook:
    """A hook's implementations split by whether they declare the model axis."""

    def __init__(self, registry, name):
        self.name = name
        self.calls = []  # (model_axis?, plugin name, call)
        for impl in registry.implementations(name):
            plugin = registry.pm.get_plugin(impl.plugin)
            self.calls.append((supports_model_axis(plugin), impl.plugin, impl.call))
        self.fallback = sorted({p for axis, p, _ in self.calls if not axis})


class _GroupRun:
    """The stacked epoch loop of one group (models of one shape)."""

    def __init__(self, registry, layers, activations, loss_c, starts: list[ModelStart],
                 *, batch_size, shuffle, threads, on_done=None):
        self.registry, self.layers, self.acts, self.loss_c = registry, layers, activations, loss_c
        self.starts = starts
        self.G = G = len(starts)
        self.batch, self.shuffle, self.threads = batch_size, shuffle, threads
        self.on_done = on_done
        self.seeds = np.array([s.seed for s in starts], dtype=np.int64)
        self.model_configs = [s.config for s in starts]
        self.config = MappingProxyType(_merged_config(self.model_configs))
        self.dtype = starts[0].theta.dtype
        self.shared = all(s.X is starts[0].X and s.y is starts[0].y for s in starts)
        self.shared_val = all(s.val is starts[0].val for s in starts)
        self.has_val = starts[0].val is not None
        limits = [c["max_epochs"] for c in self.model_configs]
        cap = max(16, min(max((m or 0) for m in limits), 1 << 16))
        self.hist = np.full((G, cap), np.nan)
        self.val_hist = np.full((G, cap), np.nan) if self.has_val else None
        self.loss_full = np.full(G, np.nan)
        self.val_full = np.full(G, np.nan) if self.has_val else None
        self.norm_full = np.full(G, np.nan)
        self.active = np.ones(G, dtype=bool)
        self.reasons = np.full(G, None, dtype=object)
        self.final: dict[int, list] = {}
        self.outcomes: dict[int, ModelOutcome] = {}
        self.epoch = 0
        self.start = time.perf_counter()
        P = starts[0].theta.size
        self.theta_full = np.empty((G, P), dtype=self.dtype)
        self.grad_full = np.zeros((G, P), dtype=self.dtype)
        self._cached = {}
        self._pairs = {}
        self.ids = np.arange(G)              # group index of each stack row
        self.row_of = np.arange(G)           # stack row of each model (-1: dropped)
        self.rngs = [s.rng for s in starts]
        theta = np.stack([s.theta for s in starts])
        self.theta_full[...] = theta
        self._blocks = _optimizer_blocks(starts)
        self._build(theta)
        self.state = ManyState(self)
        self.views = [ModelView(self, g) for g in range(G)]

    # -- building (and rebuilding after models dropped out) ------------
    def _build(self, theta):
        starts = [self.starts[g] for g in self.ids]
        M = len(starts)
        self.net = net = StackedNetwork(self.layers, self.acts, theta)
        loss = self.loss_c
        if self.shared:
            X, y = starts[0].X, starts[0].y
            self.X_stack = np.broadcast_to(X, (M, *X.shape))
            self.y_stack = np.broadcast_to(y, (M, *y.shape))
        else:
            self.X_stack = np.stack([s.X for s in starts])
            self.y_stack = np.stack([s.y for s in starts])
        n = self.X_stack.shape[1]
        self.full = self.batch is None or self.batch >= n
        self.steps = [_block_step(opt, net, rows, flat) for rows, opt, flat in self._blocks]
        if self.full:
            ws = StackedWorkspace(net, loss, n, x=self.X_stack, y=self.y_stack)
            self.fwd, self.loss_value, self.bwd = ws.forward_ops, ws.loss_value, ws.backward_ops
        else:
            self.run_batches = self._batch_runner(n)
        self.val_loss = None
        if self.has_val:
            if self.shared_val:
                Xv, yv = starts[0].val
                Xv = np.broadcast_to(Xv, (M, *Xv.shape))
                yv = np.broadcast_to(yv, (M, *yv.shape))
            else:
                Xv = np.stack([s.val[0] for s in starts])
                yv = np.stack([s.val[1] for s in starts])
            vws = StackedWorkspace(net, loss, Xv.shape[1], x=Xv, y=yv, backward=False)
            value = _value_op(loss, yv, vws.y_hat, M)
            vfwd = vws.forward_ops
            # as a single run reports it: a summed loss on the training set's scale
            scale = 1.0 if capabilities(loss).reduction == "mean" else n / Xv.shape[1]

            def val_loss():
                for op in vfwd:
                    op()
                return value() * scale if scale != 1.0 else value()
            self.val_loss = val_loss
        if not hasattr(self, "backup"):
            self.backup = [theta.copy(), theta.copy()]
        self.alive_rows = self.active[self.ids]
        self.all_alive = bool(self.alive_rows.all())

    def _batch_runner(self, n):
        net, loss, batch, M = self.net, self.loss_c, self.batch, self.net.models
        spaces = {batch: StackedWorkspace(net, loss, batch)}
        if n % batch:
            spaces[n % batch] = StackedWorkspace(net, loss, n % batch)
        mean = getattr(loss, "reduction", "sum") == "mean"
        plan = []
        for start in range(0, n, batch):
            ws = spaces[min(batch, n - start)]
            weight = ws.n_rows / n if mean else 1.0
            plan.append((slice(start, start + ws.n_rows), ws.x, ws.y, ws.forward_ops,
                         ws.loss_value, ws.backward_ops, weight))
        unshuffled = np.arange(n)
        order = np.empty((M, n), dtype=unshuffled.dtype)
        order[...] = unshuffled
        if self.shared:
            X, y = self.starts[self.ids[0]].X, self.starts[self.ids[0]].y
            offsets = None
        else:  # each model's rows, flattened; model m's row i is m·n + i
            X = self.X_stack.reshape(M * n, -1)
            y = self.y_stack.reshape(M * n, -1)
            offsets = (np.arange(M) * n)[:, None]
        take_x, take_y = X.take, y.take
        steps, shuffle, rngs = self.steps, self.shuffle, [self.rngs[g] for g in self.ids]
        theta = net.theta
        isfinite = np.isfinite

        def run_batches():
            if shuffle:
                for r in np.flatnonzero(self.alive_rows):
                    # from arange each epoch, as a single run shuffles
                    row = order[r]
                    np.copyto(row, unshuffled)
                    rngs[r].shuffle(row)
            total = np.zeros(M)
            watch = self.alive_rows.copy()
            parts = {}
            for rows, xb, yb, fwd, loss_value, bwd, weight in plan:
                idx = order[:, rows]
                if offsets is not None:
                    idx = idx + offsets
                # mode "clip": the rows are a permutation, nothing is clipped, and
                # unlike "raise" NumPy does not buffer the out array (10× faster)
                take_x(idx, 0, xb, "clip")
                take_y(idx, 0, yb, "clip")
                for op in fwd:
                    op()
                part = loss_value()
                if not isfinite(part).all():
                    # a single run ends its epoch before this batch's step: keep
                    # that model's parameters as they are now
                    for r in np.flatnonzero(~isfinite(part) & watch):
                        watch[r] = False
                        parts[r] = (float(part[r]), theta[r].copy())
                total += part * weight
                for op in bwd:
                    op()
                for step in steps:
                    step()
            for r, (part, _) in parts.items():
                total[r] = part
            self.snapshots = {r: snap for r, (_, snap) in parts.items()}
            return total

        return run_batches

    # -- the epoch ------------------------------------------------------
    def run(self):
        stop = _Hook(self.registry, "deltarule_stop")
        start_hook = _Hook(self.registry, "deltarule_train_start")
        end_hook = _Hook(self.registry, "deltarule_epoch_end")
        train_end = _Hook(self.registry, "deltarule_train_end")
        self.hooks = (stop, start_hook, end_hook, train_end)
        interrupted = False
        with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"), \
                limit_blas_threads(self.threads):
            self._observe(start_hook, lambda: range(self.G))
            try:
                while self.active.any():
                    self._epoch(stop, end_hook, train_end)
            except KeyboardInterrupt:
                interrupted = True
                self._interrupt(train_end)
            finally:
                for axis, _, call in train_end.calls:
                    if axis:
                        call(self.state)
        return interrupted

    def _epoch(self, stop, end_hook, train_end):
        epoch = self.epoch + 1
        np.copyto(self.backup[epoch & 1], self.net.theta)
        self.snapshots = {}
        if self.full:
            for op in self.fwd:
                op()
            vals = self.loss_value()
            for op in self.bwd:
                op()
            for step in self.steps:
                step()
        else:
            vals = self.run_batches()
        self.epoch = epoch
        self._cached.clear()
        diverged = self._log(vals, epoch)
        stopping = self._ask(stop, diverged)
        if stopping:
            for g in stopping:
                self._finish(g, self.reasons[g])
            self.active[stopping] = False
        # (an empty list would make union1d's result float: no index for self.views)
        self._observe(end_hook, lambda: np.union1d(np.flatnonzero(self.active),
                                                   np.array(stopping, dtype=np.intp)))
        if stopping:
            self._observe(train_end, lambda: stopping, model_axis=False)
            if self.on_done is not None:
                self.on_done(len(stopping))
            self.alive_rows = self.active[self.ids]
            self.all_alive = bool(self.alive_rows.all())
            dead = len(self.ids) - int(self.alive_rows.sum())
            if self.active.any() and dead * 8 >= len(self.ids):
                self._compact()

    def _log(self, vals, epoch):
        """Write the epoch's losses of the models still training; the group
        indices of those whose loss is not finite."""
        if self.hist.shape[1] < epoch:
            self._grow()
        if self.all_alive:
            rows, ids, live = slice(None), self.ids, vals
        else:
            rows = np.flatnonzero(self.alive_rows)
            ids, live = self.ids[rows], vals[rows]
        self.hist[ids, epoch - 1] = live
        self.loss_full[ids] = live
        finite = np.isfinite(live)
        all_finite = bool(finite.all())
        diverged = () if all_finite else ids[~finite]
        if self.val_loss is not None:
            v = self.val_loss()[rows]
            ok = ids if all_finite else ids[finite]
            v = v if all_finite else v[finite]
            self.val_full[ok] = v
            self.val_hist[ok, epoch - 1] = v
        if len(diverged):
            self.reasons[diverged] = "diverged"
        return diverged

    def _ask(self, stop, diverged) -> list:
        """Every stop criterion judges every model still training; the group
        indices of the models that stop (their reasons set)."""
        reasons, stopping = self.reasons, list(diverged)
        pending = self.active.copy()
        if len(diverged):
            pending[diverged] = False
        self.final = {}
        for axis, plugin, call in stop.calls:
            if axis:
                answer = _answers(call(self.state), self.G, plugin)
                if answer is None:
                    continue
                hit = pending if isinstance(answer, str) else \
                    pending & np.not_equal(answer, None)
                for g in np.flatnonzero(hit):
                    reasons[g] = str(answer if isinstance(answer, str) else answer[g])
                    pending[g] = False
                    stopping.append(int(g))
            else:  # a single-run criterion, asked once per model as a run would ask it
                asked = self.active.copy()
                if len(diverged):
                    asked[diverged] = False
                for g in np.flatnonzero(asked):
                    answer = call(self.views[g])
                    if pending[g] and answer is not None:
                        reasons[g] = answer
                        pending[g] = False
                        stopping.append(int(g))
        return sorted(int(g) for g in stopping)

    def _observe(self, hook, models, model_axis=True):
        """Call ``hook``'s plugins: model-axis ones once, the others once per
        model of ``models()`` (computed only if needed)."""
        for axis, _, call in hook.calls:
            if axis:
                if model_axis:
                    call(self.state)
            else:
                for g in models():
                    call(self.views[g])

    def _grow(self):
        for name in ("hist", "val_hist"):
            old = getattr(self, name)
            if old is None:
                continue
            new = np.full((old.shape[0], 2 * old.shape[1]), np.nan)
            new[:, :old.shape[1]] = old
            setattr(self, name, new)

    # -- a model stops ---------------------------------------------------
    def _finish(self, g, reason):
        row = self.row_of[g]
        if reason == "diverged":
            theta = self._restore_finite(g, row)
        elif g in self.final:
            theta = _flatten(self.final[g], self.theta_full.shape[1], self.dtype)
        else:
            theta = self.net.theta[row].copy()
        self._record(g, reason, theta, restored=reason == "diverged" or g in self.final)

    def _record(self, g, reason, theta, restored=False):
        row = self.row_of[g]
        self.theta_full[g] = theta
        if row >= 0:
            self.grad_full[g] = self.net.grad[row]
            gr = self.net.grad[row]
            self.norm_full[g] = math.sqrt(float(np.dot(gr, gr)))
        self.reasons[g] = reason
        net = Network(self.layers, self.acts, unflatten(theta, self.layers), self.dtype)
        n = self.epoch
        self.outcomes[g] = ModelOutcome(
            index=self.starts[g].index, network=net, history=_readonly(self.hist[g, :n]),
            val_history=_readonly(self.val_hist[g, :n] if self.val_hist is not None
                                  else np.empty(0)),
            stop_reason=str(reason), elapsed=time.perf_counter() - self.start,
            restored=restored)

    def _restore_finite(self, g, row):
        """The single run's divergence guard for model ``g``: the newest finite
        parameters that score a finite loss (see :mod:`deltarule.loop`)."""
        s = self.starts[g]
        epoch = self.epoch
        first = self.snapshots.get(row)
        if first is None:  # full batch: no step was due; the epoch's start
            first = self.backup[epoch & 1][row]
        candidates = [first.copy(), self.backup[epoch & 1][row],
                      self.backup[(epoch + 1) & 1][row]]
        finite = [c for c in candidates if np.isfinite(c).all()]
        probe = Network(self.layers, self.acts,
                        unflatten(np.zeros_like(candidates[0]), self.layers), self.dtype)
        for theta in finite:
            np.copyto(probe.theta, theta)
            if math.isfinite(float(self.loss_c.value(s.y, probe.forward(s.X)))):
                return theta.copy()
        return finite[0].copy() if finite else candidates[0]

    def set_final(self, params, where):
        pairs = [(np.asarray(W), np.asarray(b)) for W, b in params]
        for g in np.flatnonzero(where):
            self.final[g] = [(W[g].copy(), b[g].copy()) for W, b in pairs]

    def _interrupt(self, train_end):
        """Ctrl-C: every model still training ends with what it reached."""
        still = np.flatnonzero(self.active)
        for g in still:
            row = self.row_of[g]
            theta = self.net.theta[row].copy()
            if not np.isfinite(theta).all():
                theta = self._restore_finite(g, row)
            self._record(g, "interrupted", theta)
        self.active[still] = False
        self._observe(train_end, lambda: still, model_axis=False)

    def _compact(self):
        keep = np.flatnonzero(self.alive_rows)
        theta = self.net.theta[keep]
        self.backup = [b[keep] for b in self.backup]
        self._blocks = _take_blocks(self._blocks, keep)
        self.ids = self.ids[keep]
        self.row_of[:] = -1
        self.row_of[self.ids] = np.arange(len(self.ids))
        self._build(theta)

    # -- full-size views for the plugins ----------------------------------
    def _sync(self, name):
        if name in self._cached:
            return self._cached[name]
        full = self.theta_full if name == "theta" else self.grad_full
        rows = np.flatnonzero(self.alive_rows)
        full[self.ids[rows]] = getattr(self.net, name)[rows]
        self._cached[name] = full
        return full

    def full_pairs(self, name):
        self._sync(name)
        pairs = self._pairs.get(name)
        if pairs is None:  # read-only views, built once: the arrays are updated in place
            full = self.theta_full if name == "theta" else self.grad_full
            views = [_readonly(v) for v in _stacked_views(full, _shapes(self.layers))]
            pairs = self._pairs[name] = list(zip(views[0::2], views[1::2]))
        return pairs

    def model_pairs(self, name, g):
        row = self.row_of[g]
        if row >= 0 and self.active[g]:
            flat = getattr(self.net, name)[row]
        else:
            flat = (self.theta_full if name == "theta" else self.grad_full)[g]
        return [(_readonly(W), _readonly(b)) for W, b in unflatten(flat, self.layers,
                                                                     copy=False)]

    def grad_norms(self):
        if "norm" not in self._cached:
            rows = np.flatnonzero(self.alive_rows)
            g = self.net.grad[rows]
            sq = np.matmul(g[:, None, :], g[:, :, None]).reshape(-1)
            self.norm_full[self.ids[rows]] = np.sqrt(sq.astype(np.float64))
            self._cached["norm"] = True
        return self.norm_full


def _shapes(layers):
    shapes = []
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        shapes += [(n_in, n_out), (n_out,)]
    return shapes


def unflatten(flat, layers, copy=True):
    out, start = [], 0
    for n_in, n_out in zip(layers[:-1], layers[1:]):
        W = flat[start:start + n_in * n_out].reshape(n_in, n_out)
        start += n_in * n_out
        b = flat[start:start + n_out]
        start += n_out
        out.append((W.copy(), b.copy()) if copy else (W, b))
    return out


def _flatten(pairs, size, dtype):
    flat = np.empty(size, dtype=dtype)
    start = 0
    for W, b in pairs:
        for a in (W, b):
            a = np.asarray(a)
            flat[start:start + a.size] = a.reshape(-1)
            start += a.size
    return flat


def _merged_config(configs: list[dict]) -> dict:
    """One config for the group: an option that differs is a per-model array."""
    merged = dict(configs[0])
    for key, first in configs[0].items():
        if key in SHAPE_OPTIONS or key == "seed":
            continue
        values = [c[key] for c in configs]
        if any(v is not first and v != first for v in values):
            merged[key] = np.array(values)
    return merged


def _optimizer_blocks(starts: list[ModelStart]):
    """Consecutive models whose optimizers can step together.

    ``(rows, optimizer, flat)``: a model-axis optimizer steps the rows of
    models with equal options as one ``(k, P)`` block; any other optimizer
    steps its model's row alone, as the 1-D vector a single run gives it.
    """
    blocks = []
    for r, s in enumerate(starts):
        opt = s.optimizer
        if supports_model_axis(opt) and callable(getattr(opt, "take", None)):
            key = (type(opt), _options(opt))
            if blocks and blocks[-1][3] == key and key[1] is not None:
                rows, first, flat, _ = blocks[-1]
                blocks[-1] = (np.append(rows, r), first, flat, key)
                continue
            blocks.append((np.array([r]), opt, False, key))
        else:
            blocks.append((np.array([r]), opt, True, None))
    return [(rows, opt, flat) for rows, opt, flat, _ in blocks]


def _options(opt):
    options = getattr(opt, "options", None)
    if not callable(options):
        return None
    try:
        return repr(sorted(options().items()))
    except Exception:
        return None


def _take_blocks(blocks, keep):
    """The blocks of the stack rows ``keep`` (sorted), renumbered."""
    new_row = {int(r): i for i, r in enumerate(keep)}
    out = []
    for rows, opt, flat in blocks:
        kept = [i for i, r in enumerate(rows) if int(r) in new_row]
        if not kept:
            continue
        if not flat and len(kept) < len(rows):
            opt.take(np.array(kept))
        out.append((np.array([new_row[int(rows[i])] for i in kept]), opt, flat))
    return out


def _block_step(opt, net, rows, flat):
    """``() -> None`` stepping ``opt`` on its rows of the stack (contiguous)."""
    r0, r1 = int(rows[0]), int(rows[-1]) + 1
    if flat:
        params, grads = [net.theta[r0]], [net.grad[r0]]
    else:
        params, grads = [net.theta[r0:r1]], [net.grad[r0:r1]]
    return partial(opt.step, params, grads)


#: bytes a stack's step may touch (see :func:`stack_size`)
STACK_BYTES = 2 << 20


def step_bytes(layers, rows: int, itemsize: int, *, gathered: bool) -> int:
    """Bytes one model of a stack touches in one step: its parameters and
    gradients, the workspace's ``z, a, g, d`` for ``rows`` rows, and the
    gathered ``x, y`` rows when the model has its own copy of them
    (mini-batches, or data of its own)::

        itemsize · (2 P + 4 rows Σ_{l≥1} n_l + [gathered] rows (n_0 + n_L))
    """
    P = sum((a + 1) * b for a, b in zip(layers[:-1], layers[1:]))
    units = 4 * rows * sum(layers[1:])
    data = rows * (layers[0] + layers[-1]) if gathered else 0
    return itemsize * (2 * P + units + data)


def stack_size(layers, rows: int, itemsize: int, *, gathered: bool,
               budget: int = None) -> int:
    """Most models per stack: as many as fit in ``budget`` bytes
    (:data:`STACK_BYTES`, 2 MiB) of :func:`step_bytes`, at least one.

    A stack saves Python's per-call cost (a few µs per NumPy call, the same
    for 1 or 1 000 models); it pays when a model's arrays are small.  A
    model's step on digits 64-128-10 with 32 rows touches about 310 kB:
    twenty of them (6 MB) no longer stay in cache from one call to the next,
    and measured per model the stack of 20 was slower than single runs,
    while stacks of 6–16 were faster (BENCHMARKS.md).  XOR 2-3-1 touches
    about 700 bytes per model: 2 900 per stack.
    """
    per = step_bytes(layers, rows, itemsize, gathered=gathered)
    return max(1, int((STACK_BYTES if budget is None else budget) // max(per, 1)))


def run_group(registry, layers, activations, loss_c, starts, *, batch_size=None,
              shuffle=True, threads=None, on_done=None, on_fault=None):
    """Train the models ``starts`` (one shape) stacked; ``(outcomes, interrupted)``.

    ``outcomes`` lists one :class:`ModelOutcome` per model, in the order of
    ``starts`` (``None`` for a model that never started because Ctrl-C
    ended the run first); ``on_done(k)`` is called whenever ``k`` models
    stopped.  The models run in stacks of at most :func:`stack_size`, one
    stack after another: every model's numbers are those of its own run
    whatever stack it is in.  ``on_fault(exc, epoch)``, if given, is asked
    when anything raises during the run (as :class:`deltarule.loop.Run` asks
    it); it may return the exception to raise instead (a ``PluginError``
    naming the plugin), chained to ``exc``.  A ``KeyboardInterrupt`` is never
    handed to it.
    """
    n = len(starts[0].X)
    rows = n if batch_size is None else min(batch_size, n)
    shared = all(s.X is starts[0].X and s.y is starts[0].y for s in starts)
    size = stack_size(layers, rows, starts[0].theta.dtype.itemsize,
                      gathered=rows < n or not shared)
    outcomes, interrupted = [None] * len(starts), False
    for first in range(0, len(starts), size):
        run = None
        try:
            run = _GroupRun(registry, layers, activations, loss_c,
                            starts[first:first + size], batch_size=batch_size,
                            shuffle=shuffle, threads=threads, on_done=on_done)
            interrupted = run.run()
        except Exception as exc:
            error = on_fault(exc, _fault_epoch(run, exc)) if on_fault is not None else None
            if error is None or error is exc:
                raise
            raise error from exc
        outcomes[first:first + run.G] = [run.outcomes[g] for g in range(run.G)]
        if interrupted:
            break
    return outcomes, interrupted


def _fault_epoch(run, exc) -> int:
    """The epoch ``run`` was in when ``exc`` was raised: 0 before the first one
    (building the stack, ``deltarule_train_start``), else the one under way
    (the ``epoch`` of :meth:`_GroupRun._epoch` in the traceback), else the last
    completed (``deltarule_train_end``)."""
    if run is None:
        return 0
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code is _GroupRun._epoch.__code__:
            return int(tb.tb_frame.f_locals.get("epoch", run.epoch))
        tb = tb.tb_next
    return run.epoch


def fallback_notes(registry, components) -> list[str]:
    """One line per component or plugin that runs once per model (no model axis)."""
    notes = []
    for family, comp in components:
        if not supports_model_axis(comp):
            notes.append(f"{family} {getattr(comp, 'name', comp)!r} does not declare "
                         "model_axis = True: it runs once per model (correct, slower)")
    for hook in ("deltarule_stop", "deltarule_train_start", "deltarule_epoch_end",
                 "deltarule_train_end"):
        for plugin in _Hook(registry, hook).fallback:
            notes.append(f"plugin {plugin!r} ({hook}) does not declare model_axis = True: "
                         "it is called once per model (correct, slower)")
    return sorted(set(notes))


# ---------------------------------------------------------------- many results
@dataclass(frozen=True)
class ModelSpec:
    """One model of a ``train_many`` run: its position, seed and grid values."""

    index: int
    seed: int
    settings: dict

    def label(self) -> str:
        return _label(self.settings)


def _label(settings: dict) -> str:
    parts = []
    for k, v in settings.items():
        if k == "layers":
            v = "-".join(map(str, v))
        parts.append(f"{k}={v}")
    return " ".join(parts) or "(defaults)"


def expand_grid(grid: dict, seeds) -> list[ModelSpec]:
    """Every combination of the grid's values (in the order given), each with
    every seed (innermost): the models of a ``train_many`` run."""
    keys = list(grid)
    out = []
    for values in itertools.product(*(grid[k] for k in keys)):
        settings = dict(zip(keys, values))
        for seed in seeds:
            out.append(ModelSpec(len(out), int(seed), settings))
    return out


@dataclass
class ChunkFailure:
    """Models that could not be trained (a Dask chunk that failed for good)."""

    models: list[int]
    settings: list[dict]
    error: str


def wilson_interval(successes: int, n: int, confidence: float = 0.95):
    """The Wilson score interval ``(low, high)`` for a rate ``successes / n``.

    ``p̂ = k/n``, ``z`` the two-sided normal quantile of ``confidence``::

        centre = (p̂ + z²/2n) / (1 + z²/n)
        half   = z √(p̂(1 − p̂)/n + z²/4n²) / (1 + z²/n)

    ``(nan, nan)`` for ``n = 0``.
    """
    if n <= 0:
        return (math.nan, math.nan)
    z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return (low, high)


def _quartiles(values):
    if not values:
        return (math.nan, math.nan, math.nan)
    q = np.percentile(np.asarray(values, dtype=float), [25, 50, 75])
    return tuple(float(v) for v in q)


@dataclass
class ManyResult:
    """The models of a ``train_many`` run, and a summary of them.

    ``specs``: one :class:`ModelSpec` per model (index, seed, grid values);
    ``results``: one :class:`~deltarule.TrainResult` per model, in the same
    order (``None`` for a model that never ran: interrupted before its turn,
    or in a chunk that failed); ``converged``: the stop reasons (or a
    predicate ``result -> bool``) counting as convergence; ``notes``: which
    components ran once per model; ``failures``: :class:`ChunkFailure` s;
    ``interrupted``: Ctrl-C ended the run early.
    """

    specs: list
    results: list
    converged: Any = ("target_loss",)
    notes: list = field(default_factory=list)
    failures: list = field(default_factory=list)
    interrupted: bool = False
    elapsed: float = 0.0

    def __len__(self):
        return len(self.results)

    def __iter__(self):
        return iter(self.results)

    def __getitem__(self, i):
        return self.results[i]

    def is_converged(self, result) -> bool:
        if result is None or result.stop_reason in ("interrupted", "caller"):
            return False
        if callable(self.converged):
            return bool(self.converged(result))
        return result.stop_reason in self.converged

    @property
    def finished(self) -> int:
        """Models that ran to a stop of their own (not interrupted, not failed)."""
        return sum(r is not None and r.stop_reason != "interrupted" for r in self.results)

    def table(self) -> list[dict]:
        """One row per model: ``index``, ``seed``, the grid values, ``stop_reason``,
        ``epochs``, ``final_loss``, ``converged`` (JSON-ready)."""
        failed = {i: f.error for f in self.failures for i in f.models}
        rows = []
        for spec, res in zip(self.specs, self.results):
            row = {"index": spec.index, "seed": spec.seed}
            for k, v in spec.settings.items():
                row[k] = list(v) if isinstance(v, (list, tuple)) else v
            if res is None:
                row.update(stop_reason="failed" if spec.index in failed else "not run",
                           epochs=0, final_loss=None, converged=False)
                if spec.index in failed:
                    row["error"] = failed[spec.index]
            else:
                loss = float(res.loss)
                row.update(stop_reason=res.stop_reason, epochs=res.epochs,
                           final_loss=loss if math.isfinite(loss) else None,
                           converged=self.is_converged(res))
            rows.append(row)
        return rows

    def summary(self, confidence: float = 0.95) -> list[dict]:
        """One row per grid setting: ``settings``, ``models``, ``finished``,
        ``converged``, ``rate`` (converged / finished) with its Wilson interval
        ``rate_low``, ``rate_high``, the quartiles of the epochs to converge
        (``epochs_q1``, ``epochs_median``, ``epochs_q3``, over the models that
        converged) and the median final loss."""
        groups: dict[str, list] = {}
        order = []
        for spec, res in zip(self.specs, self.results):
            key = repr(sorted(spec.settings.items()))
            if key not in groups:
                groups[key] = []
                order.append((key, spec.settings))
            groups[key].append(res)
        out = []
        for key, settings in order:
            results = groups[key]
            done = [r for r in results if r is not None and r.stop_reason != "interrupted"]
            conv = [r for r in done if self.is_converged(r)]
            low, high = wilson_interval(len(conv), len(done), confidence)
            q1, med, q3 = _quartiles([r.epochs for r in conv])
            losses = [float(r.loss) for r in done if math.isfinite(float(r.loss))]
            out.append({
                "settings": dict(settings), "label": _label(settings),
                "models": len(results), "finished": len(done), "converged": len(conv),
                "rate": len(conv) / len(done) if done else math.nan,
                "rate_low": low, "rate_high": high, "confidence": confidence,
                "epochs_q1": q1, "epochs_median": med, "epochs_q3": q3,
                "final_loss_median": float(np.median(losses)) if losses else math.nan,
            })
        return out

    def __repr__(self):
        return (f"ManyResult({len(self.results)} models, {self.finished} finished, "
                f"{len(self.failures)} failed chunk(s), interrupted={self.interrupted})")


class PerModelWarning(UserWarning):
    """A component or plugin without ``model_axis = True`` runs once per model."""

"""The network maths: forward pass and the generic delta rule.

Notation (layer ``l = 1 … L``; ``a_0 = X``)::

    z_l = a_{l-1} W_l + b_l          W_l: (n_{l-1}, n_l), b_l: (n_l,)
    a_l = f_l(z_l)                   z_l, a_l: (n_samples, n_l)
    δ_L = ∂L/∂ŷ ⊙ f_L'(z_L)          ŷ = a_L
    δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f_l'(z_l)
    ∂L/∂W_l = a_{l-1}ᵀ δ_l           ∂L/∂b_l = Σ_samples δ_l

A non-element-wise activation (softmax) replaces ``g ⊙ f'(z)`` by its
vector-Jacobian product ``vjp(z, a, g)``.

All parameters live in one flat vector ``theta``; ``W_l`` and ``b_l`` are
views into it, and the gradients likewise into ``grad``.  The optimizer can
then update every parameter with one ufunc call, and a backup of the whole
model is one ``copyto``.
"""

from __future__ import annotations

import inspect
import math
from functools import lru_cache, partial

import numpy as np

from .errors import ComponentError, ConfigError, DataError
from .validation import check_network_memory, format_bytes


def _accepts_out(method) -> bool:
    """Whether a component method takes an ``out`` buffer (decided once per class)."""
    function = getattr(method, "__func__", method)
    try:
        return _function_accepts_out(function)
    except TypeError:  # an unhashable callable object
        return _function_accepts_out.__wrapped__(function)


@lru_cache(maxsize=256)
def _function_accepts_out(function) -> bool:
    try:
        return "out" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


class Network:
    """A multi-layer perceptron: layer sizes, activations and parameters.

    ``params`` is a list of ``(W_l, b_l)``; they are copied into one flat
    vector, so the caller's arrays are never modified.
    """

    def __init__(self, layers, activations, params, dtype=np.float64):
        self.layers = tuple(int(n) for n in layers)
        self.activations = list(activations)
        if len(self.activations) != len(self.layers) - 1:
            raise DataError(
                f"layers={list(self.layers)} has {len(self.layers) - 1} weight layers "
                f"but {len(self.activations)} activations were given; give one per layer"
            )
        self.dtype = np.dtype(dtype)
        shapes = []
        for n_in, n_out in zip(self.layers[:-1], self.layers[1:]):
            shapes += [(n_in, n_out), (n_out,)]
        sizes = [math.prod(s) for s in shapes]
        need = check_network_memory(self.layers, self.dtype)
        try:
            self.theta = np.empty(sum(sizes), dtype=self.dtype)
            self.grad = np.zeros_like(self.theta)
        except MemoryError:
            raise ConfigError(
                f"the network {'-'.join(map(str, self.layers))} needs {format_bytes(need)} "
                "for its parameters and gradients, more than the memory available"
            ) from None
        self._param_views = _views(self.theta, shapes)
        self._grad_views = _views(self.grad, shapes)
        self.weights = self._param_views[0::2]
        self.biases = self._param_views[1::2]
        self.set_params(params)

    def copy(self) -> "Network":
        """An independent network with the same layers, activations and parameters."""
        return Network(self.layers, self.activations,
                       list(zip(self.weights, self.biases)), self.dtype)

    def __reduce__(self):
        # W_l, b_l must stay views of theta after unpickling
        return (Network, (self.layers, self.activations, self.params, self.dtype))

    @property
    def n_layers(self) -> int:
        """Number of weight layers ``L`` (``len(layers) - 1``)."""
        return len(self.layers) - 1

    @property
    def params(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """A copy of the parameters as ``[(W1, b1), (W2, b2), ...]``."""
        return [(W.copy(), b.copy()) for W, b in zip(self.weights, self.biases)]

    def readonly_params(self):
        """Read-only views of the live parameters (they follow training)."""
        return _readonly_pairs(self._param_views)

    def readonly_grads(self):
        return _readonly_pairs(self._grad_views)

    def set_params(self, params) -> None:
        """Copy ``[(W1, b1), ...]`` into the network, checking every shape."""
        try:
            pairs = [tuple(p) for p in params]
        except TypeError:
            raise DataError(
                "init must be a name or a list of (W, b) pairs, one per layer"
            ) from None
        if len(pairs) != self.n_layers or any(len(p) != 2 for p in pairs):
            raise DataError(
                f"init must give one (W, b) pair per layer: {self.n_layers} for "
                f"layers={list(self.layers)}, got {len(pairs)} entries"
            )
        checked = []  # every array is checked before any is copied
        for l, ((W, b), W_dst, b_dst) in enumerate(
            zip(pairs, self.weights, self.biases), start=1
        ):
            for arr, dst, what in ((W, W_dst, f"W{l}"), (b, b_dst, f"b{l}")):
                try:
                    src = np.asarray(arr, dtype=np.float64)
                except (TypeError, ValueError):
                    raise DataError(f"init {what} must be numeric, got {arr!r}") from None
                if src.shape != dst.shape:
                    # a bias given as (1, n) is common (and harmless)
                    if src.size == dst.size and what[0] == "b" and src.ndim == 2:
                        src = src.reshape(dst.shape)
                    else:
                        raise DataError(
                            f"init {what} has shape {src.shape} but layers="
                            f"{list(self.layers)} needs {dst.shape}"
                        )
                if not np.isfinite(src).all():
                    raise DataError(f"init {what} contains NaN or infinite values")
                checked.append((dst, src))
        for dst, src in checked:
            dst[...] = src

    def forward(self, X: np.ndarray) -> np.ndarray:
        """``ŷ`` for ``X`` of shape ``(n_samples, layers[0])``; allocates freely."""
        a = X
        with np.errstate(over="ignore", under="ignore"):
            for W, b, act in zip(self.weights, self.biases, self.activations):
                a = np.asarray(act.forward(a @ W + b))
        return a

    def predict(self, X) -> np.ndarray:
        """The network's output ``ŷ``, shape ``(n_samples, layers[-1])``."""
        from .validation import as_matrix

        Xm = as_matrix(X, "X", self.dtype, allow_1d=False)
        if Xm.shape[1] != self.layers[0]:
            raise DataError(
                f"X has {Xm.shape[1]} columns but the network's input layer has "
                f"{self.layers[0]} units; pass data with {self.layers[0]} features"
            )
        return self.forward(Xm)


def _views(flat: np.ndarray, shapes) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return out


def _readonly_pairs(views):
    ro = []
    for v in views:
        r = v.view()
        r.flags.writeable = False
        ro.append(r)
    return list(zip(ro[0::2], ro[1::2]))


class Workspace:
    """Buffers and pre-bound kernels for one batch size: the per-step hot path.

    Built once per run (per distinct batch size).  The forward pass and the
    delta rule are flattened into lists of argument-free operations
    (``functools.partial`` of ufuncs and of the components' bound methods)
    whose buffers are fixed here, so a step is ``for op in ops: op()`` with
    no allocation by bundled components, no branching and no pluggy call.

    Buffers, for ``n = n_rows``: ``x (n, n_0)``, ``y (n, n_L)``, and per layer
    ``z_l, a_l, g_l, d_l`` of shape ``(n, n_l)``; ``g_l`` holds ``∂L/∂a_l``
    and then ``δ_l`` in place (``d_l`` holds ``f'(z_l)``, or ``δ_l`` for a
    vjp activation).
    """

    def __init__(self, net: Network, loss, n_rows: int, *, x=None, y=None,
                 backward: bool = True):
        """``x``/``y``: arrays to read the batch from instead of own buffers
        (C-contiguous, the network's dtype; never written); ``backward=False``
        builds the forward pass only (validation)."""
        self.net = net
        self.loss = loss
        dt = net.dtype
        self.n_rows = n_rows
        need = n_rows * sum(net.layers) * (4 if backward else 2) * dt.itemsize
        try:
            self.x = np.empty((n_rows, net.layers[0]), dtype=dt) if x is None else x
            self.y = np.empty((n_rows, net.layers[-1]), dtype=dt) if y is None else y
            shape = [(n_rows, n) for n in net.layers[1:]]
            self.z = [np.empty(s, dtype=dt) for s in shape]
            self.a = [np.empty(s, dtype=dt) for s in shape]
            if backward:
                self.g = [np.empty(s, dtype=dt) for s in shape]
                self.d = [np.empty(s, dtype=dt) for s in shape]
        except MemoryError:
            raise ConfigError(
                f"training {'-'.join(map(str, net.layers))} on {n_rows} rows at once "
                f"needs about {format_bytes(need)} of buffers, more than the memory "
                "available; use narrower layers or a smaller batch_size"
            ) from None
        self.y_hat = self.a[-1]
        self.forward_ops = self._forward_ops()
        if backward:
            self.loss_value = self._loss_op()
            self.backward_ops = self._backward_ops()

    def _forward_ops(self):
        ops, a_prev = [], self.x
        for W, b, z, a, act in zip(self.net.weights, self.net.biases, self.z, self.a,
                                   self.net.activations):
            ops += [partial(np.dot, a_prev, W, z), partial(np.add, z, b, z)]
            if _accepts_out(act.forward):
                ops.append(partial(act.forward, z, out=a))
            else:
                ops.append(_store(a, act.forward, z))
            a_prev = a
        return ops

    def _loss_op(self):
        """``() -> L(y, ŷ)``, leaving ``δ_L`` (fused) or ``∂L/∂ŷ`` in ``g_L``."""
        loss, y, y_hat, g = self.loss, self.y, self.y_hat, self.g[-1]
        fused = getattr(loss, "fused_delta", None)
        self.fused = fused(self.net.activations[-1]) if callable(fused) else None
        if self.fused is not None:
            return partial(self.fused, y, y_hat, self.z[-1], g)
        vg = getattr(loss, "value_and_gradient", None)
        if callable(vg) and _accepts_out(vg):
            return lambda: vg(y, y_hat, out=g)[0]
        if callable(vg):
            def value_and_gradient():
                value, grad = vg(y, y_hat)
                np.copyto(g, grad)
                return value
            return value_and_gradient
        value, gradient = loss.value, loss.gradient
        if _accepts_out(gradient):
            def separate():
                gradient(y, y_hat, out=g)
                return value(y, y_hat)
        else:
            def separate():
                np.copyto(g, gradient(y, y_hat))
                return value(y, y_hat)
        return separate

    def _backward_ops(self):
        net = self.net
        gW, gb = net._grad_views[0::2], net._grad_views[1::2]
        inputs = [self.x] + self.a[:-1]
        ops, L = [], net.n_layers
        delta = None  # δ_{l+1}, set by the layer above before it is read
        for l in range(L - 1, -1, -1):
            act, z, a, g, d = net.activations[l], self.z[l], self.a[l], self.g[l], self.d[l]
            if l < L - 1:
                # ∂L/∂a_l = δ_{l+1} W_{l+1}ᵀ
                ops.append(partial(np.dot, delta, net.weights[l + 1].T, g))
            if l == L - 1 and self.fused is not None:
                delta = g  # the fused loss wrote δ_L already
            elif callable(getattr(act, "derivative", None)):
                der = act.derivative
                if _accepts_out(der):
                    ops.append(partial(der, z, a, out=d))
                else:
                    ops.append(_store(d, der, z, a))
                ops.append(partial(np.multiply, g, d, g))
                delta = g
            elif callable(getattr(act, "vjp", None)):
                if _accepts_out(act.vjp):
                    ops.append(partial(act.vjp, z, a, g, out=d))
                else:
                    ops.append(_store(d, act.vjp, z, a, g))
                delta = d
            else:
                raise ComponentError(
                    f"activation {act.name!r} (layer {l + 1}) has neither "
                    "derivative(z, a) nor vjp(z, a, g)"
                )
            ops.append(partial(np.dot, inputs[l].T, delta, gW[l]))  # ∂L/∂W_l = a_{l-1}ᵀ δ_l
            ops.append(partial(np.add.reduce, delta, 0, None, gb[l]))  # ∂L/∂b_l = Σ δ_l
        return ops


def _store(buffer, fn, *args):
    """An op computing ``fn(*args)`` into ``buffer`` (for components without ``out``)."""

    def op():
        np.copyto(buffer, fn(*args))

    return op

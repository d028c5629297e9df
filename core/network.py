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

import numpy as np

from .errors import ComponentError, DataError


def _accepts_out(method) -> bool:
    try:
        return "out" in inspect.signature(method).parameters
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
        self.dtype = np.dtype(dtype)
        shapes = []
        for n_in, n_out in zip(self.layers[:-1], self.layers[1:]):
            shapes += [(n_in, n_out), (n_out,)]
        sizes = [int(np.prod(s)) for s in shapes]
        self.theta = np.empty(sum(sizes), dtype=self.dtype)
        self.grad = np.zeros_like(self.theta)
        self._param_views = _views(self.theta, shapes)
        self._grad_views = _views(self.grad, shapes)
        self.weights = self._param_views[0::2]
        self.biases = self._param_views[1::2]
        self.set_params(params)

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
    """Buffers and bound kernels for one batch size: the per-step hot path.

    Built once per run (per distinct batch size); :meth:`step` then does the
    forward pass, the loss and the delta rule with no allocation by bundled
    components and no pluggy call.
    """

    def __init__(self, net: Network, loss, n_rows: int):
        self.net = net
        dt = net.dtype
        L = net.n_layers
        self.n_rows = n_rows
        self.x = np.empty((n_rows, net.layers[0]), dtype=dt)
        self.xT = self.x.T
        self.y = np.empty((n_rows, net.layers[-1]), dtype=dt)
        self.z = [np.empty((n_rows, n), dtype=dt) for n in net.layers[1:]]
        self.a = [np.empty((n_rows, n), dtype=dt) for n in net.layers[1:]]
        # g_l holds ∂L/∂a_l, then δ_l in place
        self.g = [np.empty((n_rows, n), dtype=dt) for n in net.layers[1:]]
        self.d = [np.empty((n_rows, n), dtype=dt) for n in net.layers[1:]]
        self.inputsT = [self.xT] + [a.T for a in self.a[:-1]]
        self.WT = [W.T for W in net.weights]
        self.gW = net._grad_views[0::2]
        self.gb = net._grad_views[1::2]

        self.fwd, self.fwd_out, self.der, self.der_out, self.vjp = [], [], [], [], []
        for l, act in enumerate(net.activations):
            f = act.forward
            self.fwd.append(f)
            self.fwd_out.append(_accepts_out(f))
            der = getattr(act, "derivative", None)
            if callable(der):
                self.der.append(der)
                self.der_out.append(_accepts_out(der))
                self.vjp.append(None)
            else:
                vjp = getattr(act, "vjp", None)
                if not callable(vjp):
                    raise ComponentError(
                        f"activation {act.name!r} (layer {l + 1}) has neither "
                        "derivative(z, a) nor vjp(z, a, g)"
                    )
                self.der.append(None)
                self.der_out.append(False)
                self.vjp.append(vjp)

        self.loss = loss
        vg = getattr(loss, "value_and_gradient", None)
        self.loss_vg = vg if callable(vg) else None
        self.loss_vg_out = self.loss_vg is not None and _accepts_out(vg)
        self.loss_grad_out = _accepts_out(loss.gradient)
        # optional fused output delta, e.g. softmax + cross-entropy: δ_L = (ŷ − y)/n
        fused = getattr(loss, "fused_delta", None)
        self.fused = fused(net.activations[-1]) if callable(fused) else None

    def forward(self, x) -> np.ndarray:
        """Fill ``z_l``, ``a_l`` for ``x`` (the workspace's rows); return ``ŷ``."""
        a_prev = x
        for W, b, z, a, f, f_out in zip(
            self.net.weights, self.net.biases, self.z, self.a, self.fwd, self.fwd_out
        ):
            np.dot(a_prev, W, z)
            np.add(z, b, z)
            if f_out:
                f(z, out=a)
            else:
                np.copyto(a, f(z))
            a_prev = a
        return a_prev

    def loss_and_output_gradient(self, y) -> float:
        """``L(y, ŷ)``; leaves ``δ_L`` (fused) or ``∂L/∂ŷ`` in ``g_L``."""
        y_hat = self.a[-1]
        g = self.g[-1]
        if self.fused is not None:
            return self.fused(y, y_hat, self.z[-1], g)
        if self.loss_vg is not None:
            if self.loss_vg_out:
                value, _ = self.loss_vg(y, y_hat, out=g)
            else:
                value, grad = self.loss_vg(y, y_hat)
                np.copyto(g, grad)
            return float(value)
        value = self.loss.value(y, y_hat)
        if self.loss_grad_out:
            self.loss.gradient(y, y_hat, out=g)
        else:
            np.copyto(g, self.loss.gradient(y, y_hat))
        return float(value)

    def backward(self) -> None:
        """The delta rule, from ``g_L`` down to layer 1; fills ``net.grad``."""
        g, z, a, d = self.g, self.z, self.a, self.d
        for l in range(len(g) - 1, -1, -1):
            gl = g[l]
            if l < len(g) - 1:
                np.dot(g[l + 1], self.WT[l + 1], gl)  # ∂L/∂a_l = δ_{l+1} W_{l+1}ᵀ
            elif self.fused is not None:
                gl = None  # g_L already holds δ_L
            if gl is not None:
                if self.vjp[l] is None:
                    if self.der_out[l]:
                        self.der[l](z[l], a[l], out=d[l])
                        np.multiply(gl, d[l], gl)
                    else:
                        np.multiply(gl, self.der[l](z[l], a[l]), gl)
                else:
                    np.copyto(gl, self.vjp[l](z[l], a[l], gl.copy()))
            np.dot(self.inputsT[l], g[l], self.gW[l])
            np.add.reduce(g[l], 0, None, self.gb[l])

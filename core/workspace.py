"""Workspaces: the buffers and pre-bound op lists of the per-step hot path.

A :class:`Workspace` is built once per run (per distinct batch size) from a
:class:`~deltarule.network.Network` and a loss; the loop then runs its
``forward_ops``, ``loss_value`` and ``backward_ops`` without allocating.
The maths is that of :mod:`deltarule.network` (see its docstring)::

    forward:   z_l = a_{l-1} W_l + b_l,  a_l = f_l(z_l)
    backward:  δ_L = ∂L/∂ŷ ⊙ f_L'(z_L),  δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f_l'(z_l)
               ∂L/∂W_l = a_{l-1}ᵀ δ_l,   ∂L/∂b_l = Σ_samples δ_l = 1ᵀ δ_l

Two optional terms, both off unless asked for:

- sample weights ``w`` ``(n,)``: the loss is the weighted one
  (``loss.value(y, ŷ, weights=w)``) and the rows of ``δ_L`` are scaled by
  ``r_i = w_i`` (reduction ``"sum"``) or ``r_i = w_i · n / Σ w``
  (``"mean"``), which turns the unweighted gradient into the weighted one;
- the L2 penalty ``½ λ c Σ_l ‖W_l‖²`` on the weights (not the biases), with
  ``c = 1`` (``"sum"``) or ``c = 1 / Σ w`` (``"mean"``, ``Σ w = n`` without
  weights): added to the loss, and ``λ c W_l`` to ``∂L/∂W_l``.  With
  ``"mean"`` this is scikit-learn's ``alpha`` term exactly.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from . import kernels
from .errors import ComponentError, ConfigError
from .faults import copy_checked
from .network import Network
from .protocols import capabilities
from .validation import format_bytes


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
                 backward: bool = True, weighted: bool = False, w=None, l2: float = 0.0):
        """``x``/``y``/``w``: arrays to read the batch from instead of own
        buffers (C-contiguous, the network's dtype; never written);
        ``backward=False`` builds the forward pass only (validation);
        ``weighted``: the batch has sample weights (in ``w``); ``l2``: the
        penalty's ``λ`` (0: none)."""
        self.net = net
        self.loss = loss
        dt = net.dtype
        self.n_rows = n_rows
        self.weighted = weighted or w is not None
        self.l2 = float(l2)
        self.mean = capabilities(loss).reduction == "mean"
        self.decay = self.penalty = None  # the L2 term's buffers, when there is one
        try:
            self._allocate(x, y, backward)
        except MemoryError:
            need = n_rows * sum(net.layers) * (4 if backward else 2) * dt.itemsize
            if self.l2 and backward:
                need += 2 * net.theta.nbytes  # the L2 term's decay and penalty
            raise ConfigError(
                f"training {'-'.join(map(str, net.layers))} on {n_rows} rows at once "
                f"needs about {format_bytes(need)} of buffers, more than the memory "
                "available; use narrower layers or a smaller batch_size"
            ) from None
        self.w = (np.empty(n_rows, dtype=dt) if w is None else w) if self.weighted else None
        self.y_hat = self.a[-1]
        self.forward_ops = self._forward_ops()
        if backward:
            self.loss_value = self._loss_op()
            self.backward_ops = self._backward_ops()

    def _allocate(self, x, y, backward: bool) -> None:
        net, n_rows, dt = self.net, self.n_rows, self.net.dtype
        self.x = np.empty((n_rows, net.layers[0]), dtype=dt) if x is None else x
        self.y = np.empty((n_rows, net.layers[-1]), dtype=dt) if y is None else y
        shape = [(n_rows, n) for n in net.layers[1:]]
        self.z = [np.empty(s, dtype=dt) for s in shape]
        self.a = [np.empty(s, dtype=dt) for s in shape]
        if backward:
            self.g = [np.empty(s, dtype=dt) for s in shape]
            self.d = [np.empty(s, dtype=dt) for s in shape]
        if self.l2 and backward:
            # λ c at the weights, 0 at the biases (1 at the weights when the rows
            # are weighted: c then changes per batch); see _extended_loss_op
            lam_c = self.l2 / n_rows if self.mean else self.l2
            self.decay = net.weight_mask(1.0 if self.weighted else lam_c)
            self.penalty = np.empty_like(net.theta)

    def _forward_ops(self):
        ops, a_prev = [], self.x
        for W, b, z, a, act in zip(self.net.weights, self.net.biases, self.z, self.a,
                                   self.net.activations):
            ops += [partial(np.dot, a_prev, W, z), kernels.bias_op(z, b)]
            if capabilities(act).forward_out:
                ops.append(partial(act.forward, z, out=a))
            else:
                ops.append(_store(a, act.forward, z))
            a_prev = a
        return ops

    def _loss_op(self):
        """``() -> L(y, ŷ)``, leaving ``δ_L`` (fused) or ``∂L/∂ŷ`` in ``g_L``
        (weighted rows and the L2 term included when asked for)."""
        plain = self._plain_loss_op()
        if not self.weighted and not self.l2:
            return plain
        return self._extended_loss_op(plain)

    def _extended_loss_op(self, plain):
        """The loss op with sample weights and/or the L2 penalty.

        The penalty works on the flat parameter vector: ``decay`` is ``λ c`` at
        every weight and 0 at every bias, so ``t = θ ⊙ decay`` holds ``λ c W_l``
        for all layers at once, the value adds ``½ θ·t`` and the gradient ops
        add ``t`` to ``∂L/∂θ`` (three calls whatever the depth).  So the
        backward ops read what this op wrote: call it first, as ``step`` does."""
        n, y, y_hat, g = self.n_rows, self.y, self.y_hat, self.g[-1]
        value, mean, lam = self.loss.value, self.mean, self.l2
        net = self.net
        theta, penalty = net.theta, self.penalty
        vdot, multiply = np.vdot, np.multiply
        if self.weighted:
            w, decay = self.w, self.decay  # decay: 1 at the weights; λ c per batch
            r = np.empty((n, 1), dtype=net.dtype)
            r_flat = r.reshape(-1)

            def op():
                plain()  # δ_L (or ∂L/∂ŷ) of the unweighted mean/sum, into g
                total = float(np.add.reduce(w))
                np.multiply(w, n / total if mean else 1.0, r_flat)
                np.multiply(g, r, g)
                v = float(value(y, y_hat, weights=w))
                if lam:
                    c = 1.0 / total if mean else 1.0
                    multiply(theta, decay, penalty)
                    multiply(penalty, lam * c, penalty)
                    v += 0.5 * float(vdot(theta, penalty))
                return v
            return op
        decay = self.decay

        def op():
            multiply(theta, decay, penalty)
            return plain() + 0.5 * float(vdot(theta, penalty))
        return op

    def _plain_loss_op(self):
        """``() -> L(y, ŷ)``, leaving ``δ_L`` (fused) or ``∂L/∂ŷ`` in ``g_L``."""
        loss, y, y_hat, g = self.loss, self.y, self.y_hat, self.g[-1]
        can = capabilities(loss)
        self.fused = loss.fused_delta(self.net.activations[-1]) if can.fused_delta else None
        if self.fused is not None:
            return partial(self.fused, y, y_hat, self.z[-1], g)
        vg = loss.value_and_gradient if can.value_and_gradient else None
        if can.value_and_gradient_out:
            return lambda: vg(y, y_hat, out=g)[0]
        if vg is not None:
            def value_and_gradient():
                value, grad = vg(y, y_hat)
                copy_checked(g, grad, vg)
                return value
            return value_and_gradient
        value, gradient = loss.value, loss.gradient
        if can.gradient_out:
            def separate():
                gradient(y, y_hat, out=g)
                return value(y, y_hat)
        else:
            def separate():
                copy_checked(g, gradient(y, y_hat), gradient)
                return value(y, y_hat)
        return separate

    def _backward_ops(self):
        net = self.net
        gW, gb = net.grad_weights, net.grad_biases
        inputs = [self.x] + self.a[:-1]
        ops, L = [], net.n_layers
        delta = None  # δ_{l+1}, set by the layer above before it is read
        ones = np.ones(self.n_rows, dtype=net.dtype)
        for l in range(L - 1, -1, -1):
            act, z, a, g, d = net.activations[l], self.z[l], self.a[l], self.g[l], self.d[l]
            can = capabilities(act)
            if l < L - 1:
                # ∂L/∂a_l = δ_{l+1} W_{l+1}ᵀ
                ops.append(partial(np.dot, delta, net.weights[l + 1].T, g))
            if l == L - 1 and self.fused is not None:
                delta = g  # the fused loss wrote δ_L already
            elif can.backward_vjp:
                # δ_l = vjp(z, a, g): one call, also for an element-wise activation
                # that offers it (g ⊙ f'(z) fused) besides its derivative
                if can.vjp_out:
                    ops.append(partial(act.vjp, z, a, g, out=d))
                else:
                    ops.append(_store(d, act.vjp, z, a, g))
                delta = d
            elif can.elementwise:
                der = act.derivative
                if can.derivative_out:
                    ops.append(partial(der, z, a, out=d))
                else:
                    ops.append(_store(d, der, z, a))
                ops.append(partial(np.multiply, g, d, g))
                delta = g
            else:
                raise ComponentError(
                    f"activation {act.name!r} (layer {l + 1}) has neither "
                    "derivative(z, a) nor vjp(z, a, g)"
                )
            ops.append(partial(np.dot, inputs[l].T, delta, gW[l]))  # ∂L/∂W_l = a_{l-1}ᵀ δ_l
            # ∂L/∂b_l = Σ δ_l as 1ᵀ δ_l: one BLAS call, 2-3× faster than add.reduce
            ops.append(partial(np.matmul, ones, delta, gb[l]))
        if self.l2:  # + λ c W_l for every layer: the loss op left θ ⊙ decay in penalty
            ops.append(partial(np.add, net.grad, self.penalty, net.grad))
        return ops


def _store(buffer, fn, *args):
    """An op computing ``fn(*args)`` into ``buffer`` (for components without ``out``)."""

    def op():
        copy_checked(buffer, fn(*args), fn)

    return op

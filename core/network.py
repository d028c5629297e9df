"""The network maths: forward pass and the generic delta rule.

Notation (layer ``l = 1 … L``; ``a_0 = X``)::

    z_l = a_{l-1} W_l + b_l          W_l: (n_{l-1}, n_l), b_l: (n_l,)
    a_l = f_l(z_l)                   z_l, a_l: (n_samples, n_l)
    δ_L = ∂L/∂ŷ ⊙ f_L'(z_L)          ŷ = a_L
    δ_l = (δ_{l+1} W_{l+1}ᵀ) ⊙ f_l'(z_l)
    ∂L/∂W_l = a_{l-1}ᵀ δ_l           ∂L/∂b_l = Σ_samples δ_l

A non-element-wise activation (softmax) replaces ``g ⊙ f'(z)`` by its
vector-Jacobian product ``vjp(z, a, g)``; so does an element-wise one that
offers ``vjp`` beside ``derivative`` (relu, tanh: the product fused).

All parameters live in one flat vector ``theta``; ``W_l`` and ``b_l`` are
views into it, and the gradients likewise into ``grad``.  The optimizer can
then update every parameter with one ufunc call, and a backup of the whole
model is one ``copyto``.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ConfigError, DataError, PluginError
from .validation import check_network_memory, format_bytes


class Network:
    """A multi-layer perceptron: layer sizes, activations and parameters.

    ``params`` is a list of ``(W_l, b_l)``; they are copied into one flat
    vector, so the caller's arrays are never modified.

    What the network knows about its data (all optional, ``None`` by
    default, stored in model files):

    - ``scaler``: a :class:`deltarule.preprocessing.Scaler`; :meth:`predict`
      scales its input with it (:meth:`forward` never does);
    - ``classes``: a 1-D array of class labels (``len ≥ 2``) that
      :meth:`predict_labels` maps the outputs to;
    - ``feature_names``, ``target_names``: tuples of column names.
    """

    scaler = None
    classes = None
    feature_names = None
    target_names = None
    _META = ("scaler", "classes", "feature_names", "target_names")

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
        """An independent network with the same layers, activations, parameters
        and data description (scaler, classes, names)."""
        net = Network(self.layers, self.activations,
                      list(zip(self.weights, self.biases)), self.dtype)
        net.__dict__.update(self.metadata())
        return net

    def metadata(self) -> dict:
        """The data description that is set: ``{"scaler": …, "classes": …}``, …"""
        return {k: self.__dict__[k] for k in self._META if self.__dict__.get(k) is not None}

    def __reduce__(self):
        # W_l, b_l must stay views of theta after unpickling
        return (Network, (self.layers, self.activations, self.params, self.dtype),
                self.metadata())

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
        """Read-only views ``[(∂L/∂W1, ∂L/∂b1), ...]`` of the live gradients."""
        return _readonly_pairs(self._grad_views)

    def weight_mask(self, value: float = 1.0) -> np.ndarray:
        """A vector shaped like ``theta``: ``value`` at every weight, 0 at every
        bias (the L2 penalty's per-parameter factor)."""
        mask = np.zeros_like(self.theta)
        for W in self.weights:
            # each W_l is a reshaped contiguous slice of theta: its mask twin is too
            mask[_offset(self.theta, W):][:W.size] = value
        return mask

    @property
    def grad_weights(self) -> list[np.ndarray]:
        """Writable views ``∂L/∂W_l`` into :attr:`grad` (the backward pass fills them)."""
        return self._grad_views[0::2]

    @property
    def grad_biases(self) -> list[np.ndarray]:
        """Writable views ``∂L/∂b_l`` into :attr:`grad`."""
        return self._grad_views[1::2]

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
        """``ŷ`` for ``X`` of shape ``(n_samples, layers[0])``; allocates freely.

        An activation whose output does not have its input's shape (NumPy
        would broadcast it silently) is a :class:`PluginError`.
        """
        a = X
        with np.errstate(over="ignore", under="ignore"):
            for l, (W, b, act) in enumerate(zip(self.weights, self.biases,
                                                self.activations), start=1):
                z = a @ W + b
                a = np.asarray(act.forward(z))
                if a.shape != z.shape:
                    raise PluginError(
                        f"activation {getattr(act, 'name', act)!r}.forward() (layer {l}) "
                        f"returned shape {a.shape} for input of shape {z.shape}; it must "
                        "return its input's shape"
                    )
        return a

    def predict(self, X) -> np.ndarray:
        """The network's output ``ŷ`` for raw inputs ``X`` ``(n_samples,
        layers[0])``: ``(n_samples, layers[-1])``.  With a :attr:`scaler`,
        ``X`` is scaled first, as the training inputs were."""
        from .validation import as_matrix

        Xm = as_matrix(X, "X", self.dtype, allow_1d=False)
        if Xm.shape[1] != self.layers[0]:
            names = f" ({', '.join(self.feature_names)})" if self.feature_names else ""
            raise DataError(
                f"X has {Xm.shape[1]} columns but the network's input layer has "
                f"{self.layers[0]} units; pass data with {self.layers[0]} features{names}"
            )
        if self.scaler is not None:
            Xm = self.scaler.transform(Xm)
        return self.forward(Xm)

    def predict_labels(self, X) -> np.ndarray:
        """The class label of every row of ``X``: ``(n_samples,)``.

        One output unit: ``classes[int(ŷ > 0.5)]``; ``k ≥ 2`` units:
        ``classes[argmax ŷ]``.  Needs :attr:`classes` (else a ConfigError).
        """
        return self.labels_of(self.predict(X))

    def labels_of(self, y_hat) -> np.ndarray:
        """Map outputs ``ŷ`` ``(n, layers[-1])`` to class labels ``(n,)``."""

        if self.classes is None:
            raise ConfigError(
                "this network has no class labels (Network.classes is None); train it on "
                "a class target, or read its outputs with predict()"
            )
        y_hat = np.asarray(y_hat)
        if y_hat.shape[1] == 1:
            return np.asarray(self.classes)[(y_hat[:, 0] > 0.5).astype(np.intp)]
        return np.asarray(self.classes)[np.argmax(y_hat, axis=1)]

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities ``(n_samples, len(classes))``, ordered as
        :attr:`classes`: ``[1 − ŷ, ŷ]`` for one output unit, else ``ŷ``."""
        y_hat = self.predict(X)
        if y_hat.shape[1] == 1:
            return np.column_stack([1.0 - y_hat[:, 0], y_hat[:, 0]])
        return y_hat


def _views(flat: np.ndarray, shapes) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return out


def _offset(flat: np.ndarray, view: np.ndarray) -> int:
    """Where the contiguous ``view`` into ``flat`` starts, in elements."""
    return (view.__array_interface__["data"][0] - flat.__array_interface__["data"][0]
            ) // flat.itemsize


def _readonly_pairs(views):
    ro = []
    for v in views:
        r = v.view()
        r.flags.writeable = False
        ro.append(r)
    return list(zip(ro[0::2], ro[1::2]))

"""Deliberately broken components, one (at least) per component law.

Each entry of :data:`BROKEN` is ``law id -> (family, component)``: the
component breaks that law (and may break others).  Each is also a plugin
(``tests.broken_components:<law id with . and - as _>``) so the command line
can be pointed at it: ``deltarule spec --plugin
tests.broken_components:activation_derivative --law activation.derivative``.
"""

from __future__ import annotations

import numpy as np

import deltarule
from deltarule.plugins.activations import Sigmoid
from deltarule.plugins.losses import MSE, BinaryCrossEntropy
from deltarule.plugins.optimizers import SGD, Adam


def _sig(z):
    return 1 / (1 + np.exp(-z))


# ---------------------------------------------------------------- activations
class RangeLiar:
    """tanh declaring the output range of a sigmoid."""

    name = "range_liar"
    output_range = (0.0, 1.0)

    def forward(self, z):
        return np.tanh(z)

    def derivative(self, z, a):
        return 1 - a * a


class InPlaceForward:
    """A sigmoid whose forward overwrites its argument."""

    name = "inplace_sigmoid"
    output_range = (0.0, 1.0)

    def forward(self, z):
        np.negative(z, z)
        np.exp(z, z)
        z += 1
        return 1 / z

    def derivative(self, z, a):
        return a * (1 - a)


class Float64Sigmoid:
    """A sigmoid that returns float64 whatever it is given."""

    name = "float64_sigmoid"
    output_range = (0.0, 1.0)

    def forward(self, z):
        return _sig(np.asarray(z, dtype=np.float64))

    def derivative(self, z, a):
        return np.asarray(a, dtype=np.float64) * (1 - a)


class NarrowBand:
    """A sigmoid whose derivative is 5 % off for z in [2.0, 2.05] only."""

    name = "narrow_band_sigmoid"
    output_range = (0.0, 1.0)

    def forward(self, z):
        return _sig(z)

    def derivative(self, z, a):
        d = a * (1 - a)
        return np.where((z >= 2.0) & (z <= 2.05), 1.05 * d, d)


class WrongSoftmaxVJP:
    """Softmax whose vjp forgets the − Σ g a term."""

    name = "bad_softmax"

    def forward(self, z):
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def vjp(self, z, a, g):
        return a * g


class BadOutSigmoid(Sigmoid):
    """A sigmoid whose forward(out=) writes something other than it returns."""

    name = "bad_out_sigmoid"

    def forward(self, z, out=None):
        result = _sig(z)
        if out is not None:
            np.multiply(result, 1.01, out)
        return result


class BatchNormalised:
    """'Element-wise' but centred on the batch mean: samples interact."""

    name = "batch_centred"

    def forward(self, z):
        return np.tanh(z - z.mean())

    def derivative(self, z, a):
        return 1 - a * a


class FakeSigmoid:
    """Named sigmoid, computing σ(1.01 z) with its own consistent derivative."""

    name = "sigmoid"
    output_range = (0.0, 1.0)
    kinks = ()

    def forward(self, z):
        return _sig(1.01 * z)

    def derivative(self, z, a):
        return 1.01 * a * (1 - a)


class WrongDerivative:
    """σ with σ'(z) = a instead of a (1 − a)."""

    name = "wrong_sigmoid"
    output_range = (0.0, 1.0)

    def forward(self, z):
        return _sig(z)

    def derivative(self, z, a):
        return a.copy()


class MislabelledSigmoid(Sigmoid):
    """Exports the sigmoid to ONNX but computes σ(1.001 z)."""

    name = "mislabelled_sigmoid"

    def forward(self, z, out=None):
        return super().forward(1.001 * z, out)

    def derivative(self, z, a, out=None):
        return np.multiply(1.001, super().derivative(z, a, out), out=out)


class LyingLeaky:
    """A leaky relu whose options() forget the slope."""

    name = "lying_leaky"
    kinks = (0.0,)

    def __init__(self, slope=0.2):
        self.slope = slope

    def options(self):
        return {}

    def forward(self, z):
        return np.where(z > 0, z, self.slope * z)

    def derivative(self, z, a):
        return np.where(z > 0, 1.0, self.slope)


# ---------------------------------------------------------------- losses
class HalfGradientMSE:
    """½ Σ (ŷ − y)² with a gradient off by a factor 2."""

    name = "half_mse"

    def value(self, y, y_hat):
        return 0.5 * float(np.sum((y_hat - y) ** 2))

    def gradient(self, y, y_hat):
        return 2.0 * (y_hat - y)


class TailHuber:
    """Huber (δ = 1) whose gradient is 5 % off in the tail |ŷ − y| > 1."""

    name = "tail_huber"

    def value(self, y, y_hat):
        d = np.abs(y_hat - y)
        return float(np.sum(np.where(d <= 1, 0.5 * d * d, d - 0.5)))

    def gradient(self, y, y_hat):
        r = y_hat - y
        return np.where(np.abs(r) <= 1, r, 1.05 * np.sign(r))


class OffsetLoss:
    """Squared error plus 1: its value at ŷ = y is 1, but it declares no minimum."""

    name = "offset_mse"

    def value(self, y, y_hat):
        return 1.0 + 0.5 * float(np.sum((y_hat - y) ** 2))

    def gradient(self, y, y_hat):
        return y_hat - y


class InconsistentMSE(MSE):
    """value_and_gradient gives 1 % more than value."""

    name = "inconsistent_mse"

    def value_and_gradient(self, y, y_hat, out=None):
        v, g = super().value_and_gradient(y, y_hat, out)
        return 1.01 * v, g


class MutatingMSE(MSE):
    """An MSE whose value_and_gradient shifts the targets it is given."""

    name = "mutating_mse"

    def value_and_gradient(self, y, y_hat, out=None):
        result = super().value_and_gradient(y, y_hat, out)
        y += 1.0
        return result


class Float64MSE:
    """Squared error whose gradient is always float64."""

    name = "float64_mse"

    def value(self, y, y_hat):
        return 0.5 * float(np.sum((y_hat - y) ** 2))

    def gradient(self, y, y_hat):
        return np.asarray(y_hat, dtype=np.float64) - y


class SecretMean:
    """Declares reduction "sum" but averages over samples (value and gradient)."""

    name = "secret_mean"
    reduction = "sum"

    def value(self, y, y_hat):
        return 0.5 * float(np.sum((y_hat - y) ** 2)) / len(y)

    def gradient(self, y, y_hat):
        return (y_hat - y) / len(y)


class UnscaledFusedBCE(BinaryCrossEntropy):
    """Binary cross-entropy whose fused sigmoid delta forgets the 1/n of "mean"."""

    name = "unscaled_fused_bce"

    def fused_delta(self, activation):
        fused = super().fused_delta(activation)
        if fused is None:
            return None

        def unscaled(y, y_hat, z, out):
            value = fused(y, y_hat, z, out)
            if self.reduction == "mean":
                np.multiply(out, len(y), out)
            return value

        return unscaled


class FakeMSE:
    """Named mse, computing Σ (ŷ − y)² (no ½) with the consistent gradient 2(ŷ − y)."""

    name = "mse"
    minimum = 0.0
    reduction = "sum"

    def value(self, y, y_hat):
        return float(np.sum((y_hat - y) ** 2))

    def gradient(self, y, y_hat):
        return 2.0 * (y_hat - y)


class UnweightedMean(MSE):
    """A mean squared error that takes sample weights but divides the weighted sum
    by the number of rows instead of by Σ w."""

    name = "unweighted_mean_mse"

    def __init__(self):
        super().__init__(reduction="mean")

    def value(self, y, y_hat, weights=None):
        if weights is None:
            return super().value(y, y_hat)
        rows = 0.5 * ((np.asarray(y_hat) - y) ** 2).sum(axis=1)
        return float(np.dot(weights, rows)) / len(rows)

    def options(self):
        return {}


class LyingMSE(MSE):
    """A mean squared error whose options() forget the reduction."""

    name = "lying_mse"

    def options(self):
        return {}


# ---------------------------------------------------------------- optimizers
class Climber:
    """Gradient ascent."""

    name = "climber"

    def __init__(self, lr=0.1):
        self.lr = lr

    def step(self, params, grads):
        for p, g in zip(params, grads):
            p += self.lr * g


class FixedRate(SGD):
    """SGD that ignores its lr (always 0.1)."""

    name = "fixed_rate"

    def __init__(self, lr=0.1, **options):
        super().__init__(0.1, **options)


class Drifter(SGD):
    """SGD plus a constant drift: it moves even on a zero gradient."""

    name = "drifter"

    def step(self, params, grads):
        super().step(params, grads)
        for p in params:
            p -= 1e-3


class NormalisedSGD(SGD):
    """Divides each array's gradient by that array's norm: not element-wise."""

    name = "normalised_sgd"

    def step(self, params, grads):
        for p, g in zip(params, grads):
            p -= self.lr * g / (np.linalg.norm(g) + 1e-12)


class SharedMomentum:
    """Momentum whose velocity is a class attribute: runs share it."""

    name = "shared_momentum"
    velocity = {}

    def __init__(self, lr=0.1):
        self.lr = lr

    def step(self, params, grads):
        for i, (p, g) in enumerate(zip(params, grads)):
            v = SharedMomentum.velocity.get(i, 0.0) * 0.5 - self.lr * g
            SharedMomentum.velocity[i] = v
            p += v


class GradClipper(SGD):
    """SGD that clips the gradient in place (the caller's grads change)."""

    name = "grad_clipper"

    def step(self, params, grads):
        for g in grads:
            np.clip(g, -0.5, 0.5, out=g)
        super().step(params, grads)


class FakeAdam(Adam):
    """Named adam, without the bias correction."""

    name = "adam"

    def _update(self, p, g, bufs, lr_t, t):
        m, v, s = bufs
        np.multiply(m, self.beta1, m)
        m += (1 - self.beta1) * g
        np.multiply(v, self.beta2, v)
        v += (1 - self.beta2) * g * g
        p -= lr_t * m / (np.sqrt(v) + self.eps)


class LyingMomentum(SGD):
    """Momentum whose options() forget the momentum."""

    name = "lying_momentum"
    spec_options = {"lr": 0.1, "momentum": 0.5}

    def __init__(self, lr=0.1, momentum=0.9, **options):
        from deltarule.plugins.optimizers import Momentum

        super().__init__(lr, **options)
        self.inner = Momentum(lr, momentum=momentum, **options)

    def step(self, params, grads):
        self.inner.step(params, grads)

    def options(self):
        return {"lr": self.lr}


# ---------------------------------------------------------------- initializers
class WrongShapeInit:
    """Transposed weight matrices."""

    name = "transposed_init"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        return [(rng.standard_normal((b, a)).astype(dtype), np.zeros(b, dtype))
                for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]


class FixedSeedInit:
    """A private RandomState(0): reproducible, but blind to the Generator."""

    name = "fixed_init"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        r = np.random.RandomState(0)
        return [(r.standard_normal((a, b)).astype(dtype), np.zeros(b, dtype))
                for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]


class GlobalStateInit:
    """Draws from np.random.randn, ignoring its Generator."""

    name = "global_init"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        return [(np.random.randn(a, b).astype(dtype), np.zeros(b, dtype))
                for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]


class FakeXavier:
    """Named xavier, with He's bound √(6/n_in)."""

    name = "xavier"

    def __call__(self, layer_sizes, rng, dtype=np.float64):
        out = []
        for a, b in zip(layer_sizes[:-1], layer_sizes[1:]):
            r = np.sqrt(6.0 / a)
            out.append((rng.uniform(-r, r, (a, b)).astype(dtype), np.zeros(b, dtype)))
        return out


# ---------------------------------------------------------------- stop criteria
class Truthy:
    """Answers True (not a string) from epoch 2 on."""

    name = "truthy"

    @deltarule.hookimpl
    def deltarule_stop(self, state):
        return True if state.epoch >= 2 else None


class Counting:
    """Stops after 3 calls in all — it counts in itself, across runs."""

    name = "counting"

    def __init__(self):
        self.calls = 0

    @deltarule.hookimpl
    def deltarule_stop(self, state):
        self.calls += 1
        return "counted" if self.calls % 3 == 0 else None


# ---------------------------------------------------------------- dishonest model axes
class LiarLoss:
    """Declares the model axis but gives every model the total."""

    name = "liar"
    model_axis = True
    targets = "real"
    predictions = "real"

    def value(self, y, y_hat):
        d = np.subtract(y_hat, y)
        return 0.5 * float(np.vdot(d, d)) if d.ndim == 2 else \
            np.full(len(d), 0.5 * float(np.vdot(d, d)))  # the total, not per model

    def gradient(self, y, y_hat):
        return np.subtract(y_hat, y)


class MixingActivation:
    """Declares the model axis but centres over the models."""

    name = "mixing"
    model_axis = True

    def forward(self, z):
        return np.tanh(z - z.mean(axis=0)) if z.ndim == 3 else np.tanh(z)

    def derivative(self, z, a):
        return 1 - a * a


class MixingSGD(SGD):
    """Declares the model axis but moves every row by the mean gradient too."""

    name = "mixing_sgd"

    def step(self, params, grads):
        super().step(params, grads)
        for p, g in zip(params, grads):
            if p.ndim == 2:
                p -= 0.01 * g.mean(axis=0)


class MeanLossStop:
    """Declares the model axis but compares each model with the stack's mean loss
    (alone, a model is its own mean, and stops at once)."""

    name = "mean_loss_stop"
    model_axis = True

    @deltarule.hookimpl
    def deltarule_stop(self, state):
        loss = np.asarray(state.loss)
        low = loss <= loss.mean()
        if loss.ndim:
            return np.where(low, "low", None)
        return "low" if low else None


# ---------------------------------------------------------------- the table
BROKEN = {
    "activation.forward": ("activation", RangeLiar()),
    "activation.inputs-untouched": ("activation", InPlaceForward()),
    "activation.dtype": ("activation", Float64Sigmoid()),
    "activation.derivative": ("activation", NarrowBand()),
    "activation.vjp": ("activation", WrongSoftmaxVJP()),
    "activation.out-buffer": ("activation", BadOutSigmoid()),
    "activation.rows-independent": ("activation", BatchNormalised()),
    "activation.textbook": ("activation", FakeSigmoid()),
    "activation.options": ("activation", LyingLeaky(slope=0.3)),
    "activation.onnx-export": ("activation", MislabelledSigmoid()),
    "loss.gradient": ("loss", TailHuber()),
    "loss.minimum": ("loss", OffsetLoss()),
    "loss.consistency": ("loss", InconsistentMSE()),
    "loss.inputs-untouched": ("loss", MutatingMSE()),
    "loss.dtype": ("loss", Float64MSE()),
    "loss.reduction": ("loss", SecretMean()),
    "loss.fused-delta": ("loss", UnscaledFusedBCE()),
    "loss.textbook": ("loss", FakeMSE()),
    "loss.options": ("loss", LyingMSE(reduction="mean")),
    "loss.sample-weights": ("loss", UnweightedMean()),
    "optimizer.convex-quadratic": ("optimizer", Climber),
    "optimizer.descent-direction": ("optimizer", Climber),
    "optimizer.lr-scaling": ("optimizer", FixedRate),
    "optimizer.zero-gradient": ("optimizer", Drifter),
    "optimizer.elementwise": ("optimizer", NormalisedSGD),
    "optimizer.independent-runs": ("optimizer", SharedMomentum),
    "optimizer.step-contract": ("optimizer", GradClipper),
    "optimizer.textbook": ("optimizer", FakeAdam),
    "optimizer.options": ("optimizer", LyingMomentum),
    "initializer.shapes-and-dtypes": ("initializer", WrongShapeInit()),
    "initializer.reproducible": ("initializer", FixedSeedInit()),
    "initializer.no-global-random-state": ("initializer", GlobalStateInit()),
    "initializer.distribution": ("initializer", FakeXavier()),
    "stop.reports-reason": ("stop", Truthy()),
    "stop.independent-runs": ("stop", Counting()),
    "network.gradient": ("activation", WrongDerivative()),
    "activation.model-axis": ("activation", MixingActivation()),
    "loss.model-axis": ("loss", LiarLoss()),
    "optimizer.model-axis": ("optimizer", MixingSGD),
    "stop.model-axis": ("stop", MeanLossStop()),
}

_HOOKS = {"activation": "deltarule_activations", "loss": "deltarule_losses",
          "optimizer": "deltarule_optimizers", "initializer": "deltarule_initializers"}


def plugin_name(law_id: str) -> str:
    return law_id.replace(".", "_").replace("-", "_")


def _plugin(family, component):
    if family == "stop":
        return component

    class Plugin:
        pass

    def provide(self):
        return [component]

    provide.__name__ = _HOOKS[family]
    setattr(Plugin, _HOOKS[family], deltarule.hookimpl(provide))
    Plugin.__qualname__ = Plugin.__name__ = f"Broken_{component.name}"
    return Plugin()


for _law, (_family, _component) in BROKEN.items():
    globals()[plugin_name(_law)] = _plugin(_family, _component)

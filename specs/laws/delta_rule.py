"""The loop is the delta rule of the source document.

With sigmoid layers and the summed squared error ``L = ½ Σ (y − ŷ)²`` the
document writes back-propagation as::

    δ_out = (y − ŷ) ⊙ ŷ (1 − ŷ)
    δ_h   = (δ_next W_nextᵀ) ⊙ a (1 − a)
    W    += lr · a_prevᵀ δ            b += lr · Σ_samples δ

so ``∂L/∂W = −a_prevᵀ δ`` and ``∂L/∂b = −Σ δ``.  These laws write those lines
out and compare them with what :class:`deltarule.Trainer` computes.

Tolerance: every entry within ``1e-12 ×`` the magnitude of the terms that make
it up (``|a_prev|ᵀ |δ|``, ``|δ|`` propagated with absolute values), which is
relative 1e-12 wherever no cancellation occurs.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from deltarule.specs import harness
from deltarule.specs.registry import law
from deltarule.specs.search import Violation

REL = 1e-12
USES = ("activation:sigmoid", "loss:mse", "optimizer:sgd")


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


@st.composite
def networks(draw):
    """``(layers, params, X, y, lr)``: bounded values, 1–4 hidden layers."""
    n_in = draw(st.integers(1, 8))
    hidden = draw(st.lists(st.integers(1, 8), min_size=1, max_size=4))
    n_out = draw(st.integers(1, 8))
    n = draw(st.integers(1, 16))
    layers = [n_in, *hidden, n_out]
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0]))
    rng = np.random.default_rng(seed)
    params = [(rng.uniform(-scale, scale, (a, b)), rng.uniform(-scale, scale, b))
              for a, b in zip(layers[:-1], layers[1:])]
    X = rng.uniform(-2, 2, (n, n_in))
    y = rng.uniform(0, 1, (n, n_out))
    lr = draw(st.floats(0.01, 2.0))
    return layers, params, X, y, lr


def describe(net):
    layers, _, X, _, lr = net
    return f"layers {layers}, {len(X)} samples, lr {lr!r}"


def document_delta_rule(params, X, y):
    """The document's lines for any depth: activations, δ per layer, and the
    magnitudes ``|δ|`` (propagated with absolute values) that bound round-off."""
    a = [X]
    for W, b in params:
        a.append(sigmoid(np.dot(a[-1], W) + b))
    y_hat = a[-1]
    error = y - y_hat
    deltas = [error * y_hat * (1 - y_hat)]
    sizes = [np.abs(error) * y_hat * (1 - y_hat)]
    for l in range(len(params) - 1, 0, -1):
        W_next = params[l][0]
        a_l = a[l]
        deltas.insert(0, np.dot(deltas[0], W_next.T) * a_l * (1 - a_l))
        sizes.insert(0, np.dot(sizes[0], np.abs(W_next).T) * a_l * (1 - a_l))
    return a, deltas, sizes


def assert_close(actual, expected, magnitude, what):
    bound = REL * magnitude + 1e-300
    err = np.abs(actual - expected)
    if not (err <= bound).all():
        i = np.unravel_index(int(np.argmax(err - bound)), err.shape)
        raise Violation(
            f"{what}[{', '.join(map(str, i))}]: loop {actual[i]!r}, document "
            f"{expected[i]!r}, |difference| {err[i]:.3g} > {bound[i]:.3g} "
            f"(1e-12 × term magnitude {magnitude[i]:.3g})")


@law("delta-rule.gradients", uses=USES)
def gradients(_, ctx):
    """For random sigmoid networks (1–4 hidden layers, widths 1–8, batches 1–16)
    with L = ½ Σ (y − ŷ)², the loop's gradients are the document's deltas:
    −∂L/∂W_l = a_{l−1}ᵀ δ_l and −∂L/∂b_l = Σ δ_l with δ_out = (y − ŷ) ⊙ ŷ(1 − ŷ),
    δ_h = (δ_next W_nextᵀ) ⊙ a(1 − a), to 1e-12 of the terms' magnitude; the loss
    is ½ Σ (y − ŷ)² to 1e-12.
    """
    def body(net):
        layers, params, X, y, _ = net
        loss, grads = harness.loop_gradient(layers, "sigmoid", "mse", params, X, y)
        a, deltas, sizes = document_delta_rule(params, X, y)
        expected = 0.5 * float(np.sum((y - a[-1]) ** 2))
        if not math.isclose(loss, expected, rel_tol=REL, abs_tol=1e-300):
            raise Violation(f"the loop's loss {loss!r}, the document's ½ Σ (y − ŷ)² "
                            f"{expected!r}")
        for l, ((gW, gb), delta, size) in enumerate(zip(grads, deltas, sizes), start=1):
            # the document ascends along a_prevᵀ δ: the loss gradient is its negative
            assert_close(-gW, np.dot(a[l - 1].T, delta), np.dot(np.abs(a[l - 1]).T, size),
                         f"-∂L/∂W{l} vs a{l - 1}ᵀ δ{l}")
            assert_close(-gb, np.sum(delta, axis=0), np.sum(size, axis=0),
                         f"-∂L/∂b{l} vs Σ δ{l}")

    ctx.search(body, networks(), describe=describe, shrink=False)


@law("delta-rule.sgd-step", uses=USES)
def sgd_step(_, ctx):
    """One epoch of plain SGD is the document's update, literally:
    W += lr · a_prevᵀ δ, b += lr · Σ δ, for random sigmoid networks and learning
    rates in [0.01, 2], to 1e-12 of the terms' magnitude.
    """
    from deltarule import Trainer

    def body(net):
        layers, params, X, y, lr = net
        trainer = Trainer(layers, activation="sigmoid", loss="mse", optimizer="sgd", lr=lr,
                          init=params, max_epochs=1, entry_points=False)
        result = trainer.partial_fit(X, y, epochs=1)
        if result.epochs != 1:
            raise Violation(f"partial_fit(epochs=1) ran {result.epochs} epochs")
        a, deltas, sizes = document_delta_rule(params, X, y)
        for l, ((W, b), (W_new, b_new), delta, size) in enumerate(
                zip(params, result.params, deltas, sizes), start=1):
            W_doc = W + lr * np.dot(a[l - 1].T, delta)
            b_doc = b + lr * np.sum(delta, axis=0)
            assert_close(W_new, W_doc, np.abs(W) + lr * np.dot(np.abs(a[l - 1]).T, size),
                         f"W{l} after one step")
            assert_close(b_new, b_doc, np.abs(b) + lr * np.sum(size, axis=0),
                         f"b{l} after one step")

    ctx.search(body, networks(), describe=describe, shrink=False)


@law("delta-rule.worked-example", uses=USES)
def worked_example(_, ctx):
    """One SGD step of a 1-1-1 sigmoid network worked out by hand, every number
    written out (to 1e-12 relative).

    w1 = 0.5, b1 = 0.25, w2 = −1, b2 = 0.5; x = [1, 2]ᵀ, y = [1, 0]ᵀ, lr = 0.5.
    sample 1: z1 = 0.75, a1 = σ(0.75) = 0.679178699175393, z2 = −0.179178699175393,
    ŷ = 0.455324786134229, δ2 = (1 − ŷ) ŷ (1 − ŷ) = 0.135081699968878,
    δ1 = δ2 · w2 · a1 (1 − a1) = −0.029433626172054;
    sample 2: z1 = 1.25, a1 = 0.777299861174691, z2 = −0.277299861174691,
    ŷ = 0.431115874996656, δ2 = −0.105733314145685, δ1 = 0.018302942823200;
    loss ½ [(1 − 0.455324786134229)² + 0.431115874996656²] = 0.241265993136928;
    Δw2 = lr Σ a1 δ2 = 0.004779061430141, Δb2 = lr Σ δ2 = 0.014674192911597,
    Δw1 = lr Σ x δ1 = 0.003586129737173, Δb1 = lr Σ δ1 = −0.005565341674427.
    """
    from deltarule import Trainer

    X = np.array([[1.0], [2.0]])
    y = np.array([[1.0], [0.0]])
    init = [(np.array([[0.5]]), np.array([0.25])), (np.array([[-1.0]]), np.array([0.5]))]
    result = Trainer([1, 1, 1], lr=0.5, init=init, max_epochs=1,
                     entry_points=False).partial_fit(X, y, epochs=1)
    (w1, b1), (w2, b2) = result.params
    for what, got, want in (("loss", result.history[0], 0.24126599313692793),
                            ("w1", w1[0, 0], 0.5 + 0.003586129737172603),
                            ("b1", b1[0], 0.25 - 0.005565341674427172),
                            ("w2", w2[0, 0], -1.0 + 0.0047790614301412085),
                            ("b2", b2[0], 0.5 + 0.014674192911596558)):
        if not math.isclose(got, want, rel_tol=REL):
            raise Violation(f"{what} after one step: loop {got!r}, by hand {want!r}")

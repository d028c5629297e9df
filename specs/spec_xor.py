"""The document's XOR examples, and XOR convergence stated honestly.

1. Both of the document's examples (2-3-1 and 2-3-2-1, sigmoid, lr 0.1,
   10 000 iterations) are reproduced by :func:`deltarule.train` from the same
   initial parameters: every parameter within 1e-9 of the document's loop,
   written out below exactly as the document writes it, and the loss
   ``½ Σ (y − ŷ)²`` of epochs 1, 10, 100, 1 000 and 10 000 likewise.

2. Convergence.  A plain sigmoid XOR net can end at a true stationary point
   (one output stuck near 0.5, loss ≈ 0.25, gradient → 0).  Measured for
   2-3-1 at lr 0.5 with the ``randn`` initializer: seeds 0–199 fail 3 times
   (2, 115, 185), seeds 200–2199 fail 66 times (3.3 %); at the document's
   lr 0.1 seeds 0–199 fail 15 times, 5 of them still creeping down at epoch
   10 000.  Hence three specs:

   (a) fast and deterministic: named seeds known to converge do;
   (b) statistical, ``@pytest.mark.slow``: at least 90 % of seeds 0–199
       reach ``max |y − ŷ| < 0.1`` within 10 000 epochs at lr 0.5;
   (c) a property: every run either converges or ends at a near-stationary
       point (``‖∇L‖ ≤ 1e-2`` with ``L ≥ 0.2``) — bad luck, not bad code.
       Measured over seeds 0–2199 every failure has ``‖∇L‖ ≤ 3.6e-3`` and
       ``L ≥ 0.248``.
"""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import deltarule
from deltarule.hookspecs import hookimpl
from deltarule.plugins.activations import Sigmoid
from deltarule.specs import harness
from deltarule.specs.profiles import spec_settings

x = np.array([[0, 1], [1, 0], [1, 1], [0, 0]])
y = np.array([[1], [1], [0], [0]])
CHECK_EPOCHS = (1, 10, 100, 1000, 10000)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def document_example_1(w1, b1, w2, b2, learning_rate=0.1, num_iterations=10000):
    """The document's first example, line for line (plus the loss record)."""
    w1, b1, w2, b2 = (p.copy() for p in (w1, b1, w2, b2))
    losses = []
    for i in range(num_iterations):
        # 前向传播
        z1 = np.dot(x, w1) + b1
        a1 = sigmoid(z1)
        z2 = np.dot(a1, w2) + b2
        y_hat = sigmoid(z2)
        # 计算误差
        error = y - y_hat
        losses.append(0.5 * float(np.sum(error ** 2)))
        # 反向传播
        delta2 = error * y_hat * (1 - y_hat)
        delta1 = np.dot(delta2, w2.T) * a1 * (1 - a1)
        # 更新权重和偏置
        w2 += learning_rate * np.dot(a1.T, delta2)
        b2 += learning_rate * np.sum(delta2, axis=0)
        w1 += learning_rate * np.dot(x.T, delta1)
        b1 += learning_rate * np.sum(delta1, axis=0)
    return [(w1, b1), (w2, b2)], losses


def document_example_2(w1, b1, w2, b2, w3, b3, learning_rate=0.1, num_iterations=10000):
    """The document's second (multi-layer) example, line for line."""
    w1, b1, w2, b2, w3, b3 = (p.copy() for p in (w1, b1, w2, b2, w3, b3))
    losses = []
    for i in range(num_iterations):
        # 前向传播
        z1 = np.dot(x, w1) + b1
        a1 = sigmoid(z1)
        z2 = np.dot(a1, w2) + b2
        a2 = sigmoid(z2)
        z3 = np.dot(a2, w3) + b3
        y_hat = sigmoid(z3)
        # 计算误差
        error = y - y_hat
        losses.append(0.5 * float(np.sum(error ** 2)))
        # 反向传播
        delta3 = error * y_hat * (1 - y_hat)
        delta2 = np.dot(delta3, w3.T) * a2 * (1 - a2)
        delta1 = np.dot(delta2, w2.T) * a1 * (1 - a1)
        # 更新权重和偏置
        w3 += learning_rate * np.dot(a2.T, delta3)
        b3 += learning_rate * np.sum(delta3, axis=0)
        w2 += learning_rate * np.dot(a1.T, delta2)
        b2 += learning_rate * np.sum(delta2, axis=0)
        w1 += learning_rate * np.dot(x.T, delta1)
        b1 += learning_rate * np.sum(delta1, axis=0)
    return [(w1, b1), (w2, b2), (w3, b3)], losses


def initial_params(layers, seed):
    """The document's ``np.random.randn`` draws, from a seeded Generator."""
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((a, b)), rng.standard_normal(b))
            for a, b in zip(layers[:-1], layers[1:])]


@pytest.mark.parametrize("layers, reference", [
    ([2, 3, 1], document_example_1),
    ([2, 3, 2, 1], document_example_2),
], ids=["example-1-2-3-1", "example-2-2-3-2-1"])
@pytest.mark.parametrize("seed", [0])
def test_document_example_is_reproduced(layers, reference, seed):
    init = initial_params(layers, seed)
    expected, losses = reference(*[p for pair in init for p in pair])
    result = deltarule.train(x, y, layers=layers, activation="sigmoid", loss="mse",
                             optimizer="sgd", lr=0.1, init=init, max_epochs=10000)
    assert result.epochs == 10000 and result.stop_reason == "max_epochs"
    for l, ((W, b), (W_doc, b_doc)) in enumerate(zip(result.params, expected), start=1):
        np.testing.assert_allclose(W, W_doc, rtol=0, atol=1e-9, err_msg=f"W{l}")
        np.testing.assert_allclose(b, b_doc, rtol=0, atol=1e-9, err_msg=f"b{l}")
    for epoch in CHECK_EPOCHS:
        assert result.history[epoch - 1] == pytest.approx(losses[epoch - 1], rel=1e-9,
                                                          abs=1e-12), f"epoch {epoch}"


# ---------------------------------------------------------------- convergence
class Converged:
    """Stop criterion: every output within ``tol`` of its target.

    ``L = ½ Σ e²`` over XOR's 4 rows, so ``max |e| < tol`` needs
    ``L < 2 tol²``; the forward pass is only computed below that.
    """

    name = "spec-converged"

    def __init__(self, tol=0.1):
        self.tol = tol

    @hookimpl
    def deltarule_stop(self, state):
        if state.loss >= 2 * self.tol ** 2:
            return None
        acts, _ = harness.forward(state.params, Sigmoid(), x)
        return "converged" if np.abs(acts[-1] - y).max() < self.tol else None


def xor_run(seed, *, lr=0.5, layers=(2, 3, 1), epochs=10000):
    """``(max |y − ŷ|, final loss, ‖∇L‖ of the last epoch, epochs run)``."""
    rec = harness.Recorder()
    result = deltarule.train(x, y, layers=list(layers), lr=lr, seed=seed,
                             max_epochs=epochs, plugins=[Converged(), rec])
    err = float(np.abs(result.predict(x) - y).max())
    _, loss, grad_norm, _ = rec.epochs[-1]
    return err, loss, grad_norm, result.epochs


CONVERGING_SEEDS = [0, 1, 3, 4, 5, 6]  # measured; 2 is one of the stuck ones


@pytest.mark.parametrize("seed", CONVERGING_SEEDS)
def test_named_seeds_converge(seed):
    err, loss, _, epochs = xor_run(seed)
    assert err < 0.1, f"seed {seed}: max |y − ŷ| = {err:.3g} after {epochs} epochs"


def test_a_stuck_seed_is_a_stationary_point():
    """Seed 2 is one of the unlucky ones: it must be stuck, not broken."""
    err, loss, grad_norm, epochs = xor_run(2)
    assert epochs == 10000 and err > 0.4
    assert loss >= 0.2 and grad_norm <= 1e-2


@pytest.mark.slow
def test_at_least_90_percent_of_seeds_converge():
    """Statistical: seeds 0–199, 2-3-1, lr 0.5, 10 000 epochs (≈ 10 s; measured
    197 of 200 converge)."""
    failed = [s for s in range(200) if xor_run(s)[0] >= 0.1]
    assert len(failed) <= 20, f"{len(failed)} of 200 seeds never converged: {failed}"


@spec_settings(examples={"dev": 3, "ci": 5, "thorough": 40})
@given(st.integers(0, 2**32 - 1))
def test_every_run_converges_or_is_stuck_at_a_stationary_point(seed):
    err, loss, grad_norm, epochs = xor_run(seed)
    if err < 0.1:
        return
    assert loss >= 0.2 and grad_norm <= 1e-2, (
        f"seed {seed}: after {epochs} epochs max |y − ŷ| = {err:.3g}, loss {loss:.4g}, "
        f"‖∇L‖ = {grad_norm:.3g}: neither converged nor at a stationary point")

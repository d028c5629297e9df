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
from deltarule.specs import document, harness
from deltarule.specs.document import x, y
from deltarule.specs.profiles import spec_settings

CHECK_EPOCHS = (1, 10, 100, 1000, 10000)


@pytest.mark.parametrize("layers", [[2, 3, 1], [2, 3, 2, 1]],
                         ids=["example-1-2-3-1", "example-2-2-3-2-1"])
@pytest.mark.parametrize("seed", [0])
def test_document_example_is_reproduced(layers, seed):
    init = document.initial_params(layers, seed)
    expected, _ = document.run(layers, seed)
    result = deltarule.train(x, y, layers=layers, activation="sigmoid", loss="mse",
                             optimizer="sgd", lr=0.1, init=init, max_epochs=10000)
    assert result.epochs == 10000 and result.stop_reason == "max_epochs"
    for l, ((W, b), (W_doc, b_doc)) in enumerate(zip(result.params, expected), start=1):
        np.testing.assert_allclose(W, W_doc, rtol=0, atol=1e-9, err_msg=f"W{l}")
        np.testing.assert_allclose(b, b_doc, rtol=0, atol=1e-9, err_msg=f"b{l}")
    for epoch in CHECK_EPOCHS:
        # the document's y_hat of its last iteration is the forward pass that
        # epoch's loss is computed from
        _, y_hat = document.run(layers, seed, num_iterations=epoch)
        loss = 0.5 * float(np.sum((y - y_hat) ** 2))
        assert result.history[epoch - 1] == pytest.approx(loss, rel=1e-9, abs=1e-12), \
            f"epoch {epoch}"


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

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
   (b) statistical, ``@pytest.mark.slow``: seeds 0–999 (one
       ``deltarule.train_many`` run) reach ``max |y − ŷ| < 0.1`` within
       10 000 epochs at lr 0.5 often enough that the lower bound of the 99 %
       Wilson interval of the convergence rate is at least 0.90 (measured:
       969 of 1000, 96.9 %, interval 95.2 %–98.0 %);
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
    ``L < 2 tol²``; the forward pass is only computed below that.  It
    declares the model axis: in a ``train_many`` run it judges every model
    at once from the stacked parameters.
    """

    name = "spec-converged"
    model_axis = True

    def __init__(self, tol=0.1):
        self.tol = tol

    @hookimpl
    def deltarule_stop(self, state):
        if isinstance(state.loss, np.ndarray):
            return self._per_model(state)
        if state.loss >= 2 * self.tol ** 2:
            return None
        acts, _ = harness.forward(state.params, Sigmoid(), x)
        return "converged" if np.abs(acts[-1] - y).max() < self.tol else None

    def _per_model(self, state):
        near = np.flatnonzero(state.active & (state.loss < 2 * self.tol ** 2))
        if not near.size:
            return None
        a = np.broadcast_to(x.astype(np.float64), (near.size, *x.shape))
        with np.errstate(over="ignore"):
            for W, b in state.params:
                a = Sigmoid().forward(a @ W[near] + b[near][:, None, :])
        answer = np.full(state.models, None, dtype=object)
        answer[near[np.abs(a - y).max(axis=(1, 2)) < self.tol]] = "converged"
        return answer


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


SEEDS = 1000
CONFIDENCE = 0.99


@pytest.mark.slow
def test_at_least_90_percent_of_seeds_converge():
    """Statistical: seeds 0–999, 2-3-1, lr 0.5, 10 000 epochs, in one
    ``train_many`` run (a few seconds): the 99 % Wilson interval of the
    convergence rate lies above 0.90 (measured 969 of 1000)."""
    many = deltarule.train_many(x, y, seeds=range(SEEDS), layers=[2, 3, 1], lr=0.5,
                                max_epochs=10000, plugins=[Converged()],
                                converged=("converged",))
    (row,) = many.summary(confidence=CONFIDENCE)
    failed = [r.seed for r in many if r.stop_reason != "converged"]
    assert row["rate_low"] >= 0.90, (
        f"{row['converged']} of {SEEDS} seeds converged ({100 * row['rate']:.1f} %, "
        f"{CONFIDENCE:.0%} interval {row['rate_low']:.3f}–{row['rate_high']:.3f}); "
        f"failed: {failed}")
    # the named seeds of the fast spec agree with the stacked run
    assert [many[s].stop_reason for s in CONVERGING_SEEDS] == ["converged"] * 6
    assert many[2].stop_reason == "max_epochs"


@spec_settings(examples={"dev": 3, "ci": 5, "thorough": 40})
@given(st.integers(0, 2**32 - 1))
def test_every_run_converges_or_is_stuck_at_a_stationary_point(seed):
    err, loss, grad_norm, epochs = xor_run(seed)
    if err < 0.1:
        return
    assert loss >= 0.2 and grad_norm <= 1e-2, (
        f"seed {seed}: after {epochs} epochs max |y − ŷ| = {err:.3g}, loss {loss:.4g}, "
        f"‖∇L‖ = {grad_norm:.3g}: neither converged nor at a stationary point")

"""The document's XOR examples, and XOR convergence stated honestly.

A plain sigmoid XOR net can end at a true stationary point (one output stuck
near 0.5, loss ≈ 0.25, gradient → 0).  Measured for 2-3-1 at lr 0.5 with the
``randn`` initializer: seeds 0–999 converge 969 times (96.9 %); seeds 0–199 fail
3 times (2, 115, 185); at the document's lr 0.1 seeds 0–199 fail 15 times, 5 of
them still creeping down at epoch 10 000.  Measured over seeds 0–2199 every
failure has ‖∇L‖ ≤ 3.6e-3 and L ≥ 0.248.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from deltarule.hookspecs import hookimpl
from deltarule.specs import document, harness
from deltarule.specs.document import x, y
from deltarule.specs.registry import law
from deltarule.specs.search import Violation

CHECK_EPOCHS = (1, 10, 100, 1000, 10000)
# the default (dev) profile runs both examples for 2 000 iterations: the law is
# bit-for-bit agreement with the document's loop, which any fault in a step
# breaks from the first iterations on; ci and thorough run the document's 10 000
DEV_ITERATIONS = 2000
CONVERGING_SEEDS = (0, 1, 3, 4, 5, 6)  # measured; 2 is one of the stuck ones
USES = ("activation:sigmoid", "loss:mse", "optimizer:sgd", "initializer:randn",
        "stop:max_epochs")


def document_checkpoints(layers, checkpoints):
    """The document's loop for ``layers`` from :func:`document.initial_params`
    (seed 0), run in stretches ending at each of ``checkpoints`` (increasing):
    ``(parameters after the last, {checkpoint: y_hat of that iteration})``.

    Each stretch starts from the parameters the previous one ended with; the
    loop keeps no other state, so this is the one uninterrupted run (to the
    bit) without running the first iterations again for every checkpoint.
    """
    example = document.EXAMPLES[tuple(layers)]
    params, done, y_hats = document.initial_params(layers, 0), 0, {}
    for stop in checkpoints:
        params, y_hats[stop] = example(*[p for pair in params for p in pair],
                                       learning_rate=0.1, num_iterations=stop - done)
        done = stop
    return params, y_hats


@law("xor.document-examples", uses=USES[:3] + ("stop:max_epochs",))
def document_examples(_, ctx):
    """Both of the document's examples (2-3-1 and 2-3-2-1, sigmoid, lr 0.1, 10 000
    iterations) are reproduced by deltarule.train from the same initial parameters:
    every parameter within 1e-9 of the document's loop (written out in
    deltarule.specs.document exactly as the document writes it), and the loss
    ½ Σ (y − ŷ)² of epochs 1, 10, 100, 1 000 and 10 000 to 1e-9 relative.  The
    default profile stops both at 2 000 iterations (epochs 1, 10, 100, 1 000 and
    2 000 checked); ci and thorough run the document's 10 000.
    """
    import deltarule

    iterations = DEV_ITERATIONS if ctx.profile == "dev" else 10000
    checks = tuple(e for e in CHECK_EPOCHS if e < iterations) + (iterations,)
    for layers in ([2, 3, 1], [2, 3, 2, 1]):
        init = document.initial_params(layers, 0)
        expected, y_hats = document_checkpoints(layers, checks)
        result = deltarule.train(x, y, layers=layers, activation="sigmoid", loss="mse",
                                 optimizer="sgd", lr=0.1, init=init, max_epochs=iterations,
                                 plugins=[harness.Guard(iterations)], entry_points=False)
        if result.epochs != iterations or result.stop_reason != "max_epochs":
            raise Violation(f"{layers}: ran {result.epochs} epochs, stop reason "
                            f"{result.stop_reason!r}; expected {iterations}, 'max_epochs'")
        for l, ((W, b), (W_doc, b_doc)) in enumerate(zip(result.params, expected), 1):
            for what, got, want in ((f"W{l}", W, W_doc), (f"b{l}", b, b_doc)):
                if not np.allclose(got, want, rtol=0, atol=1e-9):
                    raise Violation(f"{layers}: {what} after {iterations} epochs is "
                                    f"{got!r}; the document's loop gives {want!r}")
        for epoch in checks:
            # the y_hat of the document's iteration `epoch` is the forward pass that
            # epoch's loss is computed from
            loss = 0.5 * float(np.sum((y - y_hats[epoch]) ** 2))
            got = result.history[epoch - 1]
            if not math.isclose(got, loss, rel_tol=1e-9, abs_tol=1e-12):
                raise Violation(f"{layers}: history[{epoch - 1}] = {got!r}; the document's "
                                f"loss at iteration {epoch} is {loss!r}")


class Converged:
    """Stop criterion: every output within ``tol`` of its target (``L = ½ Σ e²``
    over 4 rows, so ``max |e| < tol`` needs ``L < 2 tol²``; the forward pass is
    only computed below that).  It declares the model axis: in a ``train_many``
    run it judges every model at once from the stacked parameters."""

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
        from deltarule.plugins.activations import Sigmoid

        acts, _ = harness.forward(state.params, Sigmoid(), x)
        return "converged" if np.abs(acts[-1] - y).max() < self.tol else None

    def _per_model(self, state):
        from deltarule.plugins.activations import Sigmoid

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
    import deltarule

    rec = harness.Recorder()
    result = deltarule.train(x, y, layers=list(layers), lr=lr, seed=seed,
                             max_epochs=epochs,
                             plugins=[harness.Guard(epochs), Converged(), rec],
                             entry_points=False)
    err = float(np.abs(result.predict(x) - y).max())
    _, loss, grad_norm, _ = rec.epochs[-1]
    return err, loss, grad_norm, result.epochs


@law("xor.named-seeds", uses=USES)
def named_seeds(_, ctx):
    """Seeds 0, 1, 3, 4, 5, 6 (measured to converge) reach max |y − ŷ| < 0.1 within
    10 000 epochs (2-3-1, lr 0.5, randn); seed 2, one of the unlucky ones, is stuck
    at a stationary point (10 000 epochs, max |y − ŷ| > 0.4, L ≥ 0.2, ‖∇L‖ ≤ 1e-2).
    """
    for seed in CONVERGING_SEEDS:
        err, loss, _, epochs = xor_run(seed)
        if not err < 0.1:
            raise Violation(f"seed {seed}: max |y − ŷ| = {err:.3g} after {epochs} epochs "
                            f"(loss {loss:.4g}); it converges when the loop is right")
    err, loss, grad_norm, epochs = xor_run(2)
    if not (epochs == 10000 and err > 0.4 and loss >= 0.2 and grad_norm <= 1e-2):
        raise Violation(f"seed 2 should be stuck at a stationary point: {epochs} epochs, "
                        f"max |y − ŷ| = {err:.3g}, loss {loss:.4g}, ‖∇L‖ = {grad_norm:.3g}")


@law("xor.converges-or-stationary", uses=USES)
def converges_or_stationary(_, ctx):
    """Every run either converges (max |y − ŷ| < 0.1 within 10 000 epochs, 2-3-1,
    lr 0.5) or ends at a near-stationary point (‖∇L‖ ≤ 1e-2 with L ≥ 0.2): bad luck,
    not bad code.
    """
    def body(seed):
        err, loss, grad_norm, epochs = xor_run(seed)
        if err < 0.1:
            return
        if not (loss >= 0.2 and grad_norm <= 1e-2):
            raise Violation(f"seed {seed}: after {epochs} epochs max |y − ŷ| = {err:.3g}, "
                            f"loss {loss:.4g}, ‖∇L‖ = {grad_norm:.3g}: neither converged "
                            "nor at a stationary point")

    ctx.search(body, st.integers(0, 2**32 - 1), describe=lambda s: f"seed {s}",
               scale=0.2, shrink=False)


SEEDS = 1000
CONFIDENCE = 0.99


@law("xor.convergence-rate", slow=True, uses=USES)
def convergence_rate(_, ctx):
    """Statistical: seeds 0–999 (one train_many run, 2-3-1, lr 0.5, randn, 10 000
    epochs) reach max |y − ŷ| < 0.1 often enough that the lower bound of the 99 %
    Wilson interval of the convergence rate is at least 0.90 (measured 969 of
    1000: 96.9 %, interval 95.2 %–98.0 %); the named seeds agree with their single
    runs.
    """
    import deltarule

    many = deltarule.train_many(x, y, seeds=range(SEEDS), layers=[2, 3, 1], lr=0.5,
                                max_epochs=10000, plugins=[Converged()],
                                converged=("converged",), entry_points=False)
    (row,) = many.summary(confidence=CONFIDENCE)
    failed = [r.seed for r in many if r.stop_reason != "converged"]
    if row["rate_low"] < 0.90:
        raise Violation(
            f"{row['converged']} of {SEEDS} seeds converged ({100 * row['rate']:.1f} %, "
            f"{CONFIDENCE:.0%} interval {row['rate_low']:.3f}–{row['rate_high']:.3f}); "
            f"failed: {failed}")
    if [many[s].stop_reason for s in CONVERGING_SEEDS] != ["converged"] * 6 or \
            many[2].stop_reason != "max_epochs":
        raise Violation("the named seeds of xor.named-seeds disagree with the stacked run")

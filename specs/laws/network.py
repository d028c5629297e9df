"""Laws of networks: every activation × loss pair of the catalogue in a real
training loop, and the network maths of :class:`deltarule.Network`.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from deltarule.specs import harness
from deltarule.specs.protocol import is_elementwise, kinks, loss_kinds, loss_value, softmax
from deltarule.specs.registry import law
from deltarule.specs.search import (
    CBRT_EPS,
    EPS,
    Violation,
    expect_close,
    expect_raises,
    fmt,
    num,
)

GRAD_ATOL, GRAD_RTOL = 1e-7, 1e-5


def pair_skip_reason(act, loss) -> str | None:
    """Why ``act`` as output activation cannot feed ``loss`` (None if it can)."""
    preds = getattr(loss, "predictions", "real")
    if preds == "real":
        return None
    lname, aname = getattr(loss, "name", "?"), getattr(act, "name", "?")
    probe = np.linspace(-10, 10, 41).reshape(-1, 1)
    if preds == "unit":
        r = getattr(act, "output_range", None)
        if r is not None:
            if float(r[0]) >= 0.0 and float(r[1]) <= 1.0:
                return None
            return (f"activation {aname!r} declares output_range {tuple(r)!r}, which is "
                    f"not inside (0, 1), the predictions loss {lname!r} needs "
                    f"(predictions='unit')")
        with np.errstate(all="ignore"):
            a = np.asarray(act.forward(probe))
        if ((a > 0) & (a < 1)).all():
            return None
        return (f"activation {aname!r} (no output_range declared) gives outputs outside "
                f"(0, 1), the predictions loss {lname!r} needs (predictions='unit')")
    if preds == "simplex":
        if is_elementwise(act):
            return (f"activation {aname!r} is element-wise: its rows do not lie on the "
                    f"probability simplex that loss {lname!r} needs (predictions='simplex')")
        z = np.random.default_rng(0).uniform(-3, 3, (5, 3))
        with np.errstate(all="ignore"):
            a = np.asarray(act.forward(z))
        if ((a > 0) & (a < 1)).all() and np.allclose(a.sum(axis=1), 1.0, atol=1e-9):
            return None
        return (f"activation {aname!r} does not give rows on the probability simplex "
                f"that loss {lname!r} needs (predictions='simplex')")
    return f"loss {lname!r} declares unknown predictions={preds!r}"


NET = st.tuples(
    st.integers(0, 2**32 - 1),                            # parameters and data
    st.integers(1, 3),                                    # inputs
    st.lists(st.integers(1, 4), min_size=1, max_size=2),  # hidden widths
    st.integers(1, 3),                                    # outputs
    st.integers(1, 6),                                    # samples
)


def network_problem(act, loss, example):
    seed, n_in, hidden, n_out, n = example
    targets, preds = loss_kinds(loss)
    if targets == "one_hot" or preds == "simplex":
        n_out = max(n_out, 2)
    layers = [n_in, *hidden, n_out]
    rng = np.random.default_rng(seed)
    params = [(rng.normal(0.0, 1.0 / math.sqrt(a), (a, b)), rng.normal(0.0, 0.5, b))
              for a, b in zip(layers[:-1], layers[1:])]
    X = rng.uniform(-1, 1, (n, n_in))
    if targets == "binary":
        y = (rng.random((n, n_out)) < 0.5).astype(np.float64)
    elif targets == "one_hot":
        y = np.eye(n_out)[rng.integers(0, n_out, n)]
    elif preds == "unit":
        y = rng.uniform(0.05, 0.95, (n, n_out))
    elif preds == "simplex":
        y = softmax(rng.uniform(-2, 2, (n, n_out)))
    else:
        y = rng.uniform(-1, 1, (n, n_out))
    return layers, params, X, y


def describe_net(example, layers=None, X=None, y=None):
    text = (f"network seed {example[0]}, layers {layers or '(see seed)'}, "
            f"{example[4]} samples")
    if X is not None:
        text += f"\n  X = {fmt(X)}\n  y = {fmt(y)}"
    return text


def _pair_applies(pair):
    return pair_skip_reason(*pair)


@law("network.gradient", pair=True, applies=_pair_applies)
def gradient(pair, ctx):
    """For every activation × loss pair: the loop's ∂L/∂W_l, ∂L/∂b_l (read from
    state.grads after one full-batch epoch with a frozen optimizer) equal central
    differences of L(θ) for every parameter, to 1e-7 + 1e-5·|numeric| +
    100 ε (1 + |L|)/h with h = ∛ε·max(1, |θ|); the loop's loss equals
    value(y, f(X)) to 1e-9 relative; two frozen epochs agree bit for bit (no
    component writes into the loop's buffers).

    Random networks of 1–2 hidden layers (widths 1–4, 1–6 samples); draws within
    1e-3 of a declared kink are rejected.  When it fails, the members' own laws
    are re-run to name the culprit.
    """
    act, loss = pair
    ks = kinks(act)

    def body(example):
        layers, params, X, y = network_problem(act, loss, example)
        acts, zs = harness.forward(params, act, X)
        if ks.size:
            gap = min(float(np.min(np.abs(z[..., None] - ks))) for z in zs)
            assume(gap > 1e-3)  # a finite difference across a kink measures nothing
        L_loop, grads = harness.loop_gradient(layers, act, loss, params, X, y)
        L_ref = loss_value(loss, y, acts[-1])
        if not math.isclose(L_loop, L_ref, rel_tol=1e-9, abs_tol=1e-12):
            raise Violation(f"the loop's loss {L_loop!r} differs from value(y, forward(X)) "
                            f"= {L_ref!r}\n{describe_net(example, layers, X, y)}")
        for l, (W, b) in enumerate(params):
            for which, arr, g in (("W", W, grads[l][0]), ("b", b, grads[l][1])):
                for idx in np.ndindex(arr.shape):
                    h = CBRT_EPS * max(1.0, abs(arr[idx]))
                    vals = []
                    for sign in (1, -1):
                        moved = [(Wk.copy(), bk.copy()) for Wk, bk in params]
                        target = moved[l][0 if which == "W" else 1]
                        target[idx] += sign * h
                        vals.append((loss_value(loss, y, harness.forward(moved, act, X)[0][-1]),
                                     target[idx]))
                    (fp, xp), (fm, xm) = vals
                    numeric = (fp - fm) / (xp - xm)
                    tol = GRAD_ATOL + GRAD_RTOL * abs(numeric) + 100 * EPS * (1 + abs(L_ref)) / h
                    if not (math.isfinite(g[idx]) and abs(g[idx] - numeric) <= tol):
                        raise Violation(
                            f"∂L/∂{which}{l + 1}{[int(k) for k in idx]}: loop {num(g[idx])}, "
                            f"central difference {num(numeric)} (|difference| "
                            f"{abs(g[idx] - numeric):.3g} > tolerance {tol:.3g})\n"
                            f"{describe_net(example, layers, X, y)}")

    # no shrinking: every attempt trains and differentiates a network, and the
    # first failing draw is already small (generation starts from the simplest)
    ctx.search(body, NET, describe=lambda e: describe_net(e), shrink=False, scale=0.6)


# ---------------------------------------------------------------- Network maths
@law("network.forward", uses=("activation:sigmoid", "activation:tanh", "activation:relu",
                              "activation:softmax", "activation:identity"))
def forward(_, ctx):
    """Network(layers, activations, params).forward(X) and .predict(X) equal the
    textbook forward pass a_l = f_l(a_{l−1} W_l + b_l) written out here, bit for
    bit in float64 and float32 (the network's dtype kept); set_params copies (the
    caller's arrays are never aliased or changed), params returns copies, copy()
    is independent, W_l, b_l are views of the flat theta in the order W1, b1,
    W2, b2, ..., biases given as (1, n) rows are taken as (n,) vectors, and a
    weight matrix of the wrong shape is refused with a DataError naming it.
    """
    from deltarule import Network
    from deltarule.plugins import activations as A

    rng = ctx.rng("network.forward")
    for layers, acts in (([3, 4, 2], [A.Sigmoid(), A.Identity()]),
                         ([2, 5, 3, 4], [A.Tanh(), A.ReLU(), A.Softmax()]),
                         ([1, 1], [A.Sigmoid()])):
        params = [(rng.normal(0, 1, (a, b)), rng.normal(0, 1, b))
                  for a, b in zip(layers[:-1], layers[1:])]
        saved = [(W.copy(), b.copy()) for W, b in params]
        X = rng.uniform(-2, 2, (5, layers[0]))
        for dtype in (np.float64, np.float32):
            net = Network(layers, acts, params, dtype)
            if any(np.shares_memory(W, net.theta) for W, _ in params):
                raise Violation("Network shares memory with the caller's parameters")
            Xd = X.astype(dtype)
            a = Xd
            for (W, b), f in zip(params, acts):
                a = f.forward(a @ W.astype(dtype) + b.astype(dtype))
            out = net.forward(Xd)
            pred = net.predict(X)
            for what, got in (("forward(X)", out), ("predict(X)", pred)):
                got = np.asarray(got)
                if got.dtype != np.dtype(dtype) or got.shape != a.shape:
                    raise Violation(f"{what} of a {np.dtype(dtype).name} network has dtype "
                                    f"{got.dtype.name}, shape {got.shape}; expected "
                                    f"{np.dtype(dtype).name}, {a.shape}")
                expect_close(f"{what} ({np.dtype(dtype).name}, layers {layers}) vs "
                             "a_l = f(a_{l-1} W_l + b_l)", got, a, 0.0)
            flat = np.concatenate([np.concatenate([W.astype(dtype).ravel(),
                                                   b.astype(dtype)]) for W, b in params])
            if not np.array_equal(net.theta, flat):
                raise Violation("theta is not W1, b1, W2, b2, ... flattened in order")
            got = net.params
            for (W, b), (W2, b2) in zip(got, params):
                if not (np.array_equal(W, W2.astype(dtype)) and np.array_equal(
                        b, b2.astype(dtype))):
                    raise Violation("params does not return the parameters set")
            got[0][0][...] = 99.0
            twin = net.copy()
            twin.theta[...] = -1.0
            if np.any(net.theta == 99.0) or np.any(net.theta == -1.0):
                raise Violation("params or copy() share memory with the network")
            for (W, b), (W0, b0) in zip(params, saved):
                if not (np.array_equal(W, W0) and np.array_equal(b, b0)):
                    raise Violation("the caller's parameters were modified")
            W1 = net.weights[0]
            if not np.shares_memory(W1, net.theta):
                raise Violation("W1 is not a view of theta")
        # biases given as (1, n) rows are taken as (n,)
        rows = [(W, b.reshape(1, -1)) for W, b in params]
        net = Network(layers, acts, rows)
        if not all(np.array_equal(b, b0) for (_, b), (_, b0) in zip(net.params, params)):
            raise Violation("biases given as (1, n) rows were not taken as (n,) vectors")
        # a weight matrix of the wrong shape is refused (not reshaped), naming it
        from deltarule import DataError

        wrong = [(params[0][0].T.copy(), params[0][1])] + params[1:]
        if wrong[0][0].shape == params[0][0].shape:
            continue  # square: a transposed W1 has the right shape
        try:
            Network(layers, acts, wrong)
        except DataError as exc:
            if "W1" not in str(exc):
                raise Violation(f"refusing a transposed W1, the error does not name W1: "
                                f"{exc}") from None
        else:
            raise Violation(f"a transposed W1 {wrong[0][0].shape} was accepted for layers "
                            f"{layers}")


class _WrongShape:
    """An activation whose output drops the last column (a shape bug)."""

    name = "wrong_shape"

    def forward(self, z):
        return z[:, :-1]

    def derivative(self, z, a):
        return np.ones_like(z)


@law("network.outputs", uses=("activation:sigmoid", "activation:identity",
                              "activation:softmax"))
def outputs(_, ctx):
    """What a network reports from its outputs ``ŷ`` ``(n, k)``:
    ``labels_of(ŷ)`` is ``classes[int(ŷ > 0.5)]`` for one output unit (0.5
    exactly is the first class) and ``classes[argmax_j ŷ_ij]`` along each row
    for ``k ≥ 2`` (any array-like ``ŷ``); ``predict_labels(X) =
    labels_of(predict(X))``; ``predict_proba(X)`` is ``[1 − ŷ, ŷ]`` for one
    unit, else ``ŷ``; with a scaler, ``predict(X) = forward((X − offset) /
    scale)``, and ``X`` with the wrong number of columns is a DataError listing
    the features; ``copy()`` keeps the scaler, classes and column names; an
    activation whose output has the wrong shape is a PluginError naming it and
    its layer.
    """
    from deltarule import Network, PluginError
    from deltarule.plugins import activations as A
    from deltarule.preprocessing import Scaler

    rng = ctx.rng("network.outputs")
    X = rng.uniform(-2, 2, (6, 3))
    # one output unit; row 0's output set to 0.5 exactly
    params = [(rng.normal(0, 1, (3, 1)), np.array([0.2]))]
    one = Network([3, 1], [A.Sigmoid()], params)
    one.classes = np.array(["no", "yes"])
    y_hat = one.forward(X)
    y_hat[0, 0] = 0.5
    want = np.where(y_hat[:, 0] > 0.5, "yes", "no")
    got = one.labels_of(y_hat.tolist())
    if not np.array_equal(got, want):
        raise Violation(f"labels_of for one output unit: {got.tolist()} for ŷ = "
                        f"{y_hat[:, 0].tolist()}; expected classes[int(ŷ > 0.5)] = "
                        f"{want.tolist()} (0.5 exactly is the first class)")
    proba = one.predict_proba(X)
    p = one.forward(X)[:, 0]
    expect_close("predict_proba, one output unit, vs [1 − ŷ, ŷ]", proba,
                 np.column_stack([1.0 - p, p]), 0.0)
    # several units: argmax along each row
    k3 = [(rng.normal(0, 1, (3, 4)), rng.normal(0, 1, 4)),
          (rng.normal(0, 1, (4, 3)), rng.normal(0, 1, 3))]
    many = Network([3, 4, 3], [A.Sigmoid(), A.Softmax()], k3)
    many.classes = np.array([10, 20, 30])
    scores = np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    got = many.labels_of(scores)
    if not np.array_equal(got, [20, 10, 30, 30]):
        raise Violation(f"labels_of for 3 output units: {got.tolist()} for ŷ = "
                        f"{scores.tolist()}; expected classes[argmax ŷ_i] per row = "
                        "[20, 10, 30, 30]")
    out = many.forward(X)
    expect_close("predict_proba, several units, vs ŷ", many.predict_proba(X), out, 0.0)
    labels = many.predict_labels(X)
    if not np.array_equal(labels, many.classes[np.argmax(out, axis=1)]):
        raise Violation(f"predict_labels(X) = {labels.tolist()}; labels_of(predict(X)) = "
                        f"{many.classes[np.argmax(out, axis=1)].tolist()}")
    # a scaler: predict scales, forward does not
    offset, scale = rng.uniform(-1, 1, 3), rng.uniform(0.5, 2.0, 3)
    many.scaler = Scaler("standard", offset, scale)
    expect_close("predict(X) with a scaler vs forward((X − offset) / scale)",
                 many.predict(X), many.forward((X - offset) / scale), 0.0)
    expect_close("forward(X) with a scaler (it must not scale)", many.forward(X), out, 0.0)
    many.feature_names, many.target_names = ("a", "b", "c"), ("t",)
    from deltarule import DataError

    expect_raises("predict on 2 columns of a 3-input network with features a, b, c",
                  lambda: many.predict(X[:, :2]), DataError, "a, b, c")
    twin = many.copy()
    for key in ("scaler", "classes", "feature_names", "target_names"):
        if getattr(twin, key) is None:
            raise Violation(f"copy() lost the network's {key}")
    expect_close("copy().predict(X) vs predict(X)", twin.predict(X), many.predict(X), 0.0)
    # a component returning the wrong shape is named, with its layer
    bad = Network([3, 4, 3], [A.Sigmoid(), _WrongShape()], k3)
    expect_raises("an activation returning shape (n, k − 1) in layer 2",
                  lambda: bad.forward(X), PluginError, "wrong_shape", "layer 2")


class _NoMemory:
    """``numpy`` as a module sees it, except that ``empty`` raises MemoryError."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def empty(*args, **kwargs):
        raise MemoryError


@law("network.memory-limit", uses=("activation:identity", "loss:mse"))
def memory_limit(_, ctx):
    """A network of more than ``MAX_PARAMETERS`` parameters is refused with a
    ConfigError before anything is allocated, naming the count and the limit;
    a run whose parameters and batch buffers exceed the memory budget is refused
    the same way, naming the rows and the budget; a workspace whose buffers
    cannot be allocated (``MemoryError``) is a ConfigError naming the layers,
    the rows and the bytes asked for: ``rows · Σ_l n_l · itemsize`` times 4
    (``z, a, g, δ``) when it trains, 2 (``z, a``) for the forward pass only.
    """
    from deltarule import ConfigError, Network
    from deltarule import workspace as ws_module
    from deltarule.plugins import activations as A
    from deltarule.plugins.losses import MSE
    from deltarule.validation import MAX_PARAMETERS, format_bytes

    huge = [2 ** 14, 2 ** 14 + 1]  # just over 2**28 weights and biases
    expect_raises(f"a {huge} network ({2 ** 28 + 2 * 2 ** 14 + 1} parameters)",
                  lambda: Network(huge, [A.Identity()], [], np.float32), ConfigError,
                  "at most", str(MAX_PARAMETERS))
    # a run whose parameters and batch buffers exceed the memory budget is refused
    # before anything is allocated (the budget lowered here to 64 MiB)
    from deltarule import Trainer
    from deltarule import validation

    layers = [1, 4096, 1]  # 4 · 1024 rows · 4097 units · 8 bytes: 128 MiB of buffers
    saved = validation.memory_budget
    validation.memory_budget = lambda: (64 << 20, "the spec's 64 MiB budget")
    try:
        expect_raises(f"training {layers} on 1024 rows (128 MiB of buffers) under a "
                      "64 MiB budget", lambda: Trainer(
                          layers, max_epochs=1, seed=0, entry_points=False).fit(
                          np.zeros((1024, 1)), np.zeros((1024, 1))),
                      ConfigError, "the spec's 64 MiB budget", "1024 rows")
    finally:
        validation.memory_budget = saved
    for layers, dtype in (([3, 5, 2], np.float64), ([7, 4, 4, 1], np.float32)):
        net = Network(layers, [A.Identity()] * (len(layers) - 1),
                      [(np.zeros((a, b)), np.zeros(b)) for a, b in zip(layers[:-1],
                                                                       layers[1:])], dtype)
        for backward, buffers in ((True, 4), (False, 2)):
            rows = 1000
            want = format_bytes(rows * sum(layers) * buffers * np.dtype(dtype).itemsize)
            saved, ws_module.np = ws_module.np, _NoMemory()
            try:
                expect_raises(f"out of memory for a {layers} workspace of {rows} rows "
                              f"({np.dtype(dtype).name}, backward={backward})",
                              lambda: ws_module.Workspace(net, MSE(), rows,
                                                          backward=backward),
                              ConfigError, want, "-".join(map(str, layers)), str(rows))
            finally:
                ws_module.np = saved

"""The model-axis law: a component that declares ``model_axis = True`` honours it.

``deltarule.train_many`` stacks networks along a leading model axis and
hands a component that declares ``model_axis = True`` arrays of shape
``(models, n_samples, n_units)`` (optimizers: ``(models, n_params)``), one
call for every model.  The declaration is a promise, checked here per family
on random inputs (hypothesis), ``models`` in 1–4:

activation  ``model-axis``  ``forward``, ``derivative`` / ``vjp`` (and their
            ``out=`` forms) on the stack equal the calls on each model's
            2-D block;
loss        ``model-axis``  ``value`` on the stack returns ``(models,)``, each
            entry the value of that model alone, with the targets shared
            (2-D) or stacked (3-D); ``gradient``, ``value_and_gradient`` and
            the fused deltas (with the bundled sigmoid and softmax) likewise;
optimizer   ``model-axis``  ``step`` on ``(models, n_params)`` moves every row
            as 1-D steps of that row alone would, for several steps; after
            ``take(rows)`` the kept rows go on exactly as before;
stop        ``model-axis``  a short ``train_many`` run with the plugin (XOR,
            seeds × two learning rates) stops every model with the reason and
            at the epoch of the single run with its seed.

"Equal" is to ``1e-12 · (1 + |value|)`` (the bundled components agree to the
bit).  A component without the declaration is skipped: it runs through the
per-model fallback, which needs no promise.

Self-contained for the spec suite's registry: :data:`MODEL_AXIS_LAWS` holds
one :class:`deltarule.specs.checks.Law` per family (register them with the
other laws), :func:`check_model_axis` runs the one for a component, and the
pytest spec below parametrises over every registered component.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deltarule.specs.checks import Law, run_law
from deltarule.specs.profiles import quiet

TOL = 1e-12


class AxisViolation(AssertionError):
    """The stacked call disagreed with the per-model calls."""


def _declares(component):
    if getattr(component, "model_axis", False) is not True:
        return "does not declare model_axis = True (it runs once per model)"
    return None


def _close(stacked, per_model, what):
    stacked = np.asarray(stacked, dtype=np.float64)
    per_model = np.asarray(per_model, dtype=np.float64)
    if stacked.shape != per_model.shape:
        raise AxisViolation(f"{what}: the stacked call gave shape {stacked.shape}, the "
                            f"per-model calls {per_model.shape}")
    bad = ~((stacked == per_model) | (np.abs(stacked - per_model)
                                       <= TOL * (1 + np.abs(per_model))))
    bad &= ~(np.isnan(stacked) & np.isnan(per_model))
    if bad.any():
        i = tuple(int(k) for k in np.argwhere(bad)[0])
        raise AxisViolation(f"{what}: stacked {stacked[i]!r} but model {i[0]} alone "
                            f"gives {per_model[i]!r} (entry {list(i)})")


def _search(body, strategy, hs):
    @quiet(hs)
    @given(strategy)
    def search(example):
        try:
            body(example)
        except AxisViolation:
            raise
        except Exception as exc:
            raise AxisViolation(f"raised {type(exc).__name__}: {exc}") from None

    try:
        search()
    except AxisViolation as exc:
        return str(exc)
    return None


def _blocks(lo, hi, units=(1, 4)):
    shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(*units))
    elements = st.floats(lo, hi, allow_nan=False, allow_subnormal=False)
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


def _per_model(fn, *arrays):
    return np.stack([np.asarray(fn(*(a[m] for a in arrays))) for m in range(len(arrays[0]))])


# ---------------------------------------------------------------- activations
def _activation_law(act, hs):
    lo, hi = (float(v) for v in getattr(act, "domain", (-10.0, 10.0)))
    lo, hi = max(lo, -50.0), min(hi, 50.0)

    def body(z):
        a = np.asarray(act.forward(z.copy()))
        _close(a, _per_model(act.forward, z), "forward(z)")
        if _takes_out(act.forward):
            buf = np.empty_like(z)
            act.forward(z, out=buf)
            _close(buf, a, "forward(z, out=buf)")
        g = np.cos(3 * z)  # any upstream gradient
        for name, args in (("derivative", (z, a)), ("vjp", (z, a, g))):
            method = getattr(act, name, None)
            if not callable(method):
                continue
            stacked = np.asarray(method(*(x.copy() for x in args)))
            _close(stacked, _per_model(method, *args), f"{name}(…)")
            if _takes_out(method):
                buf = np.empty_like(z)
                method(*args, out=buf)
                _close(buf, stacked, f"{name}(…, out=buf)")

    return _search(body, _blocks(lo, hi), hs)


def _takes_out(method):
    import inspect

    try:
        return "out" in inspect.signature(method).parameters
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------- losses
def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _loss_examples(loss):
    targets = getattr(loss, "targets", "real")
    preds = getattr(loss, "predictions", "real")
    kmin = 2 if (targets == "one_hot" or preds == "simplex") else 1

    def build(shape_and_seed):
        (m, n, k), seed = shape_and_seed
        rng = np.random.default_rng(seed)
        z = rng.uniform(-3, 3, (m, n, k))
        if preds == "unit":
            y_hat = 1 / (1 + np.exp(-z))
        elif preds == "simplex":
            y_hat = _softmax(z)
        else:
            y_hat = z
        if targets == "binary":
            y = (rng.random((m, n, k)) > 0.5).astype(float)
        elif targets == "one_hot":
            y = np.eye(k)[rng.integers(0, k, (m, n))]
        else:
            y = rng.uniform(-2, 2, (m, n, k)) if preds == "real" else \
                (1 / (1 + np.exp(-rng.uniform(-3, 3, (m, n, k)))))
        return y, y_hat, z

    shapes = st.tuples(st.integers(1, 4), st.integers(1, 6), st.integers(kmin, 4))
    return st.tuples(shapes, st.integers(0, 2**32 - 1)).map(build)


def _loss_law(loss, hs):
    from deltarule.plugins.activations import Sigmoid, Softmax

    def body(example):
        y3, y_hat, z = example
        for y, shared in ((y3, False), (y3[0], True)):
            ys = np.broadcast_to(y, y_hat.shape)
            what = "with targets shared by every model" if shared else ""
            v = np.asarray(loss.value(y, y_hat.copy()))
            if v.shape != (len(y_hat),):
                raise AxisViolation(f"value(y, y_hat) with y_hat {y_hat.shape} returned "
                                    f"shape {v.shape}; a model-axis loss returns one value "
                                    f"per model, ({len(y_hat)},)")
            _close(v, _per_model(loss.value, ys, y_hat), f"value {what}")
            grad = loss.gradient(y, y_hat.copy())
            _close(grad, _per_model(loss.gradient, ys, y_hat), f"gradient {what}")
            vg = getattr(loss, "value_and_gradient", None)
            if callable(vg):
                value, g = vg(y, y_hat.copy())
                per = [vg(ys[m], y_hat[m]) for m in range(len(y_hat))]
                _close(value, [p[0] for p in per], f"value_and_gradient value {what}")
                _close(g, np.stack([p[1] for p in per]), f"value_and_gradient gradient {what}")
            fused_for = getattr(loss, "fused_delta", None)
            if callable(fused_for):
                for act in (Sigmoid(), Softmax()):
                    fused = fused_for(act)
                    if fused is None:
                        continue
                    out = np.empty_like(y_hat)
                    a = np.asarray(act.forward(z.copy()))
                    value = fused(y, a, z, out)
                    outs = np.empty_like(y_hat)
                    per = [fused(ys[m], a[m], z[m], outs[m]) for m in range(len(z))]
                    _close(value, per, f"fused_delta({act.name}) value {what}")
                    _close(out, outs, f"fused_delta({act.name}) delta {what}")

    return _search(body, _loss_examples(loss), hs)


# ---------------------------------------------------------------- optimizers
def _optimizer_law(factory, hs):
    options = dict(getattr(factory, "spec_options", None) or {"lr": 0.1})

    def body(example):
        m, p, seed = example
        rng = np.random.default_rng(seed)
        theta = rng.standard_normal((m, p))
        grads = [rng.standard_normal((m, p)) for _ in range(6)]
        stacked, alone = factory(**options), [factory(**options) for _ in range(m)]
        rows = [theta[i].copy() for i in range(m)]
        for k in range(4):
            stacked.step([theta], [grads[k]])
            for i in range(m):
                alone[i].step([rows[i]], [grads[k][i].copy()])
            _close(theta, np.stack(rows), f"step {k + 1}")
        keep = np.arange(0, m, 2)
        stacked.take(keep)
        theta = theta[keep].copy()
        for k in range(4, 6):
            stacked.step([theta], [grads[k][keep]])
            for i in keep:
                alone[i].step([rows[i]], [grads[k][i].copy()])
            _close(theta, np.stack([rows[i] for i in keep]), f"step {k + 1} after take")

    strategy = st.tuples(st.integers(1, 4), st.integers(1, 9), st.integers(0, 2**32 - 1))
    if not callable(getattr(factory, "take", None)):
        return ("declares model_axis = True but has no take(rows): a stacked run "
                "cannot drop the models that stopped")
    return _search(body, strategy, hs)


# ---------------------------------------------------------------- stop criteria
def _stop_law(plugin, hs):
    import deltarule
    from deltarule.datasets import xor

    X, y = xor()

    def body(example):
        seeds, epochs = example
        many = deltarule.train_many(X, y, seeds=seeds, lr=[0.5, 1.5], max_epochs=epochs,
                                    plugins=[plugin], entry_points=False)
        for spec, got in zip(many.specs, many.results):
            alone = deltarule.train(X, y, seed=spec.seed, max_epochs=epochs,
                                    plugins=[plugin], entry_points=False, **spec.settings)
            if (got.stop_reason, got.epochs) != (alone.stop_reason, alone.epochs):
                raise AxisViolation(
                    f"seed {spec.seed}, {spec.settings}: the stacked run stopped with "
                    f"{got.stop_reason!r} at epoch {got.epochs}, the run alone with "
                    f"{alone.stop_reason!r} at epoch {alone.epochs}")

    strategy = st.tuples(st.lists(st.integers(0, 10**6), min_size=1, max_size=3,
                                  unique=True), st.integers(1, 80))
    from hypothesis import settings

    return _search(body, strategy, settings(hs, max_examples=min(hs.max_examples, 5)))


MODEL_AXIS_LAWS: dict[str, Law] = {
    "activation": Law("activation", "model-axis", "a model-axis activation must treat "
                      "each model's block as a call on that block alone",
                      _activation_law, _declares),
    "loss": Law("loss", "model-axis", "a model-axis loss must give each model the value "
                "and gradient of that model alone", _loss_law, _declares),
    "optimizer": Law("optimizer", "model-axis", "a model-axis optimizer must step each "
                     "row as that row alone, and keep rows after take()",
                     _optimizer_law, _declares),
    "stop": Law("stop", "model-axis", "a model-axis stop criterion must stop each model "
                "as the run alone stops", _stop_law, _declares),
}


def check_model_axis(component, family: str, *, plugin: str = "<direct>",
                     profile: str | None = None, name: str | None = None):
    """Run the model-axis law of ``family`` on ``component``; a ``CheckResult``."""
    return run_law(MODEL_AXIS_LAWS[family], component, plugin=plugin, profile=profile,
                   name=name)


# ---------------------------------------------------------------- the spec
def pytest_generate_tests(metafunc):
    if "model_axis_subject" not in metafunc.fixturenames:
        return
    from deltarule.specs import checks
    from deltarule.specs.pytest_plugin import registry_for

    reg, names = registry_for(metafunc.config)
    only = names if names and not metafunc.config.getoption("deltarule_all",
                                                             default=False) else None
    subjects = [s for s in checks.subjects(reg, only) if s.family in MODEL_AXIS_LAWS]
    metafunc.parametrize("model_axis_subject", subjects,
                         ids=[f"{s.name}-model-axis" for s in subjects])


def test_model_axis(model_axis_subject, deltarule_expect):
    s = model_axis_subject
    deltarule_expect(check_model_axis(s.component, s.family, plugin=s.plugin,
                                      name=s.name))


def test_every_bundled_component_declares_the_model_axis():
    from deltarule.registry import make_plugin_manager

    reg = make_plugin_manager(entry_points=False)
    for family, table in reg.catalogue().families.items():
        if family == "initializers":
            continue  # called per model with that model's generator
        for name, entry in table.items():
            assert getattr(entry.component, "model_axis", False) is True, (family, name)
    for impl in reg.implementations("deltarule_stop"):
        assert getattr(reg.pm.get_plugin(impl.plugin), "model_axis", False), impl.plugin


class _Liar:
    """Declares the model axis but mixes the models up."""

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


class _MixingActivation:
    name = "mixing"
    model_axis = True

    def forward(self, z):
        return np.tanh(z - z.mean(axis=0)) if z.ndim == 3 else np.tanh(z)

    def derivative(self, z, a):
        return 1 - a * a


def test_the_law_catches_a_dishonest_declaration():
    assert check_model_axis(_Liar(), "loss").failed
    assert check_model_axis(_MixingActivation(), "activation").failed
    undeclared = type("Plain", (), {"name": "plain", "forward": staticmethod(np.tanh),
                                    "derivative": staticmethod(lambda z, a: 1 - a * a)})()
    assert check_model_axis(undeclared, "activation").skipped

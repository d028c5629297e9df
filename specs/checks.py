"""The component laws, as reusable checks that return results.

Every component a registered plugin provides must obey its family's laws.
Each law is a :class:`Law`; running it on a component searches for a
counter-example with hypothesis and returns a :class:`CheckResult` naming
the family, the component, the plugin, the check, and — on failure — the
offending input with the analytic and the numeric values.

The laws (tolerances are part of the contract and stated with each law):

activations
    ``forward``       finite on the declared ``domain``, same shape, inside
                      the declared ``output_range``, leaves ``z`` untouched;
    ``derivative``    element-wise ``derivative(z, a)`` equals the central
                      difference ``(f(z+h) − f(z−h)) / 2h``,
                      ``h = ∛ε · max(1, |z|)``, to ``1e-7 + 1e-5·|numeric|``,
                      except within ``2h`` of a declared kink;
    ``vjp``           (non-element-wise activations) ``vjp(z, a, g)`` equals
                      the central difference of ``Σ g ⊙ f(z)`` entry by entry,
                      same tolerance;
    ``out-buffer``    methods taking ``out=`` write the same values there;
    ``onnx-export``   (activations declaring ``lower_onnx``) the exported one-layer
                      graph run by onnxruntime equals ``forward`` within
                      ``1e-12·(1 + |f|)`` (float64) and ``1e-6·(1 + |f|)``
                      (float32); see :mod:`deltarule.specs.onnx_law`;
losses
    ``gradient``      ``gradient(y, ŷ)`` equals the central difference of
                      ``value`` entry by entry (relative step ``∛ε``) to
                      ``1e-5·|numeric| + 1e-7 + 100 ε (1 + |L|) / h``; for
                      ``predictions="simplex"`` both are compared on the
                      simplex's tangent space (row means removed);
    ``minimum``       ``value(y, y) == minimum`` (declared, default 0) to
                      ``1e-6 · max(1, y.size)``, and no prediction scores lower;
    ``consistency``   scalar finite value, gradient of ``ŷ``'s shape, inputs
                      untouched, ``out=`` and ``value_and_gradient`` agree;
optimizers
    ``convex-quadratic``  on random quadratics ``½ (θ−θ*)ᵀ A (θ−θ*)``
                      (dimension 1–8, eigenvalues in [0.5, 2], start at
                      distance 1–3) the loss falls to ≤ 10 % of its start
                      within ``spec_steps`` (default 500) steps built with
                      ``spec_options`` (default ``{"lr": 0.1}``);
    ``independent-runs``  two optimizers built from one factory and stepped
                      interleaved follow exactly the trajectories they follow
                      alone;
    ``step-contract`` ``step`` updates ``params`` in place and never
                      modifies ``grads``;
initializers
    ``shapes-and-dtypes``  ``[(W_l, b_l)]`` of shapes ``(n_{l-1}, n_l)``,
                      ``(n_l,)`` in float64 and float32, all finite;
    ``reproducible``  same Generator seed → identical parameters; different
                      seeds → different parameters (unless the initializer
                      declares ``deterministic = True`` or returns constants);
    ``no-global-random-state``  NumPy's global random state is neither read
                      nor changed (legacy ``numpy.random.*`` functions are
                      replaced by trip-wires during the call);
network (every activation × loss pair)
    ``network-gradient``  the loop's ``∂L/∂θ`` equals central differences of
                      ``L(θ)`` for every parameter, same tolerances as the
                      loss check; the loop's loss equals ``value(y, f(X))``
                      to 1e-9 relative;
stop criteria (plugins implementing ``deltarule_stop``)
    ``reports-reason``  a run with the plugin ends with a non-empty string
                      reason, for any loss trajectory.
"""

from __future__ import annotations

import contextlib
import math
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np
from hypothesis import Phase, assume, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, HypothesisException, Unsatisfiable
from hypothesis.extra import numpy as hnp

from deltarule.errors import DeltaRuleError, PluginError
from deltarule.protocols import SINGULAR, capabilities

from deltarule.specs import harness, onnx_law
from deltarule.specs.profiles import quiet, spec_settings

EPS = float(np.finfo(np.float64).eps)
CBRT_EPS = EPS ** (1.0 / 3.0)

# activation derivative / vjp tolerance: |analytic − numeric| ≤ ATOL + RTOL·|numeric|
ACT_ATOL, ACT_RTOL = 1e-7, 1e-5
# loss and network gradients add a round-off allowance 100 ε (1 + |L|) / h
GRAD_ATOL, GRAD_RTOL = 1e-7, 1e-5
MINIMUM_TOL = 1e-6
QUADRATIC_TARGET = 0.1

FAMILY_OF = SINGULAR  # "activations" -> "activation", … (one table, in deltarule.protocols)


# ---------------------------------------------------------------- results
@dataclass
class CheckResult:
    """The outcome of one law on one component.

    ``status`` is ``"passed"``, ``"failed"`` or ``"skipped"``; ``message``
    says why (for a failure: the offending input, analytic and numeric values).
    """

    family: str
    component: str
    plugin: str
    check: str
    status: str
    message: str = ""
    origin: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    @property
    def label(self) -> str:
        return f"{self.family} {self.component!r} (plugin {self.plugin!r})"

    def __str__(self) -> str:
        head = f"{self.status.upper()}: {self.label}, check {self.check!r}"
        return f"{head}\n{_indent(self.message)}" if self.message else head


class SpecFailure(DeltaRuleError, AssertionError):
    """One or more component laws failed; ``results`` lists the failures."""

    def __init__(self, message: str, results: list[CheckResult]):
        super().__init__(message)
        self.results = results


class Report(list):
    """A list of :class:`CheckResult` with summaries."""

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self if r.failed]

    @property
    def passes(self) -> list[CheckResult]:
        return [r for r in self if r.passed]

    @property
    def skips(self) -> list[CheckResult]:
        return [r for r in self if r.skipped]

    @property
    def ok(self) -> bool:
        """True if nothing failed and at least one check ran."""
        return not self.failures and bool(self.passes)

    def summary(self) -> str:
        return (f"{len(self.passes)} passed, {len(self.failures)} failed, "
                f"{len(self.skips)} skipped")

    def table(self) -> str:
        """One line per component and check: status, family, component, check, plugin."""
        if not self:
            return "(no checks)"
        wc = max(len(r.component) for r in self)
        wk = max(len(r.check) for r in self)
        return "\n".join(f"{r.status.upper():7} {r.family:11} {r.component:{wc}}  "
                         f"{r.check:{wk}}  [{r.plugin}]" for r in self)

    def __str__(self) -> str:
        parts = [self.table()]
        for r in self.failures:
            parts.append(str(r))
        parts.append(self.summary())
        return "\n\n".join(parts)

    def raise_for_failures(self) -> "Report":
        """Raise :class:`SpecFailure` listing every failure; else return self."""
        if self.failures:
            text = "\n\n".join(str(r) for r in self.failures)
            raise SpecFailure(
                f"{len(self.failures)} component law(s) failed:\n\n{text}", self.failures
            )
        if not self.passes:
            raise SpecFailure("no component law ran: the plugin provides nothing "
                              "the suite can check", [])
        return self


def _indent(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in text.splitlines())


# ---------------------------------------------------------------- the search
class Violation(AssertionError):
    """Raised inside a law's body: the message is the failure report."""


class Skip(Exception):
    """Raised by a law that does not apply to the component."""


def _fmt(a) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return repr(float(a)) if a.dtype.kind == "f" else repr(a.item())
    return np.array2string(a, precision=10, separator=", ", threshold=80,
                           max_line_width=100)


def _search(body: Callable[[Any], None], strategy, hsettings, describe=None) -> str | None:
    """Run ``body`` on examples of ``strategy``; return the failure report or None.

    Any exception the component raises counts as a failure and is reported
    with the input (formatted by ``describe``) and the traceback's last line.
    """

    @quiet(hsettings)
    @given(strategy)
    def search(example):
        try:
            body(example)
        except (Violation, Skip, HypothesisException):
            raise
        except Exception as exc:  # the component crashed: that is a finding too
            where = _component_frame(exc)
            shown = describe(example) if describe else repr(example)
            raise Violation(
                f"raised {type(exc).__name__}: {exc}{where}\non input:\n{_indent(shown)}"
            ) from None

    try:
        search()
    except Violation as exc:
        return str(exc)
    except Unsatisfiable:
        raise Skip("hypothesis could not generate inputs satisfying the law's "
                   "assumptions (e.g. every draw lay on a declared kink)") from None
    except FailedHealthCheck as exc:
        return f"hypothesis health check failed: {exc}"
    return None


def _component_frame(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(tb):
        if "deltarule/specs" not in frame.filename.replace("\\", "/"):
            return f"\n  at {frame.filename}:{frame.lineno} in {frame.name}"
    return ""


@dataclass(frozen=True)
class Law:
    """A law of one family: ``run(component, hsettings) -> failure or None``."""

    family: str
    check: str
    title: str
    run: Callable[[Any, Any], str | None]
    applies: Callable[[Any], str | None] = field(default=lambda comp: None)


def run_law(law: Law, component: Any, *, plugin: str = "<direct>", origin: str = "",
            profile: str | None = None, name: str | None = None) -> CheckResult:
    """Run ``law`` on ``component`` under hypothesis profile ``profile``."""
    comp_name = name or getattr(component, "name", repr(component))

    def result(status, message=""):
        return CheckResult(law.family, comp_name, plugin, law.check, status, message, origin)

    reason = law.applies(component)
    if reason:
        return result("skipped", reason)
    try:
        failure = law.run(component, spec_settings(profile))
    except Skip as exc:
        return result("skipped", str(exc))
    except Violation as exc:  # a bad declaration, found before any example ran
        failure = str(exc)
    if failure:
        return result("failed", f"{law.title}\n{failure}")
    return result("passed")


# ---------------------------------------------------------------- helpers
def _is_elementwise(act) -> bool:
    return capabilities(act).elementwise


def _domain(act) -> tuple[float, float]:
    lo, hi = getattr(act, "domain", (-10.0, 10.0))
    lo, hi = float(lo), float(hi)
    lo = max(lo, -1e6) if math.isfinite(lo) or lo < 0 else -10.0
    hi = min(hi, 1e6) if math.isfinite(hi) or hi > 0 else 10.0
    if not lo < hi:
        raise Violation(f"declares domain {getattr(act, 'domain')!r}; it must be "
                        "(lo, hi) with lo < hi")
    return lo, hi


def _kinks(act) -> np.ndarray:
    return np.asarray(tuple(getattr(act, "kinks", ()) or ()), dtype=np.float64)


def _unchanged(before: np.ndarray, after: np.ndarray) -> bool:
    return before.shape == after.shape and np.array_equal(before, after, equal_nan=True)


def _floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def _matrices(elements, rows=(1, 6), cols=(1, 6)):
    shapes = st.tuples(st.integers(*rows), st.integers(*cols))
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements))


def _worst(analytic, numeric, tol):
    """Index of the largest excess ``|analytic − numeric| − tol`` (or None)."""
    excess = np.abs(analytic - numeric) - tol
    # a non-finite numeric value (L not finite at z ± h) is a failure too
    bad = ~np.isfinite(analytic) | ~np.isfinite(numeric) | (excess > 0)
    if not bad.any():
        return None
    excess = np.where(np.isfinite(excess), excess, np.inf)
    flat = int(np.argmax(np.where(bad, excess, -np.inf)))
    return tuple(int(k) for k in np.unravel_index(flat, excess.shape))


def _n(x) -> str:
    """A number as Python prints it (no ``np.float64(...)`` wrapper)."""
    return repr(float(x))


# ---------------------------------------------------------------- activations
def _act_forward(act, hs):
    lo, hi = _domain(act)
    rng_decl = getattr(act, "output_range", None)

    def body(z):
        z0 = z.copy()
        a = np.asarray(act.forward(z))
        if not _unchanged(z0, z):
            raise Violation(f"forward(z) modified its argument z:\n  before {_fmt(z0)}"
                            f"\n  after  {_fmt(z)}")
        if a.shape != z.shape:
            raise Violation(f"forward(z) returned shape {a.shape} for z of shape {z.shape}"
                            f"\n  z = {_fmt(z)}")
        if not np.isfinite(a).all():
            i = tuple(int(k) for k in np.argwhere(~np.isfinite(a))[0])
            raise Violation(f"forward(z) is not finite at z{list(i)} = {_n(z[i])}: "
                            f"a = {_n(a[i])}\n  z = {_fmt(z)}")
        if rng_decl is not None:
            r_lo, r_hi = float(rng_decl[0]), float(rng_decl[1])
            slack = 1e-12 * max(1.0, abs(r_lo) if math.isfinite(r_lo) else 1.0,
                                abs(r_hi) if math.isfinite(r_hi) else 1.0)
            out = (a < r_lo - slack) | (a > r_hi + slack)
            if out.any():
                i = tuple(int(k) for k in np.argwhere(out)[0])
                raise Violation(f"forward(z) = {_n(a[i])} at z = {_n(z[i])} lies outside the "
                                f"declared output_range {tuple(rng_decl)!r}\n  z = {_fmt(z)}")

    return _search(body, _matrices(_floats(lo, hi)), hs, describe=lambda z: f"z = {_fmt(z)}")


def _central(f, z, h):
    """Element-wise central differences of an element-wise ``f``."""
    zp, zm = z + h, z - h
    with np.errstate(over="ignore", invalid="ignore"):
        return (np.asarray(f(zp), dtype=np.float64) - np.asarray(f(zm), dtype=np.float64)) \
            / (zp - zm)


def _act_derivative(act, hs):
    lo, hi = _domain(act)
    kinks = _kinks(act)

    def body(z):
        a = np.asarray(act.forward(z.copy()))
        z0, a0 = z.copy(), a.copy()
        d = np.asarray(act.derivative(z, a), dtype=np.float64)
        if not (_unchanged(z0, z) and _unchanged(a0, a)):
            raise Violation("derivative(z, a) modified z or a")
        if d.shape != z.shape:
            raise Violation(f"derivative(z, a) returned shape {d.shape} for z of shape "
                            f"{z.shape}\n  z = {_fmt(z)}")
        h = CBRT_EPS * np.maximum(1.0, np.abs(z))
        numeric = _central(act.forward, z, h)
        tol = ACT_ATOL + ACT_RTOL * np.abs(numeric)
        if kinks.size:
            near = (np.abs(z[..., None] - kinks) <= 2 * h[..., None]).any(axis=-1)
            numeric = np.where(near, d, numeric)  # undefined there: nothing to compare
        i = _worst(d, numeric, tol)
        if i is not None:
            hint = ""
            if not np.isfinite(d[i]):
                hint = " (not finite)"
            elif abs(numeric[i] - d[i]) > 0.25 and not kinks.size:
                hint = ("\n  (if the derivative is undefined at this z, declare it: "
                        f"kinks = ({float(z[i])!r},))")
            raise Violation(
                f"at z = {_n(z[i])} (entry {list(i)} of z, shape {z.shape}):\n"
                f"  derivative(z, a) = {_n(d[i])}{hint}\n"
                f"  central difference (h = {h[i]:.3g}) = {_n(numeric[i])}\n"
                f"  |difference| = {abs(d[i] - numeric[i]):.3g} > tolerance {tol[i]:.3g}\n"
                f"  z = {_fmt(z)}"
            )

    return _search(body, _matrices(_floats(lo, hi)), hs, describe=lambda z: f"z = {_fmt(z)}")


def _act_vjp(act, hs):
    lo, hi = _domain(act)
    kinks = _kinks(act)

    strategy = st.tuples(st.integers(1, 5), st.integers(1, 5)).flatmap(
        lambda s: st.tuples(hnp.arrays(np.float64, s, elements=_floats(lo, hi)),
                            hnp.arrays(np.float64, s, elements=_floats(-1, 1))))

    def body(example):
        z, g = example
        a = np.asarray(act.forward(z.copy()))
        z0, a0, g0 = z.copy(), a.copy(), g.copy()
        v = np.asarray(act.vjp(z, a, g), dtype=np.float64)
        if not (_unchanged(z0, z) and _unchanged(a0, a) and _unchanged(g0, g)):
            raise Violation("vjp(z, a, g) modified z, a or g")
        if v.shape != z.shape:
            raise Violation(f"vjp(z, a, g) returned shape {v.shape} for z of shape {z.shape}")
        numeric = np.empty_like(z)
        hs_ = np.empty_like(z)
        for idx in np.ndindex(z.shape):
            h = CBRT_EPS * max(1.0, abs(z[idx]))
            zp, zm = z.copy(), z.copy()
            zp[idx] += h
            zm[idx] -= h
            fp = float(np.vdot(g, np.asarray(act.forward(zp), dtype=np.float64)))
            fm = float(np.vdot(g, np.asarray(act.forward(zm), dtype=np.float64)))
            numeric[idx] = (fp - fm) / (zp[idx] - zm[idx])
            hs_[idx] = h
        tol = ACT_ATOL * (1 + z.shape[-1]) + ACT_RTOL * np.abs(numeric)
        if kinks.size:
            near = (np.abs(z[..., None] - kinks) <= 2 * hs_[..., None]).any(axis=-1)
            numeric = np.where(near, v, numeric)
        i = _worst(v, numeric, tol)
        if i is not None:
            raise Violation(
                f"at entry {list(i)} (z = {_n(z[i])}, g = {_n(g[i])}):\n"
                f"  vjp(z, a, g) = {_n(v[i])}\n"
                f"  central difference of Σ g ⊙ forward(z) = {_n(numeric[i])}\n"
                f"  |difference| = {abs(v[i] - numeric[i]):.3g} > tolerance {tol[i]:.3g}\n"
                f"  z = {_fmt(z)}\n  g = {_fmt(g)}"
            )

    return _search(body, strategy, hs,
                   describe=lambda e: f"z = {_fmt(e[0])}\ng = {_fmt(e[1])}")


def _act_out(act, hs):
    lo, hi = _domain(act)
    can = capabilities(act)
    methods = [m for m, takes_out in (("forward", can.forward_out),
                                      ("derivative", can.derivative_out),
                                      ("vjp", can.vjp_out)) if takes_out]
    if not methods:
        raise Skip("no method takes out=; the loop then copies results (allowed)")

    strategy = _matrices(_floats(lo, hi)).flatmap(
        lambda z: st.tuples(st.just(z), hnp.arrays(np.float64, z.shape,
                                                   elements=_floats(-1, 1))))

    def body(example):
        z, g = example
        a = np.asarray(act.forward(z.copy()), dtype=np.float64)
        for m in methods:
            fn = getattr(act, m)
            args = {"forward": (z,), "derivative": (z, a), "vjp": (z, a, g)}[m]
            plain = np.asarray(fn(*[x.copy() for x in args]), dtype=np.float64)
            buf = np.full(z.shape, np.nan)
            before = [x.copy() for x in args]
            ret = fn(*args, out=buf)  # the loop's own call: its inputs must survive
            if not all(_unchanged(b, x) for b, x in zip(before, args)):
                raise Violation(f"{m}(..., out=buf) modified its input arguments\n"
                                f"  z = {_fmt(z)}")
            if not np.allclose(buf, plain, rtol=1e-12, atol=1e-300, equal_nan=False):
                raise Violation(f"{m}(..., out=buf) wrote {_fmt(buf)} into buf but "
                                f"{m}(...) returns {_fmt(plain)}\n  z = {_fmt(z)}")
            if ret is not None and not np.allclose(np.asarray(ret), plain, rtol=1e-12,
                                                   atol=1e-300):
                raise Violation(f"{m}(..., out=buf) returned {_fmt(ret)} but "
                                f"{m}(...) returns {_fmt(plain)}")

    return _search(body, strategy, hs, describe=lambda e: f"z = {_fmt(e[0])}")


def _act_onnx(act, hs):
    return onnx_law.check_onnx_export(act, hs, domain=_domain(act), kinks=tuple(_kinks(act)))


def _needs(method):
    def applies(comp):
        if not callable(getattr(comp, method, None)):
            return f"has no {method}() (checked by the other activation law)"
        return None
    return applies


# ---------------------------------------------------------------- losses
TARGETS = ("real", "binary", "one_hot")
PREDICTIONS = ("real", "unit", "simplex")


def _loss_kinds(loss) -> tuple[str, str]:
    t = getattr(loss, "targets", "real")
    p = getattr(loss, "predictions", "real")
    if t not in TARGETS:
        raise Violation(f"declares targets={t!r}; expected one of {TARGETS}")
    if p not in PREDICTIONS:
        raise Violation(f"declares predictions={p!r}; expected one of {PREDICTIONS}")
    return t, p


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _target_strategy(targets, preds, shape):
    n, k = shape
    if targets == "binary":
        return hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1.0]))
    if targets == "one_hot":
        return st.lists(st.integers(0, k - 1), min_size=n, max_size=n).map(
            lambda idx: np.eye(k)[idx])
    return _prediction_strategy(preds, shape)  # real targets: drawn like predictions


def _prediction_strategy(preds, shape):
    if preds == "unit":
        return hnp.arrays(np.float64, shape, elements=_floats(0.02, 0.98))
    if preds == "simplex":
        return hnp.arrays(np.float64, shape, elements=_floats(-3, 3)).map(_softmax)
    return hnp.arrays(np.float64, shape, elements=_floats(-2, 2))


def _loss_examples(loss):
    targets, preds = _loss_kinds(loss)
    kmin = 2 if (targets == "one_hot" or preds == "simplex") else 1
    shapes = st.tuples(st.integers(1, 6), st.integers(kmin, 4))
    return shapes.flatmap(lambda s: st.tuples(_target_strategy(targets, preds, s),
                                              _prediction_strategy(preds, s)))


def _describe_yy(e):
    return f"y     = {_fmt(e[0])}\ny_hat = {_fmt(e[1])}"


def _value(loss, y, y_hat) -> float:
    v = loss.value(y, y_hat)
    if np.ndim(v) != 0:
        raise Violation(f"value(y, y_hat) returned {v!r}, not a scalar")
    return float(v)


def _loss_steps(preds, y_hat):
    if preds == "unit":
        return CBRT_EPS * np.minimum(y_hat, 1.0 - y_hat)
    if preds == "simplex":
        return CBRT_EPS * y_hat
    return CBRT_EPS * np.maximum(1.0, np.abs(y_hat))


def _loss_gradient(loss, hs):
    def body(example):
        y, y_hat = example
        _, preds = _loss_kinds(loss)
        base = _value(loss, y, y_hat)
        grad = np.asarray(loss.gradient(y.copy(), y_hat.copy()), dtype=np.float64)
        if grad.shape != y_hat.shape:
            raise Violation(f"gradient(y, y_hat) has shape {grad.shape}, y_hat {y_hat.shape}")
        h = _loss_steps(preds, y_hat)
        numeric = np.empty_like(y_hat)
        for idx in np.ndindex(y_hat.shape):
            p, q = y_hat.copy(), y_hat.copy()
            p[idx] += h[idx]
            q[idx] -= h[idx]
            numeric[idx] = (_value(loss, y, p) - _value(loss, y, q)) / (p[idx] - q[idx])
        analytic = grad
        note = ""
        if preds == "simplex":
            analytic = grad - grad.mean(axis=1, keepdims=True)
            numeric = numeric - numeric.mean(axis=1, keepdims=True)
            note = " (projected on the simplex: row means removed)"
        tol = GRAD_ATOL + GRAD_RTOL * np.abs(numeric) + 100 * EPS * (1 + abs(base)) / h
        i = _worst(analytic, numeric, tol)
        if i is not None:
            ratio = ""
            if numeric[i] != 0 and np.isfinite(analytic[i]):
                ratio = f" (ratio analytic/numeric = {analytic[i] / numeric[i]:.6g})"
            raise Violation(
                f"at entry {list(i)} (y = {_n(y[i])}, y_hat = {_n(y_hat[i])}){note}:\n"
                f"  gradient(y, y_hat) = {_n(analytic[i])}\n"
                f"  central difference of value (h = {h[i]:.3g}) = {_n(numeric[i])}{ratio}\n"
                f"  |difference| = {abs(analytic[i] - numeric[i]):.3g} > "
                f"tolerance {tol[i]:.3g}\n"
                f"  y     = {_fmt(y)}\n  y_hat = {_fmt(y_hat)}"
            )

    return _search(body, _loss_examples(loss), hs, describe=_describe_yy)


def _at_target(preds, y):
    """``y`` itself, nudged by 1e-12 into an open prediction domain."""
    e = 1e-12
    if preds == "unit":
        return np.clip(y, e, 1 - e)
    if preds == "simplex":
        return (1 - e) * y + e / y.shape[1]
    return y.copy()


def _loss_minimum(loss, hs):
    minimum = float(getattr(loss, "minimum", 0.0))

    def body(example):
        y, y_hat = example
        _, preds = _loss_kinds(loss)
        star = _at_target(preds, y)
        at = _value(loss, y, star)
        tol = MINIMUM_TOL * max(1, y.size)
        if not abs(at - minimum) <= tol:
            raise Violation(
                f"value(y, y_hat = y) = {at!r}, but the declared minimum is {minimum!r} "
                f"(tolerance {tol:.3g})\n  y = {_fmt(y)}"
                + ("\n  (declare the value at y_hat == y as `minimum = ...`)"
                   if abs(at) > tol else ""))
        v = _value(loss, y, y_hat)
        if v < at - tol:
            raise Violation(
                f"value(y, y_hat) = {v!r} is below value(y, y) = {at!r}: the loss is not "
                f"minimal at y_hat = y\n  y     = {_fmt(y)}\n  y_hat = {_fmt(y_hat)}")

    return _search(body, _loss_examples(loss), hs, describe=_describe_yy)


def _loss_consistency(loss, hs):
    can = capabilities(loss)
    vg = loss.value_and_gradient if can.value_and_gradient else None

    def body(example):
        y, y_hat = example
        y0, p0 = y.copy(), y_hat.copy()

        def untouched(call):
            # the loop passes its own buffers, which must survive every call
            if not (_unchanged(y0, y) and _unchanged(p0, y_hat)):
                raise Violation(f"{call} modified y or y_hat\n{_describe_yy(example)}")

        v = _value(loss, y, y_hat)
        untouched("value(y, y_hat)")
        g = np.asarray(loss.gradient(y, y_hat), dtype=np.float64)
        untouched("gradient(y, y_hat)")
        if not math.isfinite(v) or not np.isfinite(g).all():
            raise Violation(f"value = {v!r} or gradient = {_fmt(g)} is not finite\n"
                            f"{_describe_yy(example)}")
        if can.gradient_out:
            buf = np.full(y_hat.shape, np.nan)
            loss.gradient(y, y_hat, out=buf)
            untouched("gradient(y, y_hat, out=buf)")
            if not np.allclose(buf, g, rtol=1e-12, atol=1e-300):
                raise Violation(f"gradient(..., out=buf) wrote {_fmt(buf)}; gradient(...) "
                                f"returns {_fmt(g)}\n{_describe_yy(example)}")
        if vg is not None:
            v1, g1 = vg(y, y_hat)
            untouched("value_and_gradient(y, y_hat)")
            calls = [(v1, np.array(g1, dtype=np.float64))]
            if can.value_and_gradient_out:
                buf = np.full(y_hat.shape, np.nan)
                v2, _ = vg(y, y_hat, out=buf)
                untouched("value_and_gradient(y, y_hat, out=buf)")
                calls.append((v2, buf))
            for v2, g2 in calls:
                if not (math.isclose(float(v2), v, rel_tol=1e-12, abs_tol=1e-300)
                        and np.allclose(np.asarray(g2), g, rtol=1e-12, atol=1e-300)):
                    raise Violation(
                        f"value_and_gradient gives ({float(v2)!r}, {_fmt(g2)}) but value "
                        f"and gradient give ({v!r}, {_fmt(g)})\n{_describe_yy(example)}")

    return _search(body, _loss_examples(loss), hs, describe=_describe_yy)


# ---------------------------------------------------------------- optimizers
def _spec_options(factory) -> dict:
    return dict(getattr(factory, "spec_options", None) or {"lr": 0.1})


def _build(factory):
    options = _spec_options(factory)
    try:
        opt = factory(**options)
    except Exception as exc:
        raise Violation(f"could not build the optimizer with spec_options {options!r}: "
                        f"{type(exc).__name__}: {exc}") from None
    if not callable(getattr(opt, "step", None)):
        raise Violation(f"{factory!r}(**{options!r}) built {opt!r}, which has no step()")
    return opt


def _quadratic(seed: int, d: int):
    """``(A, θ*, θ0)``: A symmetric with eigenvalues in [0.5, 2], ‖θ0 − θ*‖ ∈ [1, 3]."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    lam = rng.uniform(0.5, 2.0, d)
    A = (Q * lam) @ Q.T
    A = (A + A.T) / 2
    star = rng.uniform(-2, 2, d)
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    return A, star, star + rng.uniform(1, 3) * u


def _f(A, star, theta):
    r = theta - star
    return 0.5 * float(r @ A @ r)


def _descend(opt, A, star, theta0, steps):
    """Step like the loop: one flat parameter vector and one gradient buffer."""
    theta = theta0.copy()
    grad = np.empty_like(theta)
    with np.errstate(all="ignore"):
        for _ in range(steps):
            np.dot(A, theta - star, out=grad)
            opt.step([theta], [grad])
    return theta


_QUAD = st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 8))


def _describe_quad(e):
    A, star, theta0 = _quadratic(*e)
    return (f"quadratic seed {e[0]}, dimension {e[1]}:\n  A = {_fmt(A)}\n"
            f"  θ* = {_fmt(star)}\n  θ0 = {_fmt(theta0)}")


def _opt_convex(factory, hs):
    steps = int(getattr(factory, "spec_steps", None) or 500)
    options = _spec_options(factory)

    def body(example):
        A, star, theta0 = _quadratic(*example)
        f0 = _f(A, star, theta0)
        theta = _descend(_build(factory), A, star, theta0, steps)
        f1 = _f(A, star, theta) if np.isfinite(theta).all() else math.inf
        if not f1 <= QUADRATIC_TARGET * f0:
            raise Violation(
                f"after {steps} steps with {options!r} the loss is {f1!r}, "
                f"{f1 / f0 if f0 else math.inf:.3g} × its start {f0!r} (needs ≤ "
                f"{QUADRATIC_TARGET}); declare spec_options / spec_steps if other "
                f"hyper-parameters suit it\n{_describe_quad(example)}\n  θ end = {_fmt(theta)}")

    return _search(body, _QUAD, hs, describe=_describe_quad)


def _opt_independent(factory, hs):
    def body(example):
        seed, d = example
        P = _quadratic(seed, d)
        P2 = _quadratic(seed + 1, d)
        steps = 25
        alone = _descend(_build(factory), *P, steps)
        b, c = _build(factory), _build(factory)
        if b is c:
            raise Violation("the factory returned the same object twice; each run "
                            "needs a fresh optimizer")
        tb, tc = P[2].copy(), P2[2].copy()
        gb, gc = np.empty_like(tb), np.empty_like(tc)
        with np.errstate(all="ignore"):
            for _ in range(steps):
                np.dot(P[0], tb - P[1], out=gb)
                b.step([tb], [gb])
                np.dot(P2[0], tc - P2[1], out=gc)
                c.step([tc], [gc])
        if not np.array_equal(alone, tb, equal_nan=True):
            raise Violation(
                f"two optimizers stepped interleaved on different problems: after {steps} "
                f"steps one is at {_fmt(tb)}, but alone it reaches {_fmt(alone)}; the runs "
                f"share state (class attributes? module globals?)\n{_describe_quad(example)}")
        again = _descend(_build(factory), *P, steps)
        if not np.array_equal(alone, again, equal_nan=True):
            raise Violation(
                f"a fresh optimizer built after other runs reaches {_fmt(again)}, the "
                f"first one reached {_fmt(alone)}: state leaks from run to run\n"
                f"{_describe_quad(example)}")

    return _search(body, _QUAD, hs, describe=_describe_quad)


def _opt_contract(factory, hs):
    def body(example):
        A, star, theta0 = _quadratic(*example)
        opt = _build(factory)
        theta = theta0.copy()
        grad = A @ (theta - star)
        g0 = grad.copy()
        ret = opt.step([theta], [grad])
        if not np.array_equal(grad, g0):
            raise Violation(f"step(params, grads) modified grads: {_fmt(g0)} became "
                            f"{_fmt(grad)}")
        if np.array_equal(theta, theta0):
            hint = (" (it returned new arrays; update params in place)"
                    if ret is not None else "")
            raise Violation(f"step(params, grads) left params unchanged for gradient "
                            f"{_fmt(grad)}{hint}")

    return _search(body, _QUAD, hs, describe=_describe_quad)


# ---------------------------------------------------------------- initializers
_LEGACY_KEEP = {"Generator", "RandomState", "SeedSequence", "BitGenerator", "MT19937",
                "PCG64", "PCG64DXSM", "Philox", "SFC64", "default_rng", "get_state",
                "set_state", "get_bit_generator", "set_bit_generator"}


class GlobalRandomStateUsed(RuntimeError):
    """Raised by the trip-wires replacing NumPy's legacy global random functions."""


@contextlib.contextmanager
def no_global_random_state():
    """Replace ``numpy.random.rand``, ``randn``, ``seed``, … by trip-wires.

    Not thread-safe (it patches the ``numpy.random`` module); the checks run
    components one at a time.
    """
    saved = {}
    for name in getattr(np.random, "__all__", ()):
        if name in _LEGACY_KEEP:
            continue
        obj = getattr(np.random, name, None)
        if callable(obj) and not isinstance(obj, type):
            saved[name] = obj

            def tripwire(*args, _name=name, **kwargs):
                raise GlobalRandomStateUsed(
                    f"numpy.random.{_name} was called: that is NumPy's global random "
                    "state; draw from the rng argument (a numpy.random.Generator) instead")

            setattr(np.random, name, tripwire)
    try:
        yield
    finally:
        for name, obj in saved.items():
            setattr(np.random, name, obj)


_LAYERS = st.lists(st.integers(1, 8), min_size=2, max_size=5)


def _init_call(init, layers, seed, dtype=np.float64):
    return init(tuple(layers), np.random.default_rng(seed), dtype)


def _init_shapes(init, hs):
    def body(example):
        layers, seed = example
        for dtype in (np.float64, np.float32):
            params = _init_call(init, layers, seed, dtype)
            pairs = list(params)
            if len(pairs) != len(layers) - 1:
                raise Violation(f"for layer_sizes {layers} it returned {len(pairs)} "
                                f"(W, b) pairs; expected {len(layers) - 1}")
            for l, (pair, n_in, n_out) in enumerate(zip(pairs, layers[:-1], layers[1:]), 1):
                W, b = (np.asarray(x) for x in pair)
                for arr, what, shape in ((W, f"W{l}", (n_in, n_out)),
                                         (b, f"b{l}", (n_out,))):
                    if arr.shape != shape:
                        raise Violation(f"for layer_sizes {layers}, {what} has shape "
                                        f"{arr.shape}; expected {shape}")
                    if arr.dtype != np.dtype(dtype):
                        raise Violation(f"asked for dtype {np.dtype(dtype).name}, {what} "
                                        f"has dtype {arr.dtype}")
                    if not np.isfinite(arr).all():
                        raise Violation(f"{what} is not finite: {_fmt(arr)}")

    return _search(body, st.tuples(_LAYERS, st.integers(0, 2**32 - 1)), hs,
                   describe=lambda e: f"layer_sizes = {e[0]}, Generator seed {e[1]}")


def _flat(params) -> np.ndarray:
    return np.concatenate([np.ravel(np.asarray(x, dtype=np.float64))
                           for pair in params for x in pair])


def _init_reproducible(init, hs):
    declared = bool(getattr(init, "deterministic", False))

    def body(example):
        layers, s1, s2 = example
        assume(s1 != s2)
        a = _flat(_init_call(init, layers, s1))
        b = _flat(_init_call(init, layers, s1))
        if not np.array_equal(a, b):
            raise Violation(f"two calls with Generators seeded {s1} gave different "
                            f"parameters for layer_sizes {layers}:\n  {_fmt(a)}\n  {_fmt(b)}")
        c = _flat(_init_call(init, layers, s2))
        constant = a.size > 1 and np.ptp(a) == 0  # e.g. zeros: no randomness at all
        if declared or constant:
            if not np.array_equal(a, c):
                raise Violation(f"declares deterministic = True (or returns constants) "
                                f"but seeds {s1} and {s2} gave different parameters")
            return
        if np.array_equal(a, c):
            raise Violation(
                f"Generators seeded {s1} and {s2} gave identical parameters for "
                f"layer_sizes {layers}: {_fmt(a)}\n  the initializer ignores its rng "
                f"(declare deterministic = True if it draws no random numbers)")

    return _search(body, st.tuples(_LAYERS, st.integers(0, 2**32 - 1),
                                   st.integers(0, 2**32 - 1)), hs,
                   describe=lambda e: f"layer_sizes = {e[0]}, seeds {e[1]} and {e[2]}")


def _init_global(init, hs):
    def body(example):
        layers, seed = example
        before = np.random.get_state()
        try:
            with no_global_random_state():
                _init_call(init, layers, seed)
        except GlobalRandomStateUsed as exc:
            raise Violation(f"{exc} (layer_sizes {layers})") from None
        after = np.random.get_state()
        if not (np.array_equal(before[1], after[1]) and before[2:] == after[2:]):
            np.random.set_state(before)
            raise Violation(f"NumPy's global random state changed during the call "
                            f"(layer_sizes {layers}); draw from the rng argument instead")

    return _search(body, st.tuples(_LAYERS, st.integers(0, 2**32 - 1)), hs,
                   describe=lambda e: f"layer_sizes = {e[0]}, Generator seed {e[1]}")


# ---------------------------------------------------------------- network
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
        if _is_elementwise(act):
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


_NET = st.tuples(
    st.integers(0, 2**32 - 1),                          # parameters and data
    st.integers(1, 3),                                  # inputs
    st.lists(st.integers(1, 4), min_size=1, max_size=2),  # hidden widths
    st.integers(1, 3),                                  # outputs
    st.integers(1, 6),                                  # samples
)


def _network_problem(act, loss, example):
    seed, n_in, hidden, n_out, n = example
    targets, preds = _loss_kinds(loss)
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
        y = _softmax(rng.uniform(-2, 2, (n, n_out)))
    else:
        y = rng.uniform(-1, 1, (n, n_out))
    return layers, params, X, y


def check_network_gradient(act, loss, hs) -> str | None:
    """The loop's gradient vs central differences of ``L(θ)``, every parameter."""
    kinks = _kinks(act)

    def body(example):
        layers, params, X, y = _network_problem(act, loss, example)
        acts, zs = harness.forward(params, act, X)
        if kinks.size:
            gap = min(float(np.min(np.abs(z[..., None] - kinks))) for z in zs)
            assume(gap > 1e-3)  # a finite difference across a kink measures nothing
        L_loop, grads = harness.loop_gradient(layers, act, loss, params, X, y)
        L_ref = _value(loss, y, acts[-1])
        if not math.isclose(L_loop, L_ref, rel_tol=1e-9, abs_tol=1e-12):
            raise Violation(f"the loop's loss {L_loop!r} differs from value(y, forward(X)) "
                            f"= {L_ref!r}\n{_describe_net(example, layers, X, y)}")
        for l, (W, b) in enumerate(params):
            for which, arr, g in (("W", W, grads[l][0]), ("b", b, grads[l][1])):
                for idx in np.ndindex(arr.shape):
                    h = CBRT_EPS * max(1.0, abs(arr[idx]))
                    vals = []
                    for sign in (1, -1):
                        moved = [(Wk.copy(), bk.copy()) for Wk, bk in params]
                        target = moved[l][0 if which == "W" else 1]
                        target[idx] += sign * h
                        vals.append((_value(loss, y, harness.forward(moved, act, X)[0][-1]),
                                     target[idx]))
                    (fp, xp), (fm, xm) = vals
                    numeric = (fp - fm) / (xp - xm)
                    tol = GRAD_ATOL + GRAD_RTOL * abs(numeric) + 100 * EPS * (1 + abs(L_ref)) / h
                    if not (math.isfinite(g[idx]) and abs(g[idx] - numeric) <= tol):
                        raise Violation(
                            f"∂L/∂{which}{l + 1}{[int(k) for k in idx]}: loop {_n(g[idx])}, central "
                            f"difference {_n(numeric)} (|difference| "
                            f"{abs(g[idx] - numeric):.3g} > tolerance {tol:.3g})\n"
                            f"{_describe_net(example, layers, X, y)}")

    # no shrinking: every attempt trains and differentiates a network, and the
    # first failing draw is already small (generation starts from the simplest)
    hs = settings(hs, phases=[p for p in hs.phases if p != Phase.shrink])
    return _search(body, _NET, hs, describe=lambda e: _describe_net(e))


def _describe_net(example, layers=None, X=None, y=None):
    text = (f"network seed {example[0]}, layers {layers or '(see seed)'}, "
            f"{example[4]} samples")
    if X is not None:
        text += f"\n  X = {_fmt(X)}\n  y = {_fmt(y)}"
    return text


def run_pair(act, loss, *, plugin: str = "<direct>", origin: str = "",
             profile: str | None = None) -> CheckResult:
    """The ``network-gradient`` check of one activation × loss pair."""
    name = f"{getattr(act, 'name', '?')} × {getattr(loss, 'name', '?')}"
    reason = pair_skip_reason(act, loss)
    mk = lambda status, msg="": CheckResult("network", name, plugin, "network-gradient",
                                            status, msg, origin)
    if reason:
        return mk("skipped", reason)
    try:
        failure = check_network_gradient(act, loss, spec_settings(profile))
    except Skip as exc:
        return mk("skipped", str(exc))
    if failure:
        return mk("failed", "the loop's gradient must equal central differences of the "
                            f"loss for every parameter\n{failure}")
    return mk("passed")


# ---------------------------------------------------------------- stop criteria
# run options a stop criterion may wait for, drawn so that each can fire
_STOP_SETTINGS = {
    "patience": st.integers(1, 5),
    "target_loss": _floats(0.0, 10.0),
    "gradient_tol": st.sampled_from([1e-12, 1e9]),
    "time_budget": st.sampled_from([1e-9, 60.0]),
}


def _stop_reports_reason(plugin, hs):
    # a third-party criterion is asked before the bundled ones (pluggy calls
    # the latest registered first), so its answer is the one checked
    scripts = st.tuples(st.lists(_floats(0.0, 10.0), min_size=1, max_size=25),
                        st.fixed_dictionaries({}, optional=_STOP_SETTINGS))

    def body(example):
        script, settings = example
        try:
            result, rec = harness.scripted_run(script, plugins=[plugin], **settings)
        except PluginError as exc:  # the loop refuses an answer that is not a reason
            raise Violation(f"{exc}\n  losses {script}, options {settings}") from None
        reason = result.stop_reason
        if not isinstance(reason, str) or not reason:
            raise Violation(f"the run stopped with reason {reason!r}; a stop criterion "
                            f"must return a non-empty string or None\n  losses {script}, "
                            f"options {settings}")
        if rec.end_reason != reason:
            raise Violation(f"train_end saw stop_reason {rec.end_reason!r}, the result "
                            f"says {reason!r}")
        if result.epochs > len(script):
            raise Violation(f"ran {result.epochs} epochs with max_epochs={len(script)}")

    return _search(body, scripts, hs,
                   describe=lambda e: f"losses per epoch: {e[0]}, options: {e[1]}")


# ---------------------------------------------------------------- the catalogue of laws
LAWS: dict[str, list[Law]] = {
    "activation": [
        Law("activation", "forward", "forward(z) must be finite, keep z's shape, stay "
            "inside output_range and leave z untouched", _act_forward),
        Law("activation", "derivative", "derivative(z, a) must equal central differences "
            "of forward", _act_derivative, _needs("derivative")),
        Law("activation", "vjp", "vjp(z, a, g) must equal central differences of "
            "Σ g ⊙ forward(z)", _act_vjp,
            lambda c: None if not _is_elementwise(c) and callable(getattr(c, "vjp", None))
            else "element-wise (derivative() is checked instead)"),
        Law("activation", "out-buffer", "methods taking out= must write the values they "
            "return", _act_out),
        Law("activation", onnx_law.CHECK, onnx_law.TITLE, _act_onnx, onnx_law.applies),
    ],
    "loss": [
        Law("loss", "gradient", "gradient(y, y_hat) must equal central differences of "
            "value(y, y_hat)", _loss_gradient),
        Law("loss", "minimum", "the loss must be minimal, at its declared minimum, "
            "where y_hat = y", _loss_minimum),
        Law("loss", "consistency", "value, gradient, value_and_gradient and out= must "
            "agree and leave their inputs untouched", _loss_consistency),
    ],
    "optimizer": [
        Law("optimizer", "convex-quadratic", "the optimizer must reduce a convex "
            f"quadratic to ≤ {QUADRATIC_TARGET:.0%} of its start", _opt_convex),
        Law("optimizer", "independent-runs", "two runs must never share state",
            _opt_independent),
        Law("optimizer", "step-contract", "step(params, grads) must update params in "
            "place and leave grads untouched", _opt_contract),
    ],
    "initializer": [
        Law("initializer", "shapes-and-dtypes", "init(layer_sizes, rng, dtype) must give "
            "one (W, b) per layer, of the right shapes and dtype, finite", _init_shapes),
        Law("initializer", "reproducible", "the same Generator seed must give the same "
            "parameters and different seeds different ones", _init_reproducible),
        Law("initializer", "no-global-random-state", "the initializer must not use "
            "NumPy's global random state", _init_global),
    ],
    "stop": [
        Law("stop", "reports-reason", "every run must end with a non-empty string reason",
            _stop_reports_reason),
    ],
}


def law(family: str, check: str) -> Law:
    for item in LAWS[family]:
        if item.check == check:
            return item
    raise KeyError(f"no law {check!r} for family {family!r}")


# ---------------------------------------------------------------- plugins
@dataclass
class Subject:
    """One thing to check: a component (or a stop plugin) and where it came from."""

    family: str            # "activation", "loss", "optimizer", "initializer", "stop"
    name: str
    component: Any
    plugin: str
    origin: str

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"


def subjects(registry, only_plugins: Iterable[str] | None = None) -> list[Subject]:
    """Every component of ``registry``'s catalogue and every stop plugin.

    ``only_plugins`` (registered plugin names) keeps just their subjects.
    """
    only = None if only_plugins is None else set(only_plugins)
    out = []
    catalogue = registry.catalogue()
    for family_key, table in catalogue.families.items():
        family = FAMILY_OF[family_key]
        for name in sorted(table):
            entry = table[name]
            if only is None or entry.plugin in only:
                out.append(Subject(family, name, entry.component, entry.plugin,
                                   entry.origin))
    for name, origin, plugin in registry.implementers("deltarule_stop"):
        if only is None or name in only:
            out.append(Subject("stop", name, plugin, name, origin))
    return out


def pairs(registry, only_plugins: Iterable[str] | None = None):
    """``(activation Subject, loss Subject)`` for every pair (touching ``only_plugins``)."""
    subs = subjects(registry)
    only = None if only_plugins is None else set(only_plugins)
    acts = [s for s in subs if s.family == "activation"]
    losses = [s for s in subs if s.family == "loss"]
    return [(a, l) for a in acts for l in losses
            if only is None or a.plugin in only or l.plugin in only]


def run_subject(subject: Subject, check: str, *, profile: str | None = None) -> CheckResult:
    return run_law(law(subject.family, check), subject.component, plugin=subject.plugin,
                   origin=subject.origin, profile=profile, name=subject.name)


def run_all(registry, only_plugins=None, *, profile: str | None = None) -> Report:
    """Every applicable law on every subject, and every activation × loss pair."""
    report = Report()
    for subject in subjects(registry, only_plugins):
        for item in LAWS[subject.family]:
            report.append(run_subject(subject, item.check, profile=profile))
    for a, l in pairs(registry, only_plugins):
        plugin = a.plugin if a.plugin == l.plugin else f"{a.plugin} + {l.plugin}"
        report.append(run_pair(a.component, l.component, plugin=plugin,
                               origin=f"{a.origin} / {l.origin}", profile=profile))
    return report


def check_plugin(plugin, *, profile: str | None = None,
                 raise_on_failure: bool = False) -> Report:
    """Run every law that applies to what ``plugin`` provides; return a :class:`Report`.

    ``plugin`` is a plugin object, a module, or a ``"module:attr"`` path, as
    for ``deltarule.train(..., plugins=[...])``.  Its components are checked
    alone and, for activations and losses, paired with every activation and
    loss of the bundled catalogue.  ``profile`` names a hypothesis profile
    (``dev``, ``ci``, ``thorough``; default from ``$HYPOTHESIS_PROFILE``).
    With ``raise_on_failure=True`` a failure raises :class:`SpecFailure`
    (so does ``report.raise_for_failures()``).
    """
    from deltarule.registry import make_plugin_manager

    registry = make_plugin_manager([], entry_points=False)
    name = registry.register(plugin, origin="user")
    report = run_all(registry, [name], profile=profile)
    if raise_on_failure:
        report.raise_for_failures()
    return report


def check_component(component, family: str, *, profile: str | None = None,
                    raise_on_failure: bool = False) -> Report:
    """The laws of ``family`` (``"activation"``, ``"loss"``, ``"optimizer"``,
    ``"initializer"``) on one component object, without registering it."""
    family = FAMILY_OF.get(family, family)
    if family not in LAWS or family == "stop":
        raise ValueError(f"family must be one of activation, loss, optimizer, "
                         f"initializer; got {family!r}")
    report = Report(run_law(item, component, profile=profile) for item in LAWS[family])
    if raise_on_failure:
        report.raise_for_failures()
    return report

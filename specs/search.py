"""The search engine the laws share: counter-examples, dense sweeps, reports.

A law's check raises :class:`Violation` (the failure report) or
:class:`Skip` (the law does not apply), and returns ``None`` when the law
holds.  :class:`Context` carries what a check may vary: the hypothesis
settings of the profile, the seed (``None``: the fixed, derandomised
default), and the registry whose catalogue a law may look into.

Verdicts are deterministic by default: hypothesis runs derandomised (the
same examples on every run, no example database), and every random state a
law draws comes from :meth:`Context.rng`, seeded from the law's own name.
``--seed N`` changes both, to explore further; the seed is then printed in
every reproduce command.
"""

from __future__ import annotations

import math
import traceback
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from hypothesis import Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st
from hypothesis.errors import FailedHealthCheck, HypothesisException, Unsatisfiable
from hypothesis.extra import numpy as hnp

from deltarule.specs.profiles import quiet, spec_settings

EPS = float(np.finfo(np.float64).eps)
CBRT_EPS = EPS ** (1.0 / 3.0)
# step of the 4th-order central difference: its error is O(h⁴ f⁽⁵⁾ + ε f / h)
FIFTH_EPS = EPS ** (1.0 / 5.0)


class Violation(AssertionError):
    """Raised inside a law's check: the message is the failure report."""


class Skip(Exception):
    """Raised by a check when its law does not apply to the component."""


@dataclass
class Context:
    """What one run of the suite lets a law vary."""

    profile: str = "dev"
    seed: int | None = None
    registry: Any = None
    hsettings: settings = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.hsettings is None:
            self.hsettings = spec_settings(self.profile)
            if self.seed is not None:
                self.hsettings = settings(self.hsettings, derandomize=False)

    def rng(self, salt: str) -> np.random.Generator:
        """A Generator fixed by ``salt`` (and by ``--seed`` when given)."""
        return np.random.default_rng([zlib.crc32(salt.encode()), self.seed or 0,
                                      0 if self.seed is None else 1])

    def seeds(self, salt: str, k: int) -> list[int]:
        """``k`` integer seeds for problem generators, fixed unless ``--seed``."""
        return [int(s) for s in self.rng(salt).integers(0, 2**31 - 1, k)]

    @property
    def max_examples(self) -> int:
        return self.hsettings.max_examples

    def search(self, body: Callable[[Any], None], strategy, describe=None, *,
               scale: float = 1.0, shrink: bool = True) -> None:
        """Run ``body`` on examples of ``strategy``; raise :class:`Violation` on the
        (shrunk) first failure.

        Any exception the component raises counts as a failure and is reported
        with the input (formatted by ``describe``) and where it was raised.
        ``scale`` multiplies the profile's number of examples (for laws whose
        every example trains a network).
        """
        hs = self.hsettings
        if scale != 1.0:
            hs = settings(hs, max_examples=max(1, round(hs.max_examples * scale)))
        if not shrink:
            hs = settings(hs, phases=[p for p in hs.phases if p != Phase.shrink])

        @quiet(hs)
        @given(strategy)
        def search(example):
            try:
                body(example)
            except (Violation, Skip, HypothesisException):
                raise
            except Exception as exc:  # the component crashed: that is a finding too
                shown = describe(example) if describe else repr(example)
                raise Violation(f"raised {type(exc).__name__}: {exc}{component_frame(exc)}"
                                f"\non input:\n{indent(shown)}") from None

        if self.seed is not None:
            search = hypothesis_seed(self.seed)(search)
        try:
            search()
        except Unsatisfiable:
            raise Skip("hypothesis could not generate inputs satisfying the law's "
                       "assumptions (e.g. every draw lay on a declared kink)") from None
        except FailedHealthCheck as exc:
            raise Violation(f"hypothesis health check failed: {exc}") from None


def guarded(call: Callable, describe: str | Callable[[], str]):
    """``call()``; an exception from the component becomes a :class:`Violation`.

    ``describe`` (the input, for the report) may be a callable: it is then
    formatted only when the component raises (dense sweeps call this
    thousands of times, and formatting arrays costs more than checking them).
    """
    try:
        return call()
    except (Violation, Skip):
        raise
    except Exception as exc:
        text = describe() if callable(describe) else describe
        raise Violation(f"raised {type(exc).__name__}: {exc}{component_frame(exc)}"
                        f"\non input:\n{indent(text)}") from None


def component_frame(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(tb):
        if "deltarule/specs" not in frame.filename.replace("\\", "/"):
            return f"\n  at {frame.filename}:{frame.lineno} in {frame.name}"
    return ""


# ---------------------------------------------------------------- formatting
def indent(text: str, pad: str = "    ") -> str:
    return "\n".join(pad + line for line in str(text).splitlines())


def fmt(a) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return repr(float(a)) if a.dtype.kind == "f" else repr(a.item())
    return np.array2string(a, precision=10, separator=", ", threshold=80,
                           max_line_width=100)


def num(x) -> str:
    """A number as Python prints it (no ``np.float64(...)`` wrapper)."""
    x = complex(x) if np.iscomplexobj(x) else float(x)
    return repr(x)


# ---------------------------------------------------------------- comparisons
def unchanged(before: np.ndarray, after: np.ndarray) -> bool:
    return (before.shape == after.shape and before.dtype == after.dtype
            and np.array_equal(before, after, equal_nan=True))


def worst(analytic, numeric, tol):
    """Index of the largest excess ``|analytic − numeric| − tol``, or None."""
    analytic = np.asarray(analytic, dtype=np.float64)
    numeric = np.asarray(numeric, dtype=np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        excess = np.abs(analytic - numeric) - tol
    # a non-finite value on either side is a failure too
    bad = ~np.isfinite(analytic) | ~np.isfinite(numeric) | (excess > 0)
    if not bad.any():
        return None
    excess = np.where(np.isfinite(excess), excess, np.inf)
    flat = int(np.argmax(np.where(bad, excess, -np.inf)))
    return tuple(int(k) for k in np.unravel_index(flat, excess.shape))


def expect_close(what: str, actual, expected, tol, *, names=("actual", "expected"),
                 inputs: dict | None = None, note: str = "") -> None:
    """Raise a :class:`Violation` naming the worst element unless
    ``|actual − expected| ≤ tol`` everywhere (``tol`` scalar or array)."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise Violation(f"{what}: shape {actual.shape}, expected {expected.shape}")
    tol = np.broadcast_to(np.asarray(tol, dtype=np.float64), actual.shape)
    i = worst(actual, expected, tol)
    if i is None:
        return
    lines = [f"{what}: worst element at index {list(i)}{note}:"]
    for key, arr in (inputs or {}).items():
        arr = np.asarray(arr)
        if arr.shape == actual.shape:
            lines.append(f"  {key} = {num(arr[i])}")
    lines.append(f"  {names[0]} = {num(actual[i])}")
    lines.append(f"  {names[1]} = {num(expected[i])}")
    lines.append(f"  |difference| = {abs(actual[i] - expected[i]):.3g} > tolerance "
                 f"{tol[i]:.3g}")
    bad = int(np.count_nonzero(~np.isfinite(actual) | ~np.isfinite(expected)
                               | (np.abs(actual - expected) > tol)))
    if bad > 1:
        lines.append(f"  ({bad} of {actual.size} elements out of tolerance)")
    raise Violation("\n".join(lines))


def expect_raises(what: str, call: Callable, kind: type, *words: str, cause: type = None):
    """Run ``call()``: it must raise ``kind`` whose message holds every one of
    ``words`` (and whose ``__cause__`` is a ``cause``, when given); return the
    exception, else raise a :class:`Violation` saying what came instead."""
    try:
        call()
    except kind as exc:
        text = str(exc)
        missing = [w for w in words if w not in text]
        if cause is not None and not isinstance(exc.__cause__, cause):
            missing.append(f"a chained {cause.__name__} (__cause__ is {exc.__cause__!r})")
        if missing:
            raise Violation(f"{what}: the {kind.__name__} must name {missing}: {text}"
                            ) from None
        return exc
    except Exception as exc:  # noqa: BLE001 - anything else is what the law reports
        raise Violation(f"{what}: expected a {kind.__name__}, got "
                        f"{type(exc).__name__}: {exc}") from None
    raise Violation(f"{what}: no {kind.__name__} was raised")


def rel_tol(expected, rtol: float, atol: float = 0.0):
    return atol + rtol * np.abs(np.asarray(expected, dtype=np.float64))


# ---------------------------------------------------------------- strategies
def floats(lo, hi):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def matrices(elements, rows=(1, 6), cols=(1, 6), dtype=np.float64):
    shapes = st.tuples(st.integers(*rows), st.integers(*cols))
    return shapes.flatmap(lambda s: hnp.arrays(dtype, s, elements=elements))


def edge_matrices(lo, hi, extra=()):
    """Matrices mixing ordinary values with the domain's edge values."""
    edges = sorted({lo, hi, 0.0 if lo <= 0.0 <= hi else lo, *extra})
    edges = [e for e in edges if lo <= e <= hi]
    element = st.one_of(floats(lo, hi), st.sampled_from(edges))
    return matrices(element)


# ---------------------------------------------------------------- derivatives
def central4(f, z: np.ndarray, h: np.ndarray) -> np.ndarray:
    """4th-order central difference of an element-wise ``f``, one call per offset.

    ``(−f(z+2h) + 8 f(z+h) − 8 f(z−h) + f(z−2h)) / 12h``, with the offsets
    rounded to representable steps so the division uses the true spacing.
    """
    zp1, zm1 = z + h, z - h
    hh = (zp1 - zm1) / 2.0
    zp2, zm2 = z + 2 * hh, z - 2 * hh
    with np.errstate(all="ignore"):
        f64 = lambda x: np.asarray(f(x), dtype=np.float64)  # noqa: E731
        return (-f64(zp2) + 8 * f64(zp1) - 8 * f64(zm1) + f64(zm2)) / (12 * hh)


def central4_estimate(f, z: np.ndarray, h: np.ndarray):
    """``(f'(z), error bound)`` from 4th-order central differences at steps ``h``
    and ``h/2``: where ``f`` is smooth both agree to round-off; where a higher
    derivative jumps within the stencil (softsign's f'' at 0, Huber's at ±δ) they
    differ by about the truncation error, which bounds the finer one's
    (4 |d(h) − d(h/2)|, at most 1 % of |f'| + 0.01)."""
    coarse = central4(f, z, h)
    fine = central4(f, z, h / 2)
    with np.errstate(invalid="ignore"):
        err = np.minimum(4 * np.abs(coarse - fine), 1e-2 * (1 + np.abs(fine)))
    return fine, np.where(np.isfinite(err), err, 0.0)


def complex_step(f, z: np.ndarray, h: float = 1e-30):
    """``Im f(z + ih) / h`` (exact to rounding for analytic ``f``), or None if
    ``f`` does not accept complex input."""
    try:
        with np.errstate(all="ignore"):
            out = f(z.astype(np.complex128) + 1j * h)
    except Exception:
        return None
    out = np.asarray(out)
    if out.dtype.kind != "c" or out.shape != z.shape:
        return None
    return out.imag / h


def sweep(lo: float, hi: float, n: int = 4001) -> np.ndarray:
    """A dense grid over ``[lo, hi]`` as an ``(n // 8, 8)``-ish matrix, plus 0
    and the end points: one vectorised call covers the whole domain."""
    grid = np.linspace(lo, hi, n)
    extra = [v for v in (0.0, -1e-3, 1e-3, lo, hi) if lo <= v <= hi]
    grid = np.unique(np.concatenate([grid, extra]))
    pad = (-len(grid)) % 8
    grid = np.concatenate([grid, grid[:pad]])
    return grid.reshape(-1, 8)

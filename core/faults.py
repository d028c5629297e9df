"""Plugin faults: the component contract checked once, and failures named.

Two mechanisms, neither of which costs anything per step:

- :func:`probe` runs before the first epoch.  It calls every chosen
  component once, the way the loop will, on the run's real shapes (the first
  batch's rows, the initial parameters) and checks what comes back: an array
  of the expected shape and of the run's dtype, written into ``out=`` when
  the method takes one, finite when its input is finite; a loss value that is
  a finite real number; an optimizer ``step`` (on a copy of the optimizer and
  of the parameters) that leaves finite parameters and the gradients as they
  were.  A component that breaks the contract is a :class:`PluginError`
  before any epoch runs — instead of, say, an activation returning ``z[:1]``
  that NumPy would silently broadcast into the loop's buffer.
- :func:`plugin_fault` runs only once something has raised during a run.  It
  finds the plugin responsible from the traceback (the outermost frame that
  is a component method or a hook implementation of the run), failing that
  by re-running the probe, and builds a :class:`PluginError` naming the
  plugin, the component method or hook, the epoch and the original
  exception (chained, so ``raise … from`` keeps its traceback).

A stop criterion's answer must be ``None`` or a non-empty string:
:func:`bad_stop_answer` builds the error naming the plugin that gave another.
"""

from __future__ import annotations

import copy
import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import PluginError
from .protocols import accepts_out, uses_vjp

_METHODS = {
    "activations": ("forward", "derivative", "vjp"),
    "losses": ("value", "gradient", "value_and_gradient", "fused_delta", "check_targets"),
    "optimizers": ("step",),
    "initializers": ("__call__",),
}
_SINGULAR = {"activations": "activation", "losses": "loss", "optimizers": "optimizer",
             "initializers": "initializer"}
OBSERVED_HOOKS = ("deltarule_stop", "deltarule_train_start", "deltarule_epoch_end",
                  "deltarule_train_end")


def describe_exception(exc: BaseException) -> str:
    """``RuntimeError: boom`` — an exception's type and message on one line."""
    text = " ".join(str(exc).split())
    if len(text) > 300:
        text = text[:299] + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@dataclass
class Suspect:
    """A component or hook implementation of the run, and who provided it."""

    what: str | None               # "activation 'boom'"; None for a hook implementation
    plugin: str | None             # the plugin's registered name; None: given in code
    origin: str = ""               # "user", "builtin", "entry point …"
    obj: Any = None                # the component instance (its methods' ``self``)
    codes: dict = field(default_factory=dict)  # code object -> method or hook name
    described: str = ""            # overrides who(): "one of the plugins 'a' or 'b'"

    def who(self) -> str:
        """``plugin 'x' (user)``, or ``activation 'y' (given in code)``."""
        if self.described:
            return self.described
        if self.plugin is None:
            return f"{self.what} (given in code)"
        return f"plugin {self.plugin!r}" + (f" ({self.origin})" if self.origin else "")

    def target(self, where: str) -> str:
        """``activation 'y'.forward()``, or the hook's ``deltarule_stop()``."""
        return f"{self.what}.{where}" if self.what and self.plugin is not None else where


def _code_of(fn):
    """The code object a call of ``fn`` runs, or ``None`` (builtins, ufuncs)."""
    for _ in range(8):
        if isinstance(fn, functools.partial):
            fn = fn.func
            continue
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
        if code is not None:
            return code
        call = getattr(type(fn), "__call__", None)
        if call is None or call is fn:
            return None
        fn = call
    return None


def _owner(catalogue, family: str, component) -> tuple[str | None, str]:
    """``(plugin, origin)`` of the catalogue entry ``component`` came from."""
    if catalogue is None:
        return None, ""
    table = catalogue.families.get(family, {})
    for entry in table.values():  # the very object, or a configured copy of it
        if entry.component is component:
            return entry.plugin, entry.origin
    for entry in table.values():
        base = entry.component
        if type(base) is type(component) and getattr(base, "name", None) == getattr(
                component, "name", None) and not isinstance(base, type):
            return entry.plugin, entry.origin
        if isinstance(base, type) and isinstance(component, base):  # optimizer factories
            return entry.plugin, entry.origin
    return None, ""


def component_suspect(catalogue, family: str, component, *, factory=None) -> Suspect:
    name = getattr(component, "name", None) or getattr(factory, "name", None) \
        or type(component).__name__
    plugin, origin = _owner(catalogue, family, factory if factory is not None else component)
    suspect = Suspect(f"{_SINGULAR[family]} {name!r}", plugin, origin, component)
    for method in _METHODS[family]:
        fn = component if method == "__call__" else getattr(component, method, None)
        code = _code_of(fn) if callable(fn) else None
        if code is not None:
            suspect.codes.setdefault(code, f"{method}()" if method != "__call__" else
                                     "call")
    return suspect


def run_suspects(registry, catalogue, net, loss, optimizer, optimizer_factory=None):
    """Every component and observing hook implementation of a run."""
    out = []
    seen = set()
    for act in net.activations:
        if id(act) not in seen:
            seen.add(id(act))
            out.append(component_suspect(catalogue, "activations", act))
    out.append(component_suspect(catalogue, "losses", loss))
    fused = getattr(loss, "fused_delta", None)
    if callable(fused):
        try:
            kernel = fused(net.activations[-1])
        except Exception:  # pragma: no cover - reported by the probe
            kernel = None
        if kernel is not None and _code_of(kernel) is not None:
            out[-1].codes.setdefault(_code_of(kernel), "fused_delta() kernel")
    if optimizer is not None:
        out.append(component_suspect(catalogue, "optimizers", optimizer,
                                     factory=optimizer_factory))
    if registry is not None:
        for hook_name in OBSERVED_HOOKS:
            for impl in getattr(registry.pm.hook, hook_name).get_hookimpls():
                code = _code_of(impl.function)
                if code is None:
                    continue
                origin = registry.origins.get(impl.plugin_name, "")
                out.append(Suspect(None, impl.plugin_name, origin,
                                   getattr(impl.function, "__self__", None),
                                   {code: f"{hook_name}()"}))
    return out


def culprit(exc: BaseException, suspects) -> tuple[Suspect, str] | None:
    """The suspect whose code the traceback entered first (outermost), if any."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        hits = [(s, s.codes[frame.f_code]) for s in suspects if frame.f_code in s.codes]
        if hits:
            code = frame.f_code
            first = code.co_varnames[0] if code.co_argcount else None
            me = frame.f_locals.get(first) if first else None
            for s, where in hits:  # the instance whose method it is, if several share code
                if s.obj is not None and me is s.obj:
                    return s, where
            return hits[0]
        tb = tb.tb_next
    return None


def when(epoch: int | None) -> str:
    if epoch is None:
        return ""
    return " before the first epoch" if epoch == 0 else f" in epoch {epoch}"


def _error(suspect: Suspect, where: str, problem: str, epoch: int | None,
           cause: BaseException | None = None) -> PluginError:
    """``plugin 'p' (user) failed in epoch 3: activation 'a'.forward() raised …``"""
    err = PluginError(f"{suspect.who()} failed{when(epoch)}: {suspect.target(where)} "
                      f"{problem}")
    err.plugin = suspect.plugin
    err.hook = where.split("(")[0]
    err.component = suspect.what or err.hook
    err.epoch = epoch
    err.original = cause
    return err


def plugin_fault(exc: BaseException, *, epoch: int, suspects, reprobe=None
                 ) -> PluginError | None:
    """A :class:`PluginError` for an exception raised while a run was training.

    ``suspects`` come from :func:`run_suspects`; ``reprobe`` is a function
    running :func:`probe` again, asked when the traceback names nobody (a
    component that returned something the loop could not use).  ``None``
    when no plugin can be blamed: the exception is then deltarule's own.
    """
    owner = getattr(exc, "culprit", None)
    if isinstance(exc, PluginError) and owner is not None:
        # a value the loop refused (copy_checked, below): name who provided it
        suspect = next((s for s in suspects if s.obj is owner), None)
        if suspect is not None:
            return _error(suspect, f"{exc.hook}()", exc.problem, epoch, exc)
    if isinstance(exc, PluginError):
        if getattr(exc, "epoch", None) is None:
            exc.epoch = epoch
        return exc
    found = culprit(exc, suspects)
    if found is not None:
        suspect, where = found
        return _error(suspect, where, f"raised {describe_exception(exc)}", epoch, exc)
    if reprobe is not None:
        try:
            reprobe()
        except PluginError as err:
            err.epoch = epoch
            err.args = (err.args[0].replace(" failed before the first epoch:",
                                            f" failed{when(epoch)}:", 1)
                        + f" (the loop then failed with {describe_exception(exc)})",)
            return err
        except Exception:  # pragma: no cover - the probe names what it finds
            return None
    return None


def copy_checked(buffer, value, fn) -> None:
    """``buffer[...] = value`` for the value a component's method ``fn`` returned.

    Anything but an array of the buffer's shape breaks the component's
    contract: copied, NumPy would broadcast a ``(n, 1)`` column or a scalar
    over ``(n, k)`` and train on it silently.  The probe checks the shapes
    before the first epoch; this catches a component that changes its answer
    mid-run.  The error names the component (``PluginError.culprit``) so the
    run's fault handler can say which plugin provided it and in which epoch.
    """
    if not isinstance(value, np.ndarray) or value.shape != buffer.shape:
        owner = getattr(fn, "__self__", None)
        name = getattr(owner, "name", None) or getattr(fn, "__qualname__", repr(fn))
        method = getattr(fn, "__name__", "call")
        got = (f"shape {value.shape}" if isinstance(value, np.ndarray)
               else describe_value(value))
        problem = (f"returned {got} during the run; it must return an array of shape "
                   f"{buffer.shape}")
        err = PluginError(f"{name!r}.{method}() {problem}")
        err.culprit, err.hook, err.problem = owner, method, problem
        raise err
    np.copyto(buffer, value)


def bad_stop_answer(call, answer, implementations, epoch: int) -> PluginError:
    """The error for a stop criterion that answered neither ``None`` nor a reason.

    ``implementations``: the registry's plain calls of ``deltarule_stop``, one
    of which is ``call``; or the registry itself when pluggy ran the hook
    (wrappers), which does not say whose answer is whose.
    """
    impls = implementations
    if hasattr(impls, "pm"):  # a registry: name every implementation, unsure which
        names = [i.plugin_name for i in impls.pm.hook.deltarule_stop.get_hookimpls()
                 if not (i.hookwrapper or getattr(i, "wrapper", False))]
        suspect = Suspect(None, names[0] if len(names) == 1 else None, described=(
            f"one of the plugins {' or '.join(repr(n) for n in names)}"))
    else:
        impl = next((i for i in impls or () if i.call is call), None)
        suspect = Suspect(None, impl.plugin if impl else "<unknown>",
                          impl.origin if impl else "")
    return _error(suspect, "deltarule_stop()",
                  f"returned {answer!r}; a stop criterion returns None to go on or a "
                  "non-empty string, the stop reason", epoch)


# -- the probe ---------------------------------------------------------------------


class _Probe:
    def __init__(self, catalogue, dtype, epoch):
        self.catalogue, self.dtype, self.epoch = catalogue, np.dtype(dtype), epoch

    def fail(self, suspect, where: str, problem: str, cause=None):
        """Raise the error; ``suspect`` is a :class:`Suspect` or a function making one
        (naming the plugin needs the catalogue, so it is done only on failure)."""
        if callable(suspect):
            suspect = suspect()
        raise _error(suspect, where, problem, self.epoch, cause) from cause

    def call(self, suspect, method, fn, args, shape, *, tame=None):
        """``fn(*args)`` (with ``out=`` if it takes one), checked; the result.

        ``tame``: a function giving tame arguments, tried before a non-finite
        output on finite input is blamed on the component.
        """
        where = f"{method}()"
        out = None
        try:
            if accepts_out(fn):
                out = np.full(shape, np.nan, dtype=self.dtype)
                fn(*args, out=out)
                result = out
            else:
                result = fn(*args)
        except Exception as exc:
            self.fail(suspect, where, f"raised {describe_exception(exc)}", exc)
        if not isinstance(result, np.ndarray):
            self.fail(suspect, where, f"returned {describe_value(result)}; it must return "
                                      f"an array of shape {shape}")
        if result.shape != shape:
            self.fail(suspect, where, f"returned shape {result.shape} for the run's shape "
                                      f"{shape}; it must return shape {shape}")
        if result.dtype != self.dtype:
            self.fail(suspect, where, f"returned {result.dtype} values in a "
                                      f"{self.dtype} run; it must keep the input's dtype")
        if not np.isfinite(result).all() and all(
                np.isfinite(a).all() for a in args if isinstance(a, np.ndarray)):
            if tame is None or not self._finite_on(fn, tame(), shape):
                problem = ("left NaN in its out= buffer (it must write the whole of out)"
                           if out is not None else
                           "returned NaN or infinite values for finite input")
                self.fail(suspect, where, problem)
        return result

    def _finite_on(self, fn, args, shape) -> bool:
        """Whether ``fn`` is finite on tame input (values in [-1, 1]) of these shapes."""
        try:
            if accepts_out(fn):
                out = np.full(shape, np.nan, dtype=self.dtype)
                fn(*args, out=out)
                return bool(np.isfinite(out).all())
            return bool(np.isfinite(np.asarray(fn(*args), dtype=np.float64)).all())
        except Exception:
            return False


def bundled(component) -> bool:
    """Whether ``component`` is one of deltarule's own (``deltarule.plugins``).

    They keep no state between calls and their contract is proven by the
    specification suite, so the probe neither copies nor checks them.
    """
    return type(component).__module__.startswith("deltarule.plugins.")


def _private_copies(components) -> dict | None:
    """``{id(original): deep copy}`` (bundled ones as they are), or ``None`` if a
    component cannot be copied."""
    memo: dict = {}
    copies = {}
    for comp in components:
        if id(comp) not in copies:
            try:
                copies[id(comp)] = comp if bundled(comp) else copy.deepcopy(comp, memo)
            except Exception:
                return None
    return copies


def describe_value(value) -> str:
    """``None``, ``a float``, ``an array of shape (3, 1)``: what a component returned."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, (numbers.Number, np.generic)):
        return f"the scalar {value!r}"
    return f"a {type(value).__name__}"


def _tame(shape, dtype, lo=-1.0, hi=1.0):
    return np.linspace(lo, hi, math.prod(shape), dtype=np.float64).reshape(shape).astype(
        dtype)


def probe(net, loss, optimizer, X, y, *, catalogue=None, optimizer_factory=None,
          epoch: int = 0) -> None:
    """Check every component of a run on its real shapes; raise :class:`PluginError`.

    ``X`` ``(n, n_0)`` and ``y`` ``(n, n_L)`` are the rows of one batch in
    the run's dtype.  Nothing of the run is modified: the components are
    called on deep copies (a component may keep state, e.g. count its
    calls), the parameters are only read, every buffer is the probe's own.
    Components that cannot be copied are not probed, nor runs made only of
    deltarule's own components (:func:`bundled`).
    """
    if all(bundled(c) for c in [*net.activations, loss, optimizer] if c is not None):
        return
    copies = _private_copies([*net.activations, loss])
    if copies is None:
        return
    p = _Probe(catalogue, net.dtype, epoch)
    dt, n = net.dtype, len(X)
    a_prev = X
    zs, As = [], []
    for W, b, act in zip(net.weights, net.biases, net.activations):
        s = functools.partial(component_suspect, catalogue, "activations", act)
        mine = copies[id(act)]
        z = a_prev @ W + b
        shape = z.shape
        a = p.call(s, "forward", mine.forward, (z.copy(),), shape,
                   tame=lambda: (_tame(shape, dt),))
        zs.append(z)
        As.append(a)
        g = np.full(shape, 1.0 / max(1, n), dtype=dt)
        if uses_vjp(mine):  # what the loop calls
            p.call(s, "vjp", mine.vjp, (z.copy(), a.copy(), g), shape)
        elif callable(getattr(mine, "derivative", None)):
            p.call(s, "derivative", mine.derivative, (z.copy(), a.copy()), shape,
                   tame=lambda: (_tame(shape, dt), _tame(shape, dt)))
        a_prev = a
    y_hat = As[-1]
    s = functools.partial(component_suspect, catalogue, "losses", loss)
    mine = copies[id(loss)]
    y = y.copy()

    def tame_y():
        return np.clip(y, -1, 1).astype(dt), _tame(y_hat.shape, dt, 0.05, 0.95)

    _probe_value(p, s, "value", mine.value, (y, y_hat.copy()), tame_y)
    p.call(s, "gradient", mine.gradient, (y, y_hat.copy()), y_hat.shape, tame=tame_y)
    vg = getattr(mine, "value_and_gradient", None)
    if callable(vg):
        _probe_value_and_gradient(p, s, vg, y, y_hat, tame_y)
    fused = getattr(mine, "fused_delta", None)
    kernel = fused(copies[id(net.activations[-1])]) if callable(fused) else None
    if kernel is not None:
        out = np.full(y_hat.shape, np.nan, dtype=dt)
        where = "fused_delta() kernel"
        try:
            value = kernel(y, y_hat.copy(), zs[-1].copy(), out)
        except Exception as exc:
            p.fail(s, where, f"raised {describe_exception(exc)}", exc)
        _check_scalar(p, s, where, value)
        if not np.isfinite(out).all():
            p.fail(s, where, "left NaN or infinite values in δ_L for finite input")
    grad = np.full(net.theta.shape, 1e-3, dtype=dt)
    if optimizer is not None and not bundled(optimizer):
        _probe_optimizer(p, functools.partial(component_suspect, catalogue, "optimizers",
                                              optimizer, factory=optimizer_factory),
                         optimizer, net.theta, grad)


def _probe_value(p: _Probe, s, method, fn, args, tame) -> None:
    try:
        value = fn(*args)
    except Exception as exc:
        p.fail(s, f"{method}()", f"raised {describe_exception(exc)}", exc)
    _check_scalar(p, s, f"{method}()", value, fn, tame)


def _check_scalar(p, s, where, value, fn=None, tame=None) -> None:
    arr = value if isinstance(value, np.ndarray) else None
    if isinstance(value, bool) or not (
            isinstance(value, (numbers.Real, np.floating, np.integer))
            or (arr is not None and arr.ndim == 0 and arr.dtype.kind in "fiu")):
        p.fail(s, where,
               f"returned {describe_value(value)}; a loss value is one real number")
    if not math.isfinite(float(value)):
        try:
            tame_ok = fn is not None and math.isfinite(float(fn(*tame())))
        except Exception:
            tame_ok = False
        if not tame_ok:
            p.fail(s, where, f"returned {float(value)!r} for finite input")


def _probe_value_and_gradient(p, s, vg, y, y_hat, tame) -> None:
    where = "value_and_gradient()"
    try:
        if accepts_out(vg):
            out = np.full(y_hat.shape, np.nan, dtype=p.dtype)
            pair = vg(y, y_hat.copy(), out=out)
        else:
            out = None
            pair = vg(y, y_hat.copy())
    except Exception as exc:
        p.fail(s, where, f"raised {describe_exception(exc)}", exc)
    if not isinstance(pair, tuple) or len(pair) != 2:
        p.fail(s, where,
               f"returned {describe_value(pair)}; it must return (value, gradient)")
    _check_scalar(p, s, where, pair[0])
    grad = out if out is not None else pair[1]
    if not isinstance(grad, np.ndarray) or grad.shape != y_hat.shape:
        p.fail(s, where, f"gave as gradient {describe_value(grad)}; it must be an array of "
                         f"the outputs' shape {y_hat.shape}")
    if not np.isfinite(grad).all():
        p.fail(s, where, "gave a gradient with NaN or infinite values for finite input")


def _probe_optimizer(p, s, optimizer, theta, grad) -> None:
    try:
        opt = copy.deepcopy(optimizer)
    except Exception:  # an optimizer that cannot be copied is not probed
        return
    params, grads = [theta.copy()], [grad.copy()]
    mine = params[0]
    try:
        opt.step(params, grads)
    except Exception as exc:
        p.fail(s, "step()", f"raised {describe_exception(exc)}", exc)
    if params[0] is not mine:
        p.fail(s, "step()", "replaced the parameter array instead of updating it; step "
                            "must update each array of params in place")
    if not np.isfinite(mine).all():
        p.fail(s, "step()", "left NaN or infinite parameters after one step from finite "
                            "parameters and gradients")
    if not np.array_equal(grads[0], grad):
        p.fail(s, "step()", "modified the gradients; step must only read them")

"""Optimizers: factories building a per-run object with ``step(params, grads)``.

``params`` and ``grads`` are matching lists of arrays; ``step`` updates each
parameter array in place and never modifies ``grads``.  The loop hands over
the whole parameter vector as a single array (``[theta]``, ``[grad]``), so
every update here is element-wise.

Every bundled optimizer takes, besides its own hyper-parameters:

``lr``
    the base learning rate ``η`` (> 0);
``weight_decay``
    ``λ ≥ 0`` (default 0): L2 regularisation, the gradient becomes
    ``g + λ θ`` (the penalty ``½ λ ‖θ‖²``, on every parameter, biases
    included, since the loop passes one flat vector);
``schedule``
    ``None``/``"constant"``, ``"step"``, ``"exponential"``,
    ``"inverse_time"`` or a callable ``t -> factor``: step ``t`` (0 for the
    first call of ``step``, counting optimizer steps, i.e. batches) uses
    ``η_t = η · factor(t)`` with, for ``r = decay_rate``, ``s = decay_steps``:

    =============== ===============================
    ``"constant"``   ``1``
    ``"step"``       ``r ** floor(t / s)``
    ``"exponential"`` ``r ** (t / s)``
    ``"inverse_time"`` ``1 / (1 + r · t / s)``
    =============== ===============================

``decay_rate`` (default 0.5; in (0, 1] for step/exponential, > 0 for
inverse_time) and ``decay_steps`` (default 1000, > 0).

State (moments, velocities, the step counter) lives in the instance, and its
buffers are allocated on the first ``step`` and reused: a step allocates
nothing.  Each run builds a fresh instance.

Model axis: every bundled optimizer declares ``model_axis = True``: its
updates are element-wise, so ``step`` given arrays with a leading model axis
(``(models, n_params)``, one row per network) updates each row exactly as a
1-D call on that row alone would, and ``take(rows)`` keeps the state of the
listed rows only (``deltarule.train_many`` drops stopped networks that way).

Declarations read by the spec suite: ``spec_options`` (hyper-parameters for
its convex-quadratic check, default ``{"lr": 0.1}``) and ``spec_steps``
(default 500).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from deltarule import kernels
from deltarule.errors import ConfigError
from deltarule.hookspecs import hookimpl

SCHEDULES = ("constant", "step", "exponential", "inverse_time")


def _number(name, value, what):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{name}: {what}, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise ConfigError(f"{name}: {what}, got {value!r}")
    return value


def _check_lr(lr, name="sgd"):
    lr = _number(name, lr, "lr must be a positive finite number")
    if not lr > 0:
        raise ConfigError(f"{name}: lr must be a positive finite number, got {lr!r}")
    return lr


def _in_range(name, option, value, lo, hi, *, lo_open=False, hi_open=True):
    interval = f"{'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    value = _number(name, value, f"{option} must be a number in {interval}")
    below = value <= lo if lo_open else value < lo
    above = value >= hi if hi_open else value > hi
    if below or above:
        raise ConfigError(f"{name}: {option} must be a number in {interval}, got {value!r}")
    return value


class _Schedule:
    """A named schedule as a picklable callable ``t -> factor``."""

    __slots__ = ("kind", "rate", "steps")

    def __init__(self, kind, rate, steps):
        self.kind, self.rate, self.steps = kind, rate, steps

    def __call__(self, t):
        if self.kind == "step":
            return self.rate ** (t // self.steps)
        if self.kind == "exponential":
            return self.rate ** (t / self.steps)
        return 1.0 / (1.0 + self.rate * t / self.steps)  # inverse_time


class _Base:
    """Learning rate, schedule, weight decay, the step counter, lazy buffers.

    Subclasses set ``n_buffers`` (buffers per parameter array) and implement
    ``_update(p, g, bufs, lr_t, t)`` for one array, ``t`` being the 1-based
    number of the step.
    """

    name = "base"
    n_buffers = 1
    model_axis = True

    def __init__(self, lr=0.1, *, weight_decay=0.0, schedule=None, decay_rate=0.5,
                 decay_steps=1000):
        self.lr = _check_lr(lr, self.name)
        wd = _number(self.name, weight_decay, "weight_decay must be a number ≥ 0")
        if wd < 0:
            raise ConfigError(f"{self.name}: weight_decay must be a number ≥ 0, got {wd!r}")
        self.weight_decay = wd
        self.schedule = schedule
        self.decay_rate = decay_rate
        self.decay_steps = decay_steps
        self._factor = self._make_schedule(schedule, decay_rate, decay_steps)
        self.t = 0  # optimizer steps taken
        self._bufs = None
        self._gbufs = None

    # -- configuration -------------------------------------------------
    def _make_schedule(self, schedule, rate, steps):
        if schedule is None or schedule == "constant":
            return None
        if callable(schedule):
            return schedule
        if schedule not in SCHEDULES:
            raise ConfigError(
                f"{self.name}: schedule must be None, one of {SCHEDULES} or a callable "
                f"t -> factor, got {schedule!r}"
            )
        steps = _number(self.name, steps, "decay_steps must be a positive number")
        if steps <= 0:
            raise ConfigError(
                f"{self.name}: decay_steps must be a positive number, got {steps!r}"
            )
        if schedule == "inverse_time":
            rate = _number(self.name, rate, "decay_rate must be a positive number")
            if rate <= 0:
                raise ConfigError(
                    f"{self.name}: decay_rate must be a positive number, got {rate!r}"
                )
            return _Schedule(schedule, rate, steps)
        rate = _in_range(self.name, "decay_rate", rate, 0.0, 1.0, lo_open=True,
                         hi_open=False)
        return _Schedule(schedule, rate, steps)

    def options(self) -> dict:
        opts = {"lr": self.lr, **self._own_options(), "weight_decay": self.weight_decay,
                "schedule": self.schedule}
        if self.schedule is not None and self.schedule != "constant":
            opts["decay_rate"] = self.decay_rate
            opts["decay_steps"] = self.decay_steps
        return opts

    def _own_options(self) -> dict:
        return {}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.options().items())
        return f"{type(self).__name__}({args})"

    def learning_rate(self, t: int) -> float:
        """``η_t`` for the 0-based step ``t``."""
        if self._factor is None:
            return self.lr
        answer = self._factor(t)
        try:
            factor = float(answer)
        except (TypeError, ValueError):
            factor = math.nan
        if not (math.isfinite(factor) and factor >= 0):
            raise ConfigError(
                f"{self.name}: the schedule returned {answer!r} at step {t}; it must "
                "return a finite number ≥ 0 (the factor multiplying lr)"
            )
        return self.lr * factor

    # -- stepping ------------------------------------------------------
    def _allocate(self, params):
        self._bufs = [[np.zeros_like(p) for _ in range(self.n_buffers)] for p in params]
        if self.weight_decay:
            self._gbufs = [np.empty_like(p) for p in params]

    def step(self, params, grads):
        """Update every array of ``params`` in place from ``grads``."""
        bufs = self._bufs
        if bufs is None:
            self._allocate(params)
            bufs = self._bufs
        if len(bufs) != len(params) or len(grads) != len(params):
            raise ConfigError(
                f"{self.name}: step() got {len(params)} parameter and {len(grads)} "
                f"gradient arrays but was first called with {len(bufs)}; build a new "
                "optimizer for a new set of parameters"
            )
        lr_t = self.learning_rate(self.t)
        self.t += 1
        t = self.t
        wd = self.weight_decay
        for i, (p, g, b) in enumerate(zip(params, grads, bufs)):
            if wd:
                ge = self._gbufs[i]
                np.multiply(p, wd, ge)
                np.add(ge, g, ge)
                g = ge
            self._update(p, g, b, lr_t, t)

    def _update(self, p, g, bufs, lr_t, t):  # pragma: no cover - abstract
        raise NotImplementedError

    def take(self, rows) -> None:
        """Keep the state of the models at ``rows`` (model axis), in that order.

        ``rows``: integer indices along the leading model axis of the
        arrays ``step`` was called with; before the first step there is no
        state and nothing to keep.
        """
        if self._bufs is not None:
            self._bufs = [[b[rows] for b in bufs] for bufs in self._bufs]
        if self._gbufs is not None:
            self._gbufs = [g[rows] for g in self._gbufs]


class SGD(_Base):
    """Plain gradient descent: ``θ ← θ − η_t g``.

    With the defaults (no schedule, no weight decay) it computes
    ``θ − (g · η)`` exactly as the document's update, bit for bit.
    """

    name = "sgd"
    n_buffers = 1  # scratch for η g

    def _update(self, p, g, bufs, lr_t, t):
        s = bufs[0]
        np.multiply(g, lr_t, s)
        np.subtract(p, s, p)


class Momentum(_Base):
    """Heavy-ball momentum: ``v ← μ v + g``; ``θ ← θ − η_t v`` (``v₀ = 0``).

    ``momentum`` ``μ ∈ [0, 1)``, default 0.9; ``μ = 0`` is SGD.

    ``form`` (default ``"gradient"``): what the velocity accumulates.
    ``"step"`` accumulates steps instead, ``v ← μ v − η_t g``; ``θ ← θ + v``
    (Sutskever et al., 2013; scikit-learn's MLP).  With a constant rate the
    two forms give the same parameters; when the rate changes (a schedule),
    ``"gradient"`` applies the new rate to the whole velocity at once and
    ``"step"`` only to the new gradients.
    """

    name = "momentum"
    n_buffers = 2  # velocity, scratch
    FORMS = ("gradient", "step")

    def __init__(self, lr=0.1, momentum=0.9, form="gradient", **options):
        super().__init__(lr, **options)
        self.momentum = _in_range(self.name, "momentum", momentum, 0.0, 1.0)
        if form not in self.FORMS:
            raise ConfigError(f"{self.name}: form must be one of {self.FORMS}, got {form!r}")
        self.form = form

    def _own_options(self):
        opts = {"momentum": self.momentum}
        if self.form != "gradient":
            opts["form"] = self.form
        return opts

    def _update(self, p, g, bufs, lr_t, t):
        v, s = bufs
        if self.form == "step":
            np.multiply(v, self.momentum, v)
            np.multiply(g, lr_t, s)
            np.subtract(v, s, v)
            np.add(p, v, p)
            return
        np.multiply(v, self.momentum, v)
        np.add(v, g, v)
        np.multiply(v, lr_t, s)
        np.subtract(p, s, p)


class Nesterov(Momentum):
    """Nesterov momentum: ``v ← μ v + g``; ``θ ← θ − η_t (g + μ v)``.

    The look-ahead form used by PyTorch and Keras; ``momentum`` ``μ ∈ [0,
    1)``, default 0.9.  ``form="step"``: ``v ← μ v − η_t g``;
    ``θ ← θ + μ v − η_t g`` (scikit-learn's MLP), see :class:`Momentum`.
    """

    name = "nesterov"

    def _update(self, p, g, bufs, lr_t, t):
        v, s = bufs
        mu = self.momentum
        if self.form == "step":
            np.multiply(v, mu, v)
            np.multiply(g, lr_t, s)
            np.subtract(v, s, v)
            np.multiply(v, mu, s)
            np.add(p, s, p)
            np.multiply(g, lr_t, s)
            np.subtract(p, s, p)
            return
        np.multiply(v, mu, v)
        np.add(v, g, v)
        np.multiply(v, mu, s)
        np.add(s, g, s)
        np.multiply(s, lr_t, s)
        np.subtract(p, s, p)


class RMSprop(_Base):
    """``s ← ρ s + (1 − ρ) g²``; ``θ ← θ − η_t g / (√s + ε)`` (``s₀ = 0``).

    ``rho`` ``ρ ∈ (0, 1)``, default 0.9; ``eps`` ``ε > 0``, default 1e-8.
    The step has size ≈ ``η_t`` whatever the gradient's scale, so a
    decaying ``schedule`` (or a small ``lr``) is needed to settle exactly.
    """

    name = "rmsprop"
    n_buffers = 2  # mean square, scratch
    spec_options = {"lr": 0.1, "schedule": "exponential", "decay_rate": 0.5,
                    "decay_steps": 50}
    spec_steps = 500

    def __init__(self, lr=0.1, rho=0.9, eps=1e-8, **options):
        super().__init__(lr, **options)
        self.rho = _in_range(self.name, "rho", rho, 0.0, 1.0, lo_open=True)
        self.eps = _number(self.name, eps, "eps must be a positive number")
        if self.eps <= 0:
            raise ConfigError(f"{self.name}: eps must be a positive number, got {eps!r}")

    def _own_options(self):
        return {"rho": self.rho, "eps": self.eps}

    def _update(self, p, g, bufs, lr_t, t):
        sq, s = bufs
        rho = self.rho
        np.multiply(sq, rho, sq)
        np.multiply(g, g, s)
        np.multiply(s, 1.0 - rho, s)
        np.add(sq, s, sq)
        np.sqrt(sq, s)
        np.add(s, self.eps, s)
        np.divide(g, s, s)
        np.multiply(s, lr_t, s)
        np.subtract(p, s, p)


class Adam(_Base):
    """Adam with bias correction (Kingma & Ba, 2015).

    ``m ← β₁ m + (1 − β₁) g``; ``v ← β₂ v + (1 − β₂) g²``;
    ``θ ← θ − η_t m̂ / (√v̂ + ε)`` with ``m̂ = m / (1 − β₁ᵗ)``,
    ``v̂ = v / (1 − β₂ᵗ)``, ``t`` the 1-based step.  ``beta1`` default 0.9,
    ``beta2`` 0.999 (both in [0, 1)), ``eps`` 1e-8.  ``weight_decay`` is the
    classic coupled L2 term added to ``g`` (not AdamW's decoupled decay).

    ``eps_hat`` (default False): add ``ε`` to ``√v`` *before* the bias
    correction, ``θ ← θ − η_t √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε)`` — the
    "ε̂" form of the paper's section 2, used by scikit-learn's MLP and Keras.
    The two forms differ only while ``√v`` is near ``ε``.
    """

    name = "adam"
    n_buffers = 3  # first and second moments (rescaled, see _update), scratch

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, eps_hat=False,
                 **options):
        super().__init__(lr, **options)
        self.beta1 = _in_range(self.name, "beta1", beta1, 0.0, 1.0)
        self.beta2 = _in_range(self.name, "beta2", beta2, 0.0, 1.0)
        self.eps = _number(self.name, eps, "eps must be a positive number")
        if self.eps <= 0:
            raise ConfigError(f"{self.name}: eps must be a positive number, got {eps!r}")
        if not isinstance(eps_hat, (bool, np.bool_)):
            raise ConfigError(f"{self.name}: eps_hat must be True or False, got {eps_hat!r}")
        self.eps_hat = bool(eps_hat)
        self._moments = "rescaled"  # see _update; pickles from before hold m and v

    def __setstate__(self, state):
        # an optimizer pickled before the moments were rescaled (a scikit-learn
        # estimator saved mid-training) holds m and v: rescale them once
        self.__dict__.update(state)
        if state.get("_moments") != "rescaled":
            for bufs in self._bufs or ():
                bufs[0] /= 1.0 - self.beta1
                bufs[1] /= 1.0 - self.beta2
            self._moments = "rescaled"

    def _own_options(self):
        opts = {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}
        if self.eps_hat:
            opts["eps_hat"] = True
        return opts

    def _update(self, p, g, bufs, lr_t, t):
        # The moments are kept rescaled, M = m / (1 − β₁) and V = v / (1 − β₂):
        # M ← β₁ M + g and V ← β₂ V + g² then take 2 and 3 passes instead of 3
        # and 4, and the constants move into the two scalars of the step, since
        # m / (√v + ε) = (1 − β₁) / √(1 − β₂) · M / (√V + ε / √(1 − β₂)).
        # Same maths as the textbook form, to rounding (a few ulp per step).
        M, V, s = bufs
        b1, b2 = self.beta1, self.beta2
        root = math.sqrt(1.0 - b2)
        if self.eps_hat:
            # step = η_t √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε)
            eps = self.eps / root
            scale = lr_t * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        else:
            # √v̂ + ε = (√v + ε √(1 − β₂ᵗ)) / √(1 − β₂ᵗ);
            # step = η_t √(1 − β₂ᵗ) / (1 − β₁ᵗ) · m / (√v + ε √(1 − β₂ᵗ))
            correction = math.sqrt(1.0 - b2 ** t)
            eps = self.eps * correction / root
            scale = lr_t * correction / (1.0 - b1 ** t)
        # M ← β₁M + g; V ← β₂V + g²; p ← p − c M / (√V + ε'): one fused loop when
        # numba is installed, ten NumPy passes otherwise (the same bits)
        kernels.adam(p, g, M, V, s, b1, b2, eps, scale * (1.0 - b1) / root)


@hookimpl
def deltarule_optimizers():
    return [SGD, Momentum, Nesterov, RMSprop, Adam]

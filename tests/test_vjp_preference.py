"""Which backward method the loop calls: ``vjp`` when an activation has one,
unless a subclass overrides ``derivative`` below the class that defines it."""

from __future__ import annotations

import numpy as np

import deltarule
from deltarule.plugins.activations import ReLU, Sigmoid, Softmax, Tanh
from deltarule.protocols import capabilities, uses_vjp


class ScaledTanh(Tanh):
    """2 tanh(z): forward and derivative overridden, the parent's vjp not."""

    name = "scaled_tanh"
    calls = 0

    def forward(self, z, out=None):
        return np.multiply(np.tanh(z), 2.0, out=out)

    def derivative(self, z, a, out=None):
        type(self).calls += 1
        return np.subtract(2.0, 0.5 * a * a, out=out)


class FusedScaledTanh(ScaledTanh):
    """The same, with its own vjp again: the loop calls that one."""

    name = "fused_scaled_tanh"

    def vjp(self, z, a, g, out=None):
        return np.multiply(g, 2.0 - 0.5 * a * a, out=out)


def test_the_loop_calls_what_is_defined_closest():
    assert uses_vjp(ReLU()) and uses_vjp(Tanh()) and uses_vjp(Softmax())
    assert not uses_vjp(Sigmoid())                     # derivative only
    assert not uses_vjp(ScaledTanh())                  # its derivative is below Tanh's vjp
    assert uses_vjp(FusedScaledTanh())
    assert capabilities(ScaledTanh()).backward_vjp is False
    instance = ScaledTanh()
    instance.vjp = lambda z, a, g, out=None: g        # on the instance: closest of all
    assert uses_vjp(instance)


def _gradient(act):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    plugin = type("P", (), {"deltarule_activations": deltarule.hookimpl(
        lambda self: [act])})()
    r = deltarule.train(X, y, layers=[3, 50, 1], activation=[act.name, "identity"],
                        loss="mse", lr=1e-3, max_epochs=1, seed=0, plugins=[plugin],
                        entry_points=False)
    return r


def test_a_subclass_overriding_derivative_trains_with_its_own_gradient():
    ScaledTanh.calls = 0
    mine = _gradient(ScaledTanh()).network.theta
    assert ScaledTanh.calls > 0                        # the loop asked its derivative
    fused = _gradient(FusedScaledTanh()).network.theta
    np.testing.assert_allclose(mine, fused, rtol=1e-12, atol=1e-15)

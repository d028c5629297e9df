"""Component laws, for every component the registered plugins provide.

Parametrised by the suite's pytest plugin over the catalogue (bundled
plugins, installed entry points, and ``--deltarule-plugin`` plugins); the
laws and their tolerances are documented in :mod:`deltarule.specs.checks`.
Test ids read ``<component>-<check>``.
"""

from deltarule.specs import checks


def test_activation(activation_law, deltarule_expect):
    subject, check = activation_law
    deltarule_expect(checks.run_subject(subject, check))


def test_loss(loss_law, deltarule_expect):
    subject, check = loss_law
    deltarule_expect(checks.run_subject(subject, check))


def test_optimizer(optimizer_law, deltarule_expect):
    subject, check = optimizer_law
    deltarule_expect(checks.run_subject(subject, check))


def test_initializer(initializer_law, deltarule_expect):
    subject, check = initializer_law
    deltarule_expect(checks.run_subject(subject, check))


def test_stop_criterion(stop_law, deltarule_expect):
    subject, check = stop_law
    deltarule_expect(checks.run_subject(subject, check))


def test_network_gradient(network_pair, deltarule_expect):
    """The loop's gradient equals finite differences for every activation × loss."""
    act, loss = network_pair
    plugin = act.plugin if act.plugin == loss.plugin else f"{act.plugin} + {loss.plugin}"
    deltarule_expect(checks.run_pair(act.component, loss.component, plugin=plugin,
                                     origin=f"{act.origin} / {loss.origin}"))

"""Every law of :mod:`deltarule.specs.laws` as a pytest spec.

Parametrised by the suite's pytest plugin (:mod:`deltarule.specs.pytest_plugin`)
over every law and every subject it applies to: the components of the
registered plugins (bundled, installed entry points, ``--deltarule-plugin``
ones), every activation × loss pair, and the core machinery.  Test ids read
``test_law[<law id>-<component>]``.
"""


def test_law(deltarule_law, deltarule_runner, deltarule_expect):
    item, subject = deltarule_law
    deltarule_expect(deltarule_runner.run(item, subject))

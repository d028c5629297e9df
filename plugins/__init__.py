"""The bundled plugins: one small module per component family.

They are registered exactly like third-party plugins (see
:func:`deltarule.make_plugin_manager`), and a user plugin that provides a
component of the same name shadows the bundled one.
"""

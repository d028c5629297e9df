"""The component catalogue: every component the plugins provide, by family and name.

:meth:`Catalogue.collect` asks each family's hook of a
:class:`~deltarule.Registry` once, in registration order: a later plugin may
not reuse a name another non-builtin plugin gave (:class:`ComponentClashError`),
while a user plugin's component shadows a bundled one of the same name.
:meth:`Catalogue.resolve` turns what a user wrote — a name, a ``(name,
{options})`` pair or a component object — into a component.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .errors import ComponentClashError, ConfigError, PluginError, UnknownComponentError
from .protocols import FAMILIES, SINGULAR, capabilities, validate_component


@dataclass(frozen=True)
class Entry:
    component: Any
    plugin: str
    origin: str


@dataclass
class Catalogue:
    """Every component the registered plugins provide, by family and name."""

    families: dict[str, dict[str, Entry]]

    @classmethod
    def collect(cls, registry) -> "Catalogue":
        """Ask every family hook of ``registry`` (a :class:`~deltarule.Registry`)."""
        families: dict[str, dict[str, Entry]] = {}
        for family, hook_name in FAMILIES.items():
            table: dict[str, Entry] = {}
            # registration order (pluggy calls the newest first, modulo tryfirst)
            for impl in reversed(registry.implementations(hook_name)):
                origin = impl.origin
                try:
                    provided = impl.call()
                except Exception as exc:
                    raise PluginError(
                        f"plugin {impl.plugin!r} ({origin}) failed in {hook_name}(): "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                for comp in _as_components(provided, family, impl.plugin):
                    entry = Entry(comp, impl.plugin, origin)
                    old = table.get(comp.name)
                    if old is not None and old.origin != "builtin" and origin != "builtin":
                        raise ComponentClashError(
                            f"{SINGULAR[family]} {comp.name!r} is provided by two plugins: "
                            f"{old.plugin!r} ({old.origin}) and {impl.plugin!r} "
                            f"({origin}); rename one of them or register only one"
                        )
                    if old is not None and origin == "builtin" and old.origin != "builtin":
                        continue  # a user plugin registered earlier still shadows
                    table[comp.name] = entry
            families[family] = table
        return cls(families)

    def names(self, family: str) -> list[str]:
        return sorted(self.families[family])

    def get(self, family: str, name: str) -> Any:
        table = self.families[family]
        try:
            return table[name].component
        except KeyError:
            close = difflib.get_close_matches(name, table, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise UnknownComponentError(
                f"unknown {SINGULAR[family]} {name!r}{hint}; available: "
                f"{', '.join(sorted(table)) or 'none'}"
            ) from None

    def resolve(self, family: str, spec) -> Any:
        """A component from a name, a ``(name, {options})`` pair or a component object."""
        if isinstance(spec, str):
            return self.get(family, spec)
        if is_pair(spec):
            return configure(self.get(family, spec[0]), spec[1])
        validate_component(spec, family)
        return spec


def _as_components(provided: Any, family: str, plugin: str) -> list[Any]:
    if provided is None:
        return []
    if isinstance(provided, dict):
        items = list(provided.values())
    elif isinstance(provided, (list, tuple)):
        items = list(provided)
    else:
        items = [provided]
    for comp in items:
        validate_component(comp, family, plugin)
    return items


def is_pair(spec) -> bool:
    """Whether ``spec`` is a ``(name, {options})`` component spec."""
    return (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str)
            and isinstance(spec[1], dict))


def configure(component, options: dict):
    """A copy of ``component`` with ``options`` applied (``(name, options)`` form)."""
    if not isinstance(options, dict):
        raise ConfigError(f"component options must be a dict, got {options!r}")
    if capabilities(component).configure:
        return component.configure(**options)
    cls = type(component)
    try:
        return cls(**{**current_options(component), **options})
    except TypeError as exc:
        raise ConfigError(
            f"{component.name!r} does not take options {sorted(options)}: {exc}"
        ) from None


def current_options(component) -> dict:
    """The options a component was built with (its ``options()``), else ``{}``."""
    return dict(component.options()) if capabilities(component).options else {}

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
import inspect
from dataclasses import dataclass, field
from typing import Any

from . import diagnostics
from .errors import (
    ComponentClashError,
    ConfigError,
    PluginError,
    PluginShadowWarning,
    UnknownComponentError,
    UnknownOptionError,
)
from .protocols import FAMILIES, SINGULAR, capabilities, validate_component

# the registry's environment variables, named here for the clash message
AUTOLOAD_ENV = "DELTARULE_DISABLE_PLUGIN_AUTOLOAD"
LOAD_ENV = "DELTARULE_LOAD_PLUGINS"


@dataclass(frozen=True)
class Entry:
    component: Any
    plugin: str
    origin: str


@dataclass
class Catalogue:
    """Every component the registered plugins provide, by family and name."""

    families: dict[str, dict[str, Entry]]
    notes: list[str] = field(default_factory=list)

    @classmethod
    def collect(cls, registry) -> "Catalogue":
        """Ask every family hook of ``registry`` (a :class:`~deltarule.Registry`).

        Two plugins providing a component of the same name: the one
        registered explicitly (in code or with ``--plugin``) wins over an
        installed entry point's, which wins over a bundled one; a user
        plugin shadowing an entry point's component is a
        :class:`~deltarule.PluginShadowWarning` (a note on the command line).
        Two entry points, or two explicit plugins, claiming one name is a
        :class:`~deltarule.ComponentClashError` that names both.
        """
        families: dict[str, dict[str, Entry]] = {}
        notes: list[str] = []
        for family, hook_name in FAMILIES.items():
            candidates: dict[str, list[Entry]] = {}
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
                    same = candidates.setdefault(comp.name, [])
                    if any(e.plugin == impl.plugin for e in same):
                        raise ComponentClashError(
                            f"plugin {impl.plugin!r} ({origin}) provides two "
                            f"{family} named {comp.name!r} in {hook_name}(); give each "
                            "component its own name"
                        )
                    same.append(Entry(comp, impl.plugin, origin))
            families[family] = {
                name: _precedence(entries, SINGULAR[family], name, notes)
                for name, entries in candidates.items()
            }
        for note in notes:
            diagnostics.warn(PluginShadowWarning, note)
        return cls(families, notes)

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


BUILTIN, ENTRY_POINT, USER = 0, 1, 2


def _rank(entry: Entry) -> int:
    """Where a plugin came from: bundled, an installed entry point, or the user."""
    if entry.origin == "builtin":
        return BUILTIN
    if entry.origin.startswith("entry point"):
        return ENTRY_POINT
    return USER


def _precedence(entries: list[Entry], kind: str, name: str, notes: list) -> Entry:
    """The entry that provides ``name`` (in registration order): an explicitly
    registered plugin, else an installed entry point, else the bundled one."""
    best = max(_rank(e) for e in entries)
    top = [e for e in entries if _rank(e) == best]
    if len(top) > 1:
        a, b = top[0], top[1]
        if best == ENTRY_POINT:
            raise ComponentClashError(
                f"{kind} {name!r} is provided by two installed plugins: {a.plugin!r} "
                f"({a.origin}) and {b.plugin!r} ({b.origin}); load only one of them with "
                f"{LOAD_ENV}={a.plugin} (a comma-separated list of the entry points to "
                f"load), set {AUTOLOAD_ENV}=1 and register the one you want with "
                f"--plugin / plugins=[...], or uninstall one"
            )
        if best == USER:
            raise ComponentClashError(
                f"{kind} {name!r} is provided by two plugins: {a.plugin!r} ({a.origin}) "
                f"and {b.plugin!r} ({b.origin}); rename one of them or register only one"
            )
    winner = top[0]
    for loser in entries:
        if _rank(loser) == ENTRY_POINT and winner is not loser:
            notes.append(
                f"{kind} {name!r} of the explicitly registered plugin {winner.plugin!r} "
                f"({winner.origin}) shadows the one of the installed plugin "
                f"{loser.plugin!r} ({loser.origin})"
            )
    return winner


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
    unknown = unknown_options_message(cls, options, f"{component.name!r}")
    if unknown:
        raise UnknownOptionError(unknown)
    try:
        return cls(**{**current_options(component), **options})
    except TypeError as exc:
        raise ConfigError(
            f"{component.name!r} does not take options {sorted(options)}: {exc}"
        ) from None


def option_names(factory) -> list[str] | None:
    """The keyword options a component class (or factory) accepts, following
    ``**options`` up the class hierarchy; ``None`` when they cannot be known."""


    classes = factory.__mro__ if inspect.isclass(factory) else (factory,)
    names: list[str] = []
    for cls in classes:
        init = cls.__init__ if inspect.isclass(cls) else cls
        if init is object.__init__:
            break
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            return None
        open_ended = False
        for p in params:
            if p.kind is p.VAR_KEYWORD:
                open_ended = True
            elif p.name != "self" and p.kind is not p.VAR_POSITIONAL and p.name not in names:
                names.append(p.name)
        if not open_ended:
            return names
    return None


def unknown_options_message(factory, options, label: str) -> str | None:
    """"label has no option 'x' (did you mean 'y'?); its options: …", or None."""
    known = option_names(factory)
    if known is None:
        return None
    bad = [k for k in options if k not in known]
    if not bad:
        return None
    parts = []
    for k in bad:
        close = difflib.get_close_matches(k, known, n=1, cutoff=0.6)
        parts.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return (f"{label} has no option {', '.join(parts)}; its options: "
            f"{', '.join(known)}")


def current_options(component) -> dict:
    """The options a component was built with (its ``options()``), else ``{}``."""
    return dict(component.options()) if capabilities(component).options else {}

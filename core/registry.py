"""Plugin managers and the component catalogue.

There is no module-global plugin manager: :func:`make_registry` (also known by
its older name ``make_plugin_manager``) builds a
fresh one for every run (or :class:`~deltarule.Trainer`), so embedding tools
and tests never leak registrations into each other.

Plugins come from four places, in this order:

1. ``builtin``     — the bundled :mod:`deltarule.plugins` modules, registered
   exactly like third-party plugins;
2. ``entry point`` — installed distributions declaring the ``deltarule``
   entry-point group (skipped when ``DELTARULE_DISABLE_PLUGIN_AUTOLOAD`` is set
   to a non-empty value, or ``entry_points=False``);
3. ``user``        — objects or modules passed in code (``plugins=[...]``);
4. ``user``        — dotted paths ``"package.module:attr"`` (``--plugin``).

``DELTARULE_LOAD_PLUGINS=name,name`` loads only the entry points (or
distributions) it names.  When two plugins provide a component of one name,
an explicitly registered one (3, 4) wins over an entry point's, which wins
over a bundled one (see :meth:`Catalogue.collect`).
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
import os
import sys
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterable

import pluggy

from . import hookspecs
from .catalogue import AUTOLOAD_ENV, LOAD_ENV, Catalogue
from .errors import PluginError

ENTRY_POINT_GROUP = "deltarule"

BUILTIN_MODULES = (
    "deltarule.plugins.initializers",
    "deltarule.plugins.activations",
    "deltarule.plugins.losses",
    "deltarule.plugins.optimizers",
    "deltarule.plugins.stopping",
)

def load_object(path: str) -> Any:
    """Import ``"package.module:attr"`` (or ``"package.module"``) and return it."""
    if not isinstance(path, str) or not path.strip():
        raise PluginError(f"a plugin path must be 'module:attr' or 'module', got {path!r}")
    module_name, _, attr = path.strip().partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(
            f"cannot import plugin module {module_name!r} (from {path!r}): {exc}; "
            "give an importable dotted path such as 'mypkg.plugins:activations'"
        ) from exc
    except (Exception, SystemExit) as exc:  # the module's own code failed while importing
        raise PluginError(
            f"plugin module {module_name!r} (from {path!r}) failed while importing: "
            f"{_describe(exc)}; fix the module or leave it out"
        ) from exc
    for part in filter(None, attr.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(
                f"module {module_name!r} has no attribute {part!r} (from {path!r})"
            ) from None
    return obj


def _describe(exc: BaseException) -> str:
    """``SyntaxError: invalid syntax (mod.py, line 3)``: an exception in one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _plugin_label(plugin: Any) -> str:
    if isinstance(plugin, ModuleType):
        return plugin.__name__
    name = getattr(plugin, "name", None)
    if isinstance(name, str) and name:
        return name
    cls = plugin if inspect.isclass(plugin) else type(plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def _check_hook_names(plugin: Any, label: str) -> None:
    """Catch misspelled and unmarked hooks, which pluggy would silently ignore."""
    marker = hookspecs.PROJECT + "_impl"
    for attr in dir(plugin):
        if not attr.startswith(_HOOK_PREFIX):
            continue
        value = getattr(plugin, attr, None)
        if not callable(value):
            continue
        if attr not in hookspecs.HOOK_NAMES:
            hint = difflib.get_close_matches(attr, hookspecs.HOOK_NAMES, n=1)
            suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
            raise PluginError(
                f"plugin {label!r} implements unknown hook {attr!r}{suggestion} "
                f"(known hooks: {', '.join(hookspecs.HOOK_NAMES)})"
            )
        if not hasattr(value, marker):
            raise PluginError(
                f"plugin {label!r} defines {attr!r} without the @deltarule.hookimpl "
                "marker, so it would never be called; decorate it with @deltarule.hookimpl"
            )


class _PluginManager(pluggy.PluginManager):
    """Looks only at ``deltarule_*`` names, as pytest does for ``pytest_*``.

    pluggy otherwise inspects every attribute of every plugin (a module
    importing NumPy has hundreds), which made registration the bulk of a
    short run's fixed cost.  Misspelled or unmarked ``deltarule_*`` names are
    still caught, by :func:`_check_hook_names`.
    """

    def parse_hookimpl_opts(self, plugin, name):
        if not name.startswith(_HOOK_PREFIX):
            return None
        return super().parse_hookimpl_opts(plugin, name)

    def parse_hookspec_opts(self, module_or_class, name):
        # the same for the hook specifications: every registry adds them anew
        if not name.startswith(_HOOK_PREFIX):
            return None
        return super().parse_hookspec_opts(module_or_class, name)


_HOOK_PREFIX = hookspecs.PROJECT + "_"


@dataclass(frozen=True)
class Implementation:
    """One hook implementation as a plain call (see :meth:`Registry.implementations`)."""

    plugin: str
    origin: str
    call: Callable[..., Any]


def _positional(function, argnames: tuple[str, ...], spec_args: tuple[str, ...]):
    """``function`` adapted to take every spec argument positionally.

    pluggy lets an implementation declare a subset of the spec's arguments.
    """
    if argnames == spec_args:
        return function
    if not argnames:
        return lambda *args: function()
    index = [spec_args.index(a) for a in argnames]
    return lambda *args: function(*[args[i] for i in index])


@dataclass
class Registry:
    """A plugin manager plus where each of its plugins came from."""

    pm: pluggy.PluginManager
    origins: dict[str, str] = field(default_factory=dict)

    def register(self, plugin: Any, origin: str = "user", name: str | None = None) -> str:
        """Register ``plugin`` (object, module or dotted path); return its name."""
        source = None
        if isinstance(plugin, str):
            source, plugin = plugin, load_object(plugin)
        label = name or _plugin_label(plugin)
        if inspect.isclass(plugin):
            where = f" ({source!r})" if source else ""
            raise PluginError(
                f"plugin {label!r}{where} is a class; register an instance, e.g. "
                f"{getattr(plugin, '__name__', 'Plugin')}() in code, or a module "
                f"attribute 'plugin = {getattr(plugin, '__name__', 'Plugin')}()' "
                "named as 'module:plugin'"
            )
        _check_hook_names(plugin, label)
        if self.pm.is_registered(plugin):
            return self.pm.get_name(plugin) or label
        if self.pm.has_plugin(label):
            # same label, different object: keep both, distinguishable
            label = f"{label}#{id(plugin):x}"
        try:
            registered = self.pm.register(plugin, name=label)
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            if self.pm.is_registered(plugin):
                self.pm.unregister(plugin)
            raise PluginError(
                f"plugin {label!r} cannot be registered: {exc}. Hook arguments must "
                "be named as in deltarule.hookspecs (e.g. 'state')"
            ) from None
        assert registered is not None
        self.origins[registered] = origin if source is None else f"{origin} ({source})"
        return registered

    def plugins(self) -> list[tuple[str, str, Any]]:
        """``(name, origin, plugin)`` for every registered plugin, in order."""
        return [
            (name, self.origins.get(name, "unknown"), plugin)
            for name, plugin in self.pm.list_name_plugin()
        ]

    def catalogue(self) -> Catalogue:
        """Every component the registered plugins provide (see :mod:`deltarule.catalogue`)."""
        return Catalogue.collect(self)

    def hooks_of(self, plugin: Any) -> list[str]:
        """The names of the hooks ``plugin`` (registered) implements, sorted."""
        return sorted(h.name for h in self.pm.get_hookcallers(plugin) or ())

    def implementers(self, hook_name: str) -> list[tuple[str, str, Any]]:
        """``(name, origin, plugin)`` of every plugin implementing ``hook_name``,
        in registration order (wrappers included)."""
        return [
            (impl.plugin_name, self.origins.get(impl.plugin_name, "unknown"), impl.plugin)
            for impl in getattr(self.pm.hook, hook_name).get_hookimpls()
        ]

    def implementations(self, hook_name: str, *, wrappers: str = "refuse"):
        """The implementations of ``hook_name`` as plain calls, in pluggy's call order.

        Returns a list of :class:`Implementation`; each ``call`` takes the
        hook's arguments positionally, in the order of the hook
        specification, whatever subset the implementation declared.  Calling
        them directly saves pluggy's ~1.5 µs per call, which matters in the
        per-epoch loop.

        A wrapper implementation (``wrapper=True`` or ``hookwrapper=True``)
        cannot be called as a plain function: with ``wrappers="refuse"`` it
        raises :class:`PluginError` naming the plugin; with
        ``wrappers="defer"`` the answer is ``None`` and the caller must go
        through ``pm.hook`` so that pluggy runs the wrappers.
        """
        hook = getattr(self.pm.hook, hook_name)
        impls = hook.get_hookimpls()
        wrapping = [i for i in impls if i.hookwrapper or getattr(i, "wrapper", False)]
        if wrapping:
            if wrappers == "defer":
                return None
            raise PluginError(
                f"plugin {wrapping[0].plugin_name!r} implements {hook_name} as a wrapper "
                f"(wrapper=True or hookwrapper=True); {hook_name} takes plain "
                "implementations only: drop the wrapper option and return the value"
            )
        spec_args = tuple(hook.spec.argnames) if hook.spec else ()
        out = []
        for impl in reversed(impls):  # pluggy calls the newest (and tryfirst) first
            out.append(Implementation(
                plugin=impl.plugin_name,
                origin=self.origins.get(impl.plugin_name, "unknown"),
                call=_positional(impl.function, tuple(impl.argnames), spec_args),
            ))
        return out


def make_registry(
    plugins: Iterable[Any] = (), *, entry_points: bool | None = None
) -> Registry:
    """A fresh :class:`Registry` (a plugin manager and its plugins' origins):
    builtins, entry points, then ``plugins``.

    ``entry_points=None`` loads the ``deltarule`` entry-point group unless the
    environment variable ``DELTARULE_DISABLE_PLUGIN_AUTOLOAD`` is set;
    ``DELTARULE_LOAD_PLUGINS=a,b`` loads only the entry points (or
    distributions) named.
    """
    pm = _PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    reg = Registry(pm)
    for modname in BUILTIN_MODULES:
        module = importlib.import_module(modname)
        for plugin in getattr(module, "PLUGINS", (module,)):
            reg.register(plugin, origin="builtin")
    if entry_points is None:
        entry_points = not os.environ.get(AUTOLOAD_ENV)
    if entry_points:
        _load_entry_points(reg)
    if isinstance(plugins, (str, ModuleType)) or not isinstance(plugins, Iterable):
        plugins = [plugins]
    for plugin in plugins:
        reg.register(plugin, origin="user")
    return reg


make_plugin_manager = make_registry  # the older name; it has always returned a Registry


@functools.lru_cache(maxsize=8)
def _entry_points(search_path: tuple[str, ...]):
    """The group's entry points; scanning installed metadata costs ~1 ms, so
    it is done once per distinct ``sys.path``."""
    from importlib.metadata import entry_points

    return tuple(entry_points(group=ENTRY_POINT_GROUP))


def _allowed_entry_points() -> set[str] | None:
    """``DELTARULE_LOAD_PLUGINS``: the entry points (or distributions) to load,
    comma-separated; ``None`` when unset (load them all)."""
    value = os.environ.get(LOAD_ENV)
    if value is None or not value.strip():
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entry_points(reg: Registry) -> None:
    allowed = _allowed_entry_points()
    for ep in _entry_points(tuple(sys.path)):
        dist = getattr(ep, "dist", None)
        if allowed is not None and ep.name not in allowed \
                and (dist is None or dist.name not in allowed):
            continue
        try:
            plugin = ep.load()
        except (Exception, SystemExit) as exc:  # a broken package must say who it is
            raise PluginError(
                f"entry point {ep.name!r} ({ep.value}) of group 'deltarule' failed to "
                f"load: {_describe(exc)}; fix or uninstall that package, list only the "
                f"ones you want in {LOAD_ENV}, or set {AUTOLOAD_ENV}=1"
            ) from exc
        where = f"entry point {ep.name} = {ep.value}"
        if dist is not None:
            where += f" [{dist.name} {dist.version}]"
        reg.register(plugin, origin=where, name=ep.name)

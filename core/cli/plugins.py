"""``deltarule plugins``: list every registered plugin and its components."""

from __future__ import annotations

from ..protocols import FAMILIES, SINGULAR
from ..registry import make_registry


def add_parser(sub):
    """Add the ``plugins`` sub-command to the subparsers ``sub``."""
    pl = sub.add_parser("plugins", help="list registered plugins and their components")
    pl.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR")
    pl.set_defaults(func=cmd_plugins)
    return pl


def cmd_plugins(args) -> int:
    reg = make_registry(args.plugin)
    catalogue = reg.catalogue()
    provided: dict[str, list[str]] = {}
    for family, table in catalogue.families.items():
        for name, entry in table.items():
            provided.setdefault(entry.plugin, []).append(f"{SINGULAR[family]} {name}")
    for name, origin, plugin in reg.plugins():
        hooks = reg.hooks_of(plugin)
        comps = provided.get(name, [])
        print(f"{name}  [{origin}]")
        if comps:
            print(f"    provides: {', '.join(sorted(comps))}")
        others = [h for h in hooks if h not in FAMILIES.values()]
        if others:
            print(f"    hooks:    {', '.join(others)}")
    return 0

"""``deltarule plugins``: list every registered plugin and its components."""

from __future__ import annotations

import json
import sys
import warnings

from ..errors import PluginShadowWarning
from ..protocols import FAMILIES, SINGULAR
from ..registry import make_registry


def add_parser(sub):
    """Add the ``plugins`` sub-command to the subparsers ``sub``."""
    pl = sub.add_parser("plugins", help="list registered plugins and their components")
    pl.add_argument("--plugin", action="append", default=[], metavar="MODULE:ATTR")
    pl.add_argument("--json", action="store_true",
                    help="print one JSON object: every plugin with its origin, the "
                         "components it provides (and which it lost to another plugin) "
                         "and its other hooks")
    pl.set_defaults(func=cmd_plugins)
    return pl


def cmd_plugins(args) -> int:
    reg = make_registry(args.plugin)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginShadowWarning)
        catalogue = reg.catalogue()
    provided: dict[str, dict[str, list[str]]] = {}
    for family, table in catalogue.families.items():
        for name, entry in table.items():
            provided.setdefault(entry.plugin, {}).setdefault(SINGULAR[family], []).append(name)
    records = []
    for name, origin, plugin in reg.plugins():
        others = [h for h in reg.hooks_of(plugin) if h not in FAMILIES.values()]
        comps = {kind: sorted(names) for kind, names in sorted(provided.get(name, {}).items())}
        records.append({"name": name, "origin": origin, "provides": comps, "hooks": others})
    notes = [str(w.message) for w in caught if issubclass(w.category, PluginShadowWarning)]
    if args.json:
        print(json.dumps({"command": "plugins", "plugins": records, "notes": notes}))
        return 0
    for rec in records:
        print(f"{rec['name']}  [{rec['origin']}]")
        comps = [f"{kind} {n}" for kind, names in rec["provides"].items() for n in names]
        if comps:
            print(f"    provides: {', '.join(sorted(comps))}")
        if rec["hooks"]:
            print(f"    hooks:    {', '.join(rec['hooks'])}")
    for note in notes:
        print(f"deltarule: note: {note}", file=sys.stderr)
    return 0

"""The register of laws: one decorated function per law, found by its id.

A law is a function ``check(component, ctx)`` whose docstring states the law
(its formula or statement, and the tolerance), registered with
:func:`law`::

    @law("activation.derivative")
    def derivative(act, ctx):
        \"\"\"derivative(z, a) equals dforward/dz ...\"\"\"
        ...                 # raise Violation("...") when it does not hold

The id's first part names the family of subjects it is run on: an
``activation``, ``loss``, ``optimizer``, ``initializer`` or ``stop``
criterion of the catalogue; ``network`` laws taking an (activation, loss)
pair; every other prefix (``loop``, ``delta-rule``, ``xor``, ...) is a law
of the core machinery, run once with the bundled components.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from dataclasses import dataclass
from typing import Callable, Iterable

COMPONENT_FAMILIES = ("activation", "loss", "optimizer", "initializer", "stop")
PAIR_FAMILY = "network"
CORE_FAMILY = "core"
# the order in which a run takes the families (cheap, local checks first)
FAMILY_ORDER = (*COMPONENT_FAMILIES, PAIR_FAMILY, CORE_FAMILY)


@dataclass(frozen=True)
class Law:
    """One law: its id, the family of subjects it applies to, and its check."""

    id: str
    family: str
    check: Callable
    doc: str
    applies: Callable | None = None
    slow: bool = False
    uses: tuple[str, ...] = ()
    pair: bool = False  # network laws: the component is an (activation, loss) pair

    @property
    def statement(self) -> str:
        """The docstring's first paragraph, on one line."""
        return " ".join(self.doc.split("\n\n")[0].split())

    @property
    def name(self) -> str:
        """The id without its family prefix (``derivative`` for ``activation.derivative``)."""
        return self.id.split(".", 1)[1]

    def skip_reason(self, component) -> str | None:
        return self.applies(component) if self.applies is not None else None

    def __repr__(self):
        return f"<law {self.id}>"


LAWS: dict[str, Law] = {}


def law(law_id: str, *, applies: Callable | None = None, slow: bool = False,
        uses: Iterable[str] = (), pair: bool = False):
    """Register the decorated ``check(component, ctx)`` as law ``law_id``.

    ``applies(component)`` returns why the law does not apply (a skip
    reason) or None; ``slow`` laws run only on request (``--slow``); ``uses``
    lists the bundled components a core law drives (``"loss:mse"``), whose
    own laws are re-run to find the culprit when it fails; ``pair`` laws
    take an ``(activation, loss)`` pair of the catalogue.
    """
    prefix = law_id.split(".", 1)[0]
    if "." not in law_id or law_id in LAWS:
        raise ValueError(f"law id {law_id!r} must be 'family.name' and unique")
    family = prefix if prefix in COMPONENT_FAMILIES else (
        PAIR_FAMILY if pair else CORE_FAMILY)

    def register(check):
        doc = inspect.cleandoc(check.__doc__ or "")
        if not doc:
            raise ValueError(f"law {law_id!r} needs a docstring stating it")
        LAWS[law_id] = Law(law_id, family, check, doc, applies, slow, tuple(uses),
                           pair=pair)
        check.law_id = law_id
        return check

    return register


def load_all() -> dict[str, Law]:
    """Import every law module (registering them); return :data:`LAWS`."""
    from deltarule.specs import laws  # noqa: F401  (the imports register the laws)

    return LAWS


def select(patterns: Iterable[str] | None) -> list[Law]:
    """The laws whose id matches one of ``patterns`` (fnmatch; a bare family
    name such as ``optimizer`` means ``optimizer.*``), in run order."""
    load_all()
    laws = sorted(LAWS.values(), key=lambda l: FAMILY_ORDER.index(l.family))
    patterns = list(patterns or [])
    if not patterns:
        return laws
    chosen = []
    for item in laws:
        for p in patterns:
            if fnmatch.fnmatchcase(item.id, p) or (
                    not any(c in p for c in "*?[") and item.id.startswith(p + ".")):
                chosen.append(item)
                break
    return chosen


def unknown_patterns(patterns: Iterable[str]) -> list[str]:
    """The patterns that match no law, each with a suggestion when one is close."""
    load_all()
    out = []
    for p in patterns:
        if not select([p]):
            close = difflib.get_close_matches(p, list(LAWS), n=1)
            out.append(f"{p!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    return out


def suggest(law_id: str) -> str:
    close = difflib.get_close_matches(law_id, list(LAWS), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""

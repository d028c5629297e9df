"""Results of the laws, and the report a maintainer acts on.

Each law run on one subject gives a :class:`CheckResult`: the law's id, the
component and the plugin providing it, a status, the reason (for a failure:
the worst element, the analytic and the numeric value, the tolerance), the
seconds it took and a one-line command that reproduces it.  A
:class:`Report` is a list of them with one summary line, a table and a
JSON compliance table.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from deltarule.errors import DeltaRuleError
from deltarule.specs.search import indent

STATUSES = ("passed", "failed", "skipped", "xfailed", "xpassed")


@dataclass
class CheckResult:
    """The outcome of one law on one subject.

    ``status`` is ``"passed"``, ``"failed"``, ``"skipped"``, ``"xfailed"``
    (failed as the component declared it would) or ``"xpassed"`` (declared to
    fail but passed: reported as a failure, since the declaration is stale).
    ``message`` says why; ``reproduce`` is a command running just this law.
    """

    law: str
    family: str
    component: str
    plugin: str
    status: str
    message: str = ""
    origin: str = ""
    seconds: float = 0.0
    reproduce: str = ""
    statement: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed(self) -> bool:
        """A failure: the law does not hold, or a declared failure did not happen."""
        return self.status in ("failed", "xpassed")

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    @property
    def xfailed(self) -> bool:
        return self.status == "xfailed"

    @property
    def check(self) -> str:
        """The law's name within its family (``derivative`` for ``activation.derivative``)."""
        return self.law.split(".", 1)[1]

    @property
    def label(self) -> str:
        return f"{self.family} {self.component!r} (plugin {self.plugin!r})"

    @property
    def reason(self) -> str:
        """The message's first line (for tables)."""
        return self.message.strip().splitlines()[0] if self.message.strip() else ""

    def __str__(self) -> str:
        head = f"{self.status.upper()} {self.law}: {self.label}"
        parts = []
        if self.failed and self.statement:
            parts.append(self.statement)
        if self.message:
            parts.append(self.message)
        if self.failed and self.reproduce:
            parts.append(f"reproduce: {self.reproduce}")
        return head + ("\n" + indent("\n".join(parts)) if parts else "")

    def as_row(self) -> dict:
        row = asdict(self)
        row["reason"] = self.message
        row["seconds"] = round(self.seconds, 4)
        del row["message"], row["statement"]
        return row


class SpecFailure(DeltaRuleError, AssertionError):
    """One or more laws failed; ``results`` lists the failures."""

    def __init__(self, message: str, results: list[CheckResult]):
        super().__init__(message)
        self.results = results


class Report(list):
    """A list of :class:`CheckResult` with one summary line, a table and JSON.

    ``warnings`` lists what the run noticed besides verdicts (an expected
    failure naming no law, an unknown ``--law`` pattern).
    """

    def __init__(self, results=(), *, warnings=None, meta=None):
        super().__init__(results)
        self.warnings: list[str] = list(warnings or [])
        self.meta: dict = dict(meta or {})

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self if r.failed]

    @property
    def passes(self) -> list[CheckResult]:
        return [r for r in self if r.passed]

    @property
    def skips(self) -> list[CheckResult]:
        return [r for r in self if r.skipped]

    @property
    def xfails(self) -> list[CheckResult]:
        return [r for r in self if r.xfailed]

    @property
    def ok(self) -> bool:
        """True if nothing failed and at least one law held."""
        return not self.failures and bool(self.passes)

    def counts(self) -> dict[str, int]:
        return {s: sum(r.status == s for r in self) for s in STATUSES}

    def summary(self) -> str:
        """One line: ``12 passed, 1 failed, 3 skipped`` (xfailed, xpassed when any)."""
        c = self.counts()
        parts = [f"{c['passed']} passed", f"{c['failed'] + c['xpassed']} failed",
                 f"{c['skipped']} skipped"]
        if c["xfailed"]:
            parts.append(f"{c['xfailed']} xfailed")
        if c["xpassed"]:
            parts.append(f"{c['xpassed']} of the failed passed although declared "
                         "expected failures")
        return ", ".join(parts)

    def table(self, *, reasons: bool = True) -> str:
        """One line per law and subject: status, law, family, component, plugin."""
        if not self:
            return "(no laws ran)"
        wl = max(len(r.law) for r in self)
        wc = max(len(r.component) for r in self)
        lines = []
        for r in self:
            line = (f"{r.status.upper():7} {r.law:{wl}}  {r.family:11} {r.component:{wc}}"
                    f"  [{r.plugin}]")
            if reasons and (r.skipped or r.xfailed) and r.reason:
                line += f"  ({r.reason})"
            lines.append(line)
        return "\n".join(lines)

    def __str__(self) -> str:
        parts = [self.table()]
        parts += [str(r) for r in self.failures]
        parts += [f"warning: {w}" for w in self.warnings]
        parts.append(self.summary())
        return "\n\n".join(parts)

    def to_json(self) -> dict:
        """The compliance table: law, component, plugin, status, reason, seconds."""
        return {"format": "deltarule-spec-report", "format_version": 1, **self.meta,
                "summary": self.counts(), "warnings": self.warnings,
                "results": [r.as_row() for r in self]}

    def write_json(self, path) -> None:
        from pathlib import Path

        Path(path).write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False)
                              + "\n", encoding="utf-8")

    def raise_for_failures(self) -> "Report":
        """Raise :class:`SpecFailure` listing every failure; else return self."""
        if self.failures:
            text = "\n\n".join(str(r) for r in self.failures)
            raise SpecFailure(f"{len(self.failures)} law(s) failed:\n\n{text}",
                              self.failures)
        if not self.passes:
            raise SpecFailure("no law ran: the plugin provides nothing the suite can "
                              "check", [])
        return self

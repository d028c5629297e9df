"""Runs laws on subjects and reports: the engine behind ``deltarule spec``.

Subjects come from a registry's catalogue: every activation, loss, optimizer
and initializer, every plugin implementing ``deltarule_stop``, every
activation × loss pair (for the ``network`` laws), and the core machinery
itself (one subject, ``deltarule``, for the ``loop``, ``delta-rule``,
``xor`` ... laws).  Each applicable law runs on each subject and gives a
:class:`~deltarule.specs.report.CheckResult`.

When a law about several components fails (a ``network`` law on a pair, a
core law on the bundled components it drives), the members' own laws are
run too, and the failure names the member that breaks its own law — the
culprit — or says that every member keeps its own laws.

A component declares the laws it is known to break as
``expected_failures = {"law.id": "reason"}``: such a law is reported
``xfailed``; one that holds after all is ``xpassed`` (a failure: remove the
declaration), and an id naming no law is reported as a warning.
"""

from __future__ import annotations

import fnmatch
import inspect
import secrets
import shlex
import sys
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from deltarule.protocols import SINGULAR as FAMILY_OF  # "activations" -> "activation", …
from deltarule.specs.registry import (
    CORE_FAMILY,
    FAMILY_ORDER,
    LAWS,
    PAIR_FAMILY,
    Law,
    load_all,
    select,
    suggest,
    unknown_patterns,
)
from deltarule.specs.report import CheckResult, Report
from deltarule.specs.search import Context, Skip, Violation, component_frame, indent
CORE_NAME = "deltarule"
CORE_PLUGIN = "deltarule (core)"
BUNDLED_PREFIX = "deltarule.plugins"


@dataclass
class Subject:
    """One thing laws are run on, and where it came from."""

    family: str            # activation, loss, optimizer, initializer, stop, network, core
    name: str
    component: Any
    plugin: str
    origin: str = ""
    path: str | None = None    # "module:attr" the plugin was loaded from, when known
    members: tuple = ()         # a pair's (activation, loss) subjects

    @property
    def key(self) -> tuple:
        return (self.family, self.name, self.plugin)

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"

    def matches(self, patterns: Iterable[str] | None) -> bool:
        patterns = list(patterns or [])
        if not patterns:
            return True
        names = [self.name, *(m.name for m in self.members)]
        return any(fnmatch.fnmatchcase(n, p) for n in names for p in patterns)


# ---------------------------------------------------------------- subjects
def _plugin_path(registry, plugin_name: str) -> str | None:
    """The ``module:attr`` a registered plugin can be loaded from, if any."""
    origin = registry.origins.get(plugin_name, "")
    if "(" in origin and origin.endswith(")"):
        return origin[origin.index("(") + 1:-1]
    obj = registry.pm.get_plugin(plugin_name)
    if obj is None:
        return None
    if inspect.ismodule(obj):
        return obj.__name__ if not obj.__name__.startswith(BUNDLED_PREFIX) else None
    module = sys.modules.get(getattr(type(obj), "__module__", ""), None)
    if module is None or module.__name__.startswith(BUNDLED_PREFIX):
        return None
    for attr, value in vars(module).items():
        if value is obj:
            return f"{module.__name__}:{attr}"
    return None


def subjects(registry, only_plugins: Iterable[str] | None = None) -> list[Subject]:
    """Every component of ``registry``'s catalogue and every stop plugin
    (only those of ``only_plugins``, registered plugin names, when given)."""
    only = None if only_plugins is None else set(only_plugins)
    out = []
    catalogue = registry.catalogue()
    for family_key, table in catalogue.families.items():
        family = FAMILY_OF[family_key]
        for name in sorted(table):
            entry = table[name]
            if only is None or entry.plugin in only:
                out.append(Subject(family, name, entry.component, entry.plugin,
                                   entry.origin, _plugin_path(registry, entry.plugin)))
    for name, origin, plugin in registry.implementers("deltarule_stop"):
        if only is None or name in only:
            out.append(Subject("stop", name, plugin, name, origin,
                               _plugin_path(registry, name)))
    return out


def pairs(registry, only_plugins: Iterable[str] | None = None) -> list[Subject]:
    """An (activation, loss) subject for every pair touching ``only_plugins``."""
    subs = subjects(registry)
    only = None if only_plugins is None else set(only_plugins)
    acts = [s for s in subs if s.family == "activation"]
    losses = [s for s in subs if s.family == "loss"]
    out = []
    for a in acts:
        for l in losses:
            if only is None or a.plugin in only or l.plugin in only:
                plugin = a.plugin if a.plugin == l.plugin else f"{a.plugin} + {l.plugin}"
                out.append(Subject(PAIR_FAMILY, f"{a.name} × {l.name}",
                                   (a.component, l.component), plugin,
                                   f"{a.origin} / {l.origin}", a.path or l.path,
                                   members=(a, l)))
    return out


def core_subject() -> Subject:
    return Subject(CORE_FAMILY, CORE_NAME, None, CORE_PLUGIN, "builtin")


def expected_failures(subject: Subject) -> dict[str, str]:
    """The subject's ``expected_failures`` declaration (a pair: both members')."""
    out: dict[str, str] = {}
    comps = [m.component for m in subject.members] or [subject.component]
    for comp in comps:
        declared = getattr(comp, "expected_failures", None) or {}
        if isinstance(declared, dict):
            out.update({str(k): str(v) for k, v in declared.items()})
    return out


def declaration_warnings(subject: Subject) -> list[str]:
    load_all()
    declared = getattr(subject.component, "expected_failures", None)
    if declared is None:
        return []
    if not isinstance(declared, dict):
        return [f"{subject.family} {subject.name!r} declares expected_failures = "
                f"{declared!r}; it must be a dict {{law id: reason}}"]
    return [f"{subject.family} {subject.name!r} (plugin {subject.plugin!r}) declares an "
            f"expected failure of {k!r}, which is no law{suggest(str(k))}"
            for k in declared if k not in LAWS]


# ---------------------------------------------------------------- running one law
class Runner:
    """Runs laws under one :class:`Context`, remembering every result (so a
    culprit search never runs a member's law twice)."""

    def __init__(self, ctx: Context, *, default_profile: str = "dev"):
        self.ctx = ctx
        self.default_profile = default_profile
        self.cache: dict[tuple, CheckResult] = {}
        self._bundled = None

    def reproduce(self, item: Law, subject: Subject) -> str:
        cmd = ["deltarule", "spec", "--law", item.id]
        if subject.family != CORE_FAMILY:
            cmd += ["--component", subject.name]
        if subject.path:
            cmd += ["--plugin", subject.path]
        if item.slow:
            cmd.append("--slow")
        if self.ctx.profile != self.default_profile:
            cmd += ["--profile", self.ctx.profile]
        if self.ctx.seed is not None:
            cmd += ["--seed", str(self.ctx.seed)]
        text = " ".join(shlex.quote(c) for c in cmd)
        members = subject.members or (subject,)
        unreachable = subject.family != CORE_FAMILY and subject.path is None and any(
            not m.plugin.startswith(BUNDLED_PREFIX) for m in members)
        if subject.plugin == "<direct>":
            return (f"deltarule.specs.check_component(<the component>, "
                    f"{subject.family!r}, laws=[{item.id!r}])" + (
                        f" with seed={self.ctx.seed}" if self.ctx.seed is not None else ""))
        if unreachable:  # registered as an object: the command line cannot load it
            text = (f"deltarule.specs.check_plugin(<the plugin>, laws=[{item.id!r}], "
                    f"components=[{subject.name!r}]) (or, with the plugin importable as "
                    f"module:attr, {text} --plugin module:attr)")
        return text

    def run(self, item: Law, subject: Subject, *, culprits: bool = True) -> CheckResult:
        key = (item.id, subject.key, id(subject.component))
        if key in self.cache:
            return self.cache[key]
        declared = expected_failures(subject)
        t0 = time.perf_counter()
        status, message = "passed", ""
        try:
            reason = item.skip_reason(subject.component)
            if reason:
                status, message = "skipped", reason
            else:
                import warnings

                with warnings.catch_warnings():
                    # the library's training advice (saturation, divergence) is
                    # expected on the laws' deliberately hard problems
                    warnings.simplefilter("ignore")
                    item.check(subject.component, self.ctx)
        except Skip as exc:
            status, message = "skipped", str(exc)
        except Violation as exc:
            status, message = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - a crash outside a search is a finding
            status = "failed"
            message = (f"raised {type(exc).__name__}: {exc}{component_frame(exc)}\n"
                       + "".join(traceback.format_exception_only(type(exc), exc)).strip())
        seconds = time.perf_counter() - t0
        if status == "failed" and culprits and (subject.members or item.uses):
            message += "\n" + self.culprit(item, subject)
        if item.id in declared:
            if status == "failed":
                status = "xfailed"
                message = f"expected failure: {declared[item.id]}\n{message}"
            elif status == "passed":
                status = "xpassed"
                message = (f"declared as an expected failure ({declared[item.id]}) but "
                           "the law holds: remove it from expected_failures")
        result = CheckResult(item.id, subject.family, subject.name, subject.plugin, status,
                             message, subject.origin, seconds, self.reproduce(item, subject),
                             item.statement)
        self.cache[key] = result
        return result

    # -- culprits ---------------------------------------------------------
    def members(self, item: Law, subject: Subject) -> list[Subject]:
        if subject.members:
            return list(subject.members)
        if self._bundled is None:
            from deltarule import make_registry

            reg = make_registry([], entry_points=False)
            self._bundled = {s.id: s for s in subjects(reg)}
        return [self._bundled[u] for u in item.uses if u in self._bundled]

    def culprit(self, item: Law, subject: Subject) -> str:
        found, clean = [], []
        for member in self.members(item, subject):
            laws = [l for l in select([member.family]) if not l.slow]
            bad = [self.run(l, member, culprits=False) for l in laws]
            bad = [r for r in bad if r.failed]
            if bad:
                found.append(f"{member.family} {member.name!r} (plugin {member.plugin!r}) "
                             f"breaks its own law(s) {', '.join(r.law for r in bad)}:\n"
                             + indent(bad[0].message.split("\n")[0]))
            else:
                clean.append(f"{member.family} {member.name!r}")
        if found:
            return "culprit: " + "\n".join(found)
        if clean:
            where = ("the loop (deltarule core)" if subject.family == CORE_FAMILY
                     else "how the loop combines them (a fused delta?) or the loop")
            return (f"culprit: not a member — {', '.join(clean)} keep their own laws; "
                    f"the fault is in {where}")
        return "culprit: the loop (deltarule core)"


# ---------------------------------------------------------------- running many
def plan(registry, only_plugins=None, *, laws=None, components=None, slow=False,
         core: bool | None = None) -> list[tuple[Law, Subject]]:
    """``(law, subject)`` in run order: families in ``FAMILY_ORDER``, then laws
    in registration order, then subjects."""
    chosen = [l for l in select(laws) if slow or not l.slow]
    if core is None:
        core = only_plugins is None
    subs = subjects(registry, only_plugins)
    prs = pairs(registry, only_plugins) if any(l.pair for l in chosen) else []
    todo = []
    for item in chosen:
        if item.pair:
            pool = prs
        elif item.family == CORE_FAMILY:
            pool = [core_subject()] if core else []
        else:
            pool = [s for s in subs if s.family == item.family]
        todo += [(item, s) for s in pool if item.family == CORE_FAMILY
                 or s.matches(components)]
    return todo


def run(registry, only_plugins=None, *, laws=None, components=None, profile=None,
        seed=None, slow=False, core=None, exitfirst=False, first=(),
        on_result: Callable[[CheckResult], None] | None = None) -> Report:
    """Every selected law on every subject; a :class:`Report`."""
    from deltarule.specs.profiles import profile_name

    prof = profile_name(profile)
    ctx = Context(prof, seed, registry)
    runner = Runner(ctx)
    todo = plan(registry, only_plugins, laws=laws, components=components, slow=slow,
                core=core)
    if first:
        ahead = {l.id for l in select(first)}
        todo = sorted(todo, key=lambda t: t[0].id not in ahead)
    warnings, seen = [], set()
    for _, s in todo:
        if s.key not in seen:
            seen.add(s.key)
            for m in (s.members or (s,)):
                warnings += [w for w in declaration_warnings(m) if w not in warnings]
    from deltarule import __version__

    report = Report(warnings=warnings, meta={"deltarule_version": __version__,
                                             "profile": prof, "seed": seed})
    t0 = time.perf_counter()
    for item, subject in todo:
        result = runner.run(item, subject)
        report.append(result)
        if on_result is not None:
            on_result(result)
        if exitfirst and result.failed:
            break
    report.meta["seconds"] = round(time.perf_counter() - t0, 3)
    return report


def check_plugin(plugin, *, profile: str | None = None, seed: int | None = None,
                 laws=None, components=None, raise_on_failure: bool = False) -> Report:
    """Run every law that applies to what ``plugin`` provides; a :class:`Report`.

    ``plugin`` is a plugin object, a module or a ``"module:attr"`` path, as for
    ``deltarule.train(..., plugins=[...])``.  Its components are checked alone
    and, for activations and losses, paired with every activation and loss of
    the bundled catalogue.  ``profile`` names a hypothesis profile (``dev``,
    ``ci``, ``thorough``; default from ``$HYPOTHESIS_PROFILE``), ``seed``
    explores other examples, ``laws`` and ``components`` select by id and name
    (fnmatch patterns).  With ``raise_on_failure=True`` a failure raises
    :class:`~deltarule.specs.report.SpecFailure`.
    """
    from deltarule import make_registry

    registry = make_registry([], entry_points=False)
    name = registry.register(plugin, origin="user")
    report = run(registry, [name], laws=laws, components=components, profile=profile,
                 seed=seed)
    if raise_on_failure:
        report.raise_for_failures()
    return report


def check_component(component, family: str, *, profile: str | None = None,
                    seed: int | None = None, laws=None,
                    raise_on_failure: bool = False) -> Report:
    """The laws of ``family`` (``"activation"``, ``"loss"``, ``"optimizer"``,
    ``"initializer"``) on one component object, without registering it."""
    from deltarule import make_registry
    from deltarule.specs.profiles import profile_name

    family = FAMILY_OF.get(family, family)
    if family not in ("activation", "loss", "optimizer", "initializer"):
        raise ValueError(f"family must be one of activation, loss, optimizer, "
                         f"initializer; got {family!r}")
    ctx = Context(profile_name(profile), seed, make_registry([], entry_points=False))
    runner = Runner(ctx)
    subject = Subject(family, getattr(component, "name", repr(component)), component,
                      "<direct>", "direct")
    chosen = [l for l in select(laws or [family]) if l.family == family and not l.slow]
    report = Report((runner.run(l, subject) for l in chosen),
                    warnings=declaration_warnings(subject))
    if raise_on_failure:
        report.raise_for_failures()
    return report


# ---------------------------------------------------------------- the command
def main(args) -> int:
    """``deltarule spec``: parsed arguments in, exit status out (0 only if every
    law that ran held, and at least one ran)."""
    from deltarule import make_registry
    from deltarule.specs.profiles import profile_name

    out = sys.stdout
    load_all()
    if args.list:
        for item in select(args.law):
            mark = " (slow)" if item.slow else ""
            print(f"{item.id:34} {item.statement}{mark}", file=out)
        return 0
    bad = unknown_patterns(args.law)
    if bad:
        print(f"deltarule spec: --law {', '.join(bad)} matches no law; "
              "`deltarule spec --list` lists them", file=sys.stderr)
        return 2
    # a plugin is checked beside the bundled components only, unless --installed:
    # someone else's installed plugin must not fail (or clash with) this run
    installed = not args.plugin or getattr(args, "installed", False)
    registry = make_registry(args.plugin, entry_points=None if installed else False)
    registry.catalogue()  # fail early and clearly on a malformed plugin
    names = [_registered_name(registry, p) for p in args.plugin]
    only = names if names and not args.all else None
    profile = profile_name(args.profile)
    seed = args.seed
    if seed is None and profile == "thorough":
        seed = secrets.randbelow(2**31)  # random, but printed: a failure reproduces
    marks = {"passed": ".", "failed": "F", "skipped": "s", "xfailed": "x", "xpassed": "X"}
    column = [0]

    def show(result):
        if args.verbose:
            line = f"{result.status.upper():7} {result.law}  {result.family} " \
                   f"{result.component}  [{result.plugin}]  {result.seconds:.2f} s"
            if result.skipped or result.xfailed:
                line += f"  ({result.reason})"
            print(line, file=out, flush=True)
        else:
            out.write(marks[result.status])
            column[0] += 1
            if column[0] % 79 == 0:
                out.write("\n")
            out.flush()

    report = run(registry, only, laws=args.law, components=args.component,
                 profile=profile, seed=seed, slow=args.slow, exitfirst=args.exitfirst,
                 first=args.first, on_result=show)
    if not args.verbose and column[0] % 79:
        out.write("\n")
    for r in report:
        if r.skipped or r.xfailed:
            print(f"{r.status.upper()} {r.law} {r.family} {r.component!r}: {r.reason}",
                  file=out)
    for r in report.failures:
        print(f"\n{r}", file=out)
    for w in report.warnings:
        print(f"warning: {w}", file=out)
    from deltarule.specs.onnx_law import missing_runtime

    if any(r.law == "activation.onnx-export" for r in report) and missing_runtime():
        print(f"deltarule spec: note: the onnx-export law was skipped: {missing_runtime()}",
              file=sys.stderr)
    if args.json:
        report.write_json(args.json)
    seed_note = f", seed {seed}" if seed is not None else ""
    print(f"deltarule spec: {report.summary()} in {report.meta['seconds']:.1f} s "
          f"(profile {profile}{seed_note})", file=out)
    if not report:
        what = f"the plugin(s) {', '.join(args.plugin)}" if args.plugin else "the selection"
        print(f"deltarule spec: no law ran: {what} provide(s) nothing the suite can "
              "check (no activation, loss, optimizer, initializer or stop criterion)",
              file=sys.stderr)
        return 1
    return 0 if report.ok or (not report.failures and report.xfails) else 1


def _registered_name(registry, path) -> str:
    from deltarule import load_object

    obj = load_object(path)
    return registry.pm.get_name(obj)

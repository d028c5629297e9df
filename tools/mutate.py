#!/usr/bin/env python3
"""Mutation testing of deltarule's maths and control code against its spec suite.

    python tools/mutate.py                    # every mutant, `deltarule spec` on each
    python tools/mutate.py --sample 40 -j 2   # a stratified sample: a few minutes
    python tools/mutate.py --tests            # the whole test suite instead
    python tools/mutate.py --list             # the mutants, without running anything

A *mutant* is the source tree with one single-point fault: an operator
swapped (``+``/``-``, ``*``/``/``, ``//``/``/``, ``**``/``*``, ``and``/``or``),
a constant changed (``c → c + 1``, ``True``/``False``), a term dropped
(``a + b → a``), a unary minus or ``not`` dropped, a statement deleted, a
comparison flipped (``<``/``<=``, ``==``/``!=``, ``is``/``is not``, ``in``/
``not in``), a slice bound shifted by one, an axis swapped (``axis=0``/
``axis=1``, ``.T`` dropped).  Each mutant runs the command (``deltarule spec
-x``, or ``pytest tests`` with ``--tests``) in a subprocess, with a timeout,
on a *copy* of the package laid out as installed (``core/`` → ``deltarule/``,
``plugins/`` → ``deltarule/plugins``, ``specs/`` → ``deltarule/specs``) and
put first on ``PYTHONPATH``: the worktree is never modified.  A mutant is
*killed* when the command fails (or times out), *survives* when it passes.

What is mutated (the maths and control code, see ``CORE_TARGETS``): core's
network maths (``core/network.py``, ``core/workspace.py``, the compiled
kernels and their NumPy twins in ``core/kernels.py`` — whose mutants the
laws reach only on arrays large enough for the compiled path, so run them
with ``--command 'pytest tests/test_kernels.py -x -q'`` too) and loop
(``core/loop.py``: the run log, ``State``, the epoch and its steps, the stop
criteria and observers as calls, ``Run``; ``core/trainer.py``:
``TrainResult`` and ``Trainer``'s run methods); every function and class
attribute of every bundled plugin module ``plugins/*.py``.  Not mutated:
docstrings and strings, argument validation (an ``if`` whose body only
raises, ``raise`` statements, validator calls such as ``_in_range`` — their
arguments, or the assignment of their result —, the validator functions
themselves), ``__repr__`` and ``options()`` (presentation).  The stacked
loop of ``train_many`` (``core/stacked.py``) is not in the scope.

Mutant ids (``file:qualname:kind:digest``) do not depend on line numbers,
so the list of equivalent mutants (``tools/equivalent_mutants.txt``: one id,
two spaces, the reason, per line) stays valid while the code around moves.
The score per file counts killed / (mutants − equivalent ones).
"""

from __future__ import annotations

import argparse
import ast
import compileall
import concurrent.futures as cf
import dataclasses
import datetime as _dt
import fnmatch
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "tools" / "equivalent_mutants.txt"

# core's network maths and loop: qualified names per file
CORE_TARGETS = {
    "core/network.py": ("Network", "_views", "_readonly_pairs"),
    "core/workspace.py": ("Workspace", "_store"),
    "core/kernels.py": ("_build", "_softmax_agrees", "bias_op", "relu_vjp", "tanh_vjp",
                        "_elementwise", "softmax", "adam", "_fits", "_apart"),
    "core/loop.py": ("RunLog", "State", "_readonly", "batch_plan", "step", "epoch_function",
                     "validation_loss", "stop_criteria", "observers", "_plain_calls",
                     "Run"),
    "core/trainer.py": ("TrainResult", "Trainer.fit", "Trainer.steps",
                        "Trainer.partial_fit", "Trainer._run", "Trainer._new_network",
                        "Trainer._build_optimizer", "Trainer._split",
                        "Trainer._activations_for"),
}
PLUGIN_FILES = "plugins/*.py"
# presentation, validation and capability probes: not the maths
SKIP_FUNCTIONS = {"__repr__", "options", "_own_options", "_number", "_check_lr",
                  "_in_range", "_check_reduction", "_check_eps", "check_targets",
                  "_accepts_out", "_function_accepts_out", "__reduce__"}
VALIDATORS = {"_number", "_check_lr", "_in_range", "_check_reduction", "_check_eps",
              "check_positive", "check_layers", "as_dtype", "check_threads",
              "check_component", "as_matrix", "check_xy"}

SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
        ast.FloorDiv: ast.Div, ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv,
        ast.MatMult: ast.Mult, ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
FLIP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
        ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
        ast.In: ast.NotIn, ast.NotIn: ast.In}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
          ast.Pow: "**", ast.Mod: "%", ast.MatMult: "@", ast.BitAnd: "&", ast.BitOr: "|"}


# ---------------------------------------------------------------- mutants
@dataclasses.dataclass
class Mutant:
    id: str
    file: str              # repository-relative path of the source file
    qualname: str
    kind: str              # operator-swap, constant, term-drop, ...
    line: int
    before: str
    after: str
    # replacement of source characters [start, end) (offsets into the file text)
    start: int
    end: int
    text: str

    def apply(self, source: str) -> str:
        return source[: self.start] + self.text + source[self.end:]

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line} ({self.qualname})"


def _offsets(source: str):
    starts, pos = [0], 0
    for line in source.splitlines(keepends=True):
        pos += len(line)
        starts.append(pos)
    return starts


class _Collector(ast.NodeVisitor):
    """Walks one module and proposes mutants inside the selected functions."""

    def __init__(self, source: str, relpath: str, select):
        self.source = source
        self.relpath = relpath
        self.select = select
        self.line_starts = _offsets(source)
        # the source as UTF-8 bytes: ast col offsets count bytes
        self.lines = source.splitlines(keepends=True)
        self.stack: list[str] = []
        self.skipped = 0
        self.mutants: list[Mutant] = []
        self.seen: dict[str, int] = {}

    # -- positions -------------------------------------------------------
    def _pos(self, line: int, col_bytes: int) -> int:
        text = self.lines[line - 1]
        col = len(text.encode("utf-8")[:col_bytes].decode("utf-8", "replace"))
        return self.line_starts[line - 1] + col

    def _span(self, node) -> tuple[int, int]:
        return (self._pos(node.lineno, node.col_offset),
                self._pos(node.end_lineno, node.end_col_offset))

    def _segment(self, node) -> str:
        s, e = self._span(node)
        return " ".join(self.source[s:e].split())

    # -- selection -------------------------------------------------------
    @property
    def qualname(self) -> str:
        return ".".join(self.stack) or "<module>"

    @property
    def active(self) -> bool:
        return bool(self.stack) and self.skipped == 0 and self.select(self.qualname)

    def visit_FunctionDef(self, node):
        self.stack.append(node.name)
        skip = node.name in SKIP_FUNCTIONS
        self.skipped += skip
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(
                body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body = body[1:]  # the docstring
        for stmt in body:
            self.visit(stmt)
        self.skipped -= skip
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node):
        self.stack.append(node.name)
        for stmt in node.body:
            if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.visit(stmt)
            elif self.active and isinstance(stmt, (ast.Assign, ast.AnnAssign)) and \
                    not _targets_name(stmt, "__slots__") and stmt.value is not None:
                # class attributes: declarations (kinks, output_range, ...)
                self.visit(stmt.value)
        self.stack.pop()

    # -- what is never mutated -------------------------------------------
    def visit_Raise(self, node):
        return

    def visit_Assert(self, node):
        return

    def visit_JoinedStr(self, node):
        return

    def visit_If(self, node):
        if all(isinstance(s, ast.Raise) for s in node.body) and not node.orelse:
            return  # argument validation
        self.generic_visit(node)

    def visit_Call(self, node):
        fname = _call_name(node.func)
        if fname in VALIDATORS:
            return
        self.generic_visit(node)

    # -- statements ----------------------------------------------------------
    def _delete(self, stmt):
        s, e = self._span(stmt)
        self._add(stmt, "statement-deleted", self._segment(stmt), "pass", s, e, "pass")

    def visit_Expr(self, node):
        if self.active and not (isinstance(node.value, ast.Constant)):
            if not isinstance(node.value, (ast.Yield, ast.YieldFrom)):
                self._delete(node)
        self.generic_visit(node)

    def visit_Assign(self, node):
        if self.active and not (isinstance(node.value, ast.Call)
                                and _call_name(node.value.func) in VALIDATORS):
            self._delete(node)  # (x = check(x) is validation: not deleted)
        self.visit(node.value)
        for t in node.targets:
            self._visit_target(t)

    def visit_AugAssign(self, node):
        if self.active:
            self._delete(node)
            new = SWAP.get(type(node.op))
            if new is not None:
                text = ast.unparse(ast.AugAssign(target=node.target, op=new(),
                                                 value=node.value))
                self._add(node, "operator-swap", self._segment(node), text,
                          *self._span(node), text)
        self.visit(node.value)
        self._visit_target(node.target)

    def visit_AnnAssign(self, node):
        if node.value is not None:
            if self.active:
                self._delete(node)
            self.visit(node.value)

    def _visit_target(self, t):
        # subscripts on the left may hold slices worth shifting
        if isinstance(t, ast.Subscript):
            self.visit(t.slice)
            self._visit_target(t.value)
        elif isinstance(t, (ast.Tuple, ast.List)):
            for e in t.elts:
                self._visit_target(e)

    # -- expressions -------------------------------------------------------
    def _replace_expr(self, node, kind, new_node):
        text = "(" + ast.unparse(new_node) + ")"
        self._add(node, kind, self._segment(node), ast.unparse(new_node),
                  *self._span(node), text)

    def visit_BinOp(self, node):
        if self.active:
            new = SWAP.get(type(node.op))
            if new is not None:
                self._replace_expr(node, "operator-swap",
                                   ast.BinOp(left=node.left, op=new(), right=node.right))
            if isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow,
                                    ast.FloorDiv)):
                self._replace_expr(node, "term-drop", node.left)
            if isinstance(node.op, (ast.Add, ast.Mult)):
                self._replace_expr(node, "term-drop", node.right)
        self.generic_visit(node)

    def visit_UnaryOp(self, node):
        if self.active and isinstance(node.op, (ast.USub, ast.Not)):
            if isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant):
                # a negative literal: change the number itself
                v = node.operand.value
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    self._replace_expr(node, "constant", ast.Constant(-v + 1))
                return
            self._replace_expr(node, "unary-drop", node.operand)
        self.generic_visit(node)

    def visit_BoolOp(self, node):
        if self.active:
            other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
            self._replace_expr(node, "operator-swap", ast.BoolOp(op=other, values=node.values))
        self.generic_visit(node)

    def visit_Compare(self, node):
        if self.active:
            for i, op in enumerate(node.ops):
                new = FLIP.get(type(op))
                if new is None:
                    continue
                ops = list(node.ops)
                ops[i] = new()
                self._replace_expr(node, "comparison-flip",
                                   ast.Compare(left=node.left, ops=ops,
                                               comparators=node.comparators))
        self.generic_visit(node)

    def visit_Constant(self, node):
        if not self.active:
            return
        v = node.value
        if isinstance(v, bool):
            self._replace_expr(node, "constant", ast.Constant(not v))
        elif isinstance(v, (int, float)):
            self._replace_expr(node, "constant", ast.Constant(v + 1))

    def visit_Slice(self, node):
        if self.active:
            one = ast.Constant(1)
            if node.lower is not None:
                self._replace_slice(node, "lower",
                                    ast.BinOp(left=node.lower, op=ast.Add(), right=one))
            else:
                self._replace_slice(node, "lower", one)
            if node.upper is not None:
                self._replace_slice(node, "upper",
                                    ast.BinOp(left=node.upper, op=ast.Add(), right=one))
        self.generic_visit(node)

    def _replace_slice(self, node, which, value):
        new = ast.Slice(lower=node.lower, upper=node.upper, step=node.step)
        setattr(new, which, value)
        text = ast.unparse(new)
        self._add(node, "slice-shift", self._segment(node), text, *self._span(node), text)

    def visit_keyword(self, node):
        if self.active and node.arg == "axis":
            v = node.value
            cur = v.value if isinstance(v, ast.Constant) else None
            if isinstance(v, ast.UnaryOp) and isinstance(v.operand, ast.Constant):
                cur = -v.operand.value
            new = {0: 1, 1: 0, -1: 0, None: 0}.get(cur, 0)
            text = f"axis={new}"
            self._add(node, "axis-swap", self._segment(node), text, *self._span(node), text)
            return  # the constant mutation would duplicate this one
        self.generic_visit(node)

    def visit_Attribute(self, node):
        if self.active and node.attr == "T":
            self._replace_expr(node, "axis-swap", node.value)
        self.generic_visit(node)

    # -- bookkeeping ---------------------------------------------------------
    def _add(self, node, kind, before, after, start, end, text):
        if not self.active:
            return
        q = self.qualname
        key = f"{self.relpath}:{q}:{kind}:{before}->{after}"
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        digest = hashlib.sha1(f"{key}#{n}".encode()).hexdigest()[:10]
        self.mutants.append(Mutant(
            id=f"{self.relpath}:{q}:{kind}:{digest}", file=self.relpath, qualname=q,
            kind=kind, line=node.lineno, before=before, after=after, start=start,
            end=end, text=text))


def _targets_name(stmt, name):
    targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
    return any(isinstance(t, ast.Name) and t.id == name for t in targets)


def _call_name(func):
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _selector(targets):
    def select(qualname: str) -> bool:
        return any(qualname == t or qualname.startswith(t + ".") for t in targets)
    return select


def _plugin_selector(qualname: str) -> bool:
    return True


def collect(root: Path = ROOT) -> list[Mutant]:
    """Every mutant of the targets, in file order."""
    out = []
    files = [(root / f, _selector(t)) for f, t in CORE_TARGETS.items() if (root / f).is_file()]
    files += [(p, _plugin_selector) for p in sorted(root.glob(PLUGIN_FILES))]
    for path, select in files:
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(root).as_posix()
        col = _Collector(source, rel, select)
        col.visit(ast.parse(source))
        for m in col.mutants:
            try:  # a replacement that does not parse is no mutant
                compile(m.apply(source), rel, "exec")
            except SyntaxError:
                continue
            out.append(m)
    return out


# ---------------------------------------------------------------- running
INSTALLED = {"core": "deltarule", "plugins": "deltarule/plugins", "specs": "deltarule/specs"}


def _installed_path(relpath: str) -> str:
    top, _, rest = relpath.partition("/")
    return f"{INSTALLED[top]}/{rest}"


def make_site(root: Path, dest: Path) -> Path:
    """The package as installed, under ``dest/site``, byte-compiled once."""
    site = dest / "site"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / "core", site / "deltarule", ignore=ignore)
    shutil.copytree(root / "plugins", site / "deltarule" / "plugins", ignore=ignore)
    shutil.copytree(root / "specs", site / "deltarule" / "specs", ignore=ignore)
    compileall.compile_dir(str(site), quiet=1)
    return site


def _env(site: Path) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"   # a mutant's .pyc must never be reused
    env["DELTARULE_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONHASHSEED"] = "0"
    env.pop("HYPOTHESIS_PROFILE", None)
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("CI", None)
    return env


# laws likely to catch a fault in each file run first (the command still runs
# every law until one fails: the verdict is `deltarule spec`'s, only sooner)
FIRST = {
    "plugins/activations.py": ["activation", "network.gradient"],
    "plugins/losses.py": ["loss", "network.gradient"],
    "plugins/optimizers.py": ["optimizer"],
    "plugins/initializers.py": ["initializer"],
    "plugins/stopping.py": ["stop", "loop"],
    "core/network.py": ["network", "delta-rule", "loop"],
}


def spec_command(args, mutant=None) -> list[str]:
    if args.tests:
        return [sys.executable, "-m", "pytest", str(args.root_path / "tests"), "-x", "-q",
                "-p", "no:cacheprovider", "-m", "not slow"]
    if args.command:
        return [sys.executable, "-m", *args.command.split()]
    cmd = [sys.executable, "-m", "deltarule", "spec", "-x"]
    first = FIRST.get(mutant.file, ["loop", "network", "delta-rule"]) if mutant else []
    for f in first:
        cmd += ["--first", f]
    return cmd


LAW_RE = re.compile(r"^FAILED\s+([^\s:]+)", re.M)


def run_one(mutant: Mutant | None, site: Path, cmd, timeout: float, cwd: Path):
    """``(status, seconds, detail)`` of the command on ``mutant`` (None: unmutated)."""
    target = original = None
    if mutant is not None:
        target = site / _installed_path(mutant.file)
        original = target.read_text(encoding="utf-8")
        target.write_text(mutant.apply(original), encoding="utf-8")
        pyc = target.parent / "__pycache__"
        for stale in pyc.glob(target.stem + ".*.pyc"):
            stale.unlink()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=_env(site), capture_output=True,
                              text=True, timeout=timeout)
        seconds = time.perf_counter() - t0
        out = proc.stdout + proc.stderr
        if proc.returncode == 0:
            return "survived", seconds, ""
        laws = LAW_RE.findall(proc.stdout)
        detail = laws[0] if laws else _last_line(out)
        return "killed", seconds, detail
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - t0, f"> {timeout:.0f} s"
    finally:
        if target is not None:
            target.write_text(original, encoding="utf-8")
            for stale in (target.parent / "__pycache__").glob(target.stem + ".*.pyc"):
                stale.unlink()
            # the unmutated module byte-compiled again, for the next mutant
            compileall.compile_file(str(target), quiet=1)


def _last_line(text: str) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:160] if lines else ""


def load_equivalent(path: Path = EQUIVALENT_FILE) -> dict[str, str]:
    out = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            mid, _, reason = line.partition("  ")
            out[mid.strip()] = reason.strip()
    return out


def sample(mutants, n, seed=0):
    """``n`` mutants, stratified by file (each file in proportion, at least 1)."""
    rng = random.Random(seed)
    by_file: dict[str, list] = {}
    for m in mutants:
        by_file.setdefault(m.file, []).append(m)
    total = len(mutants)
    chosen = []
    for f, ms in by_file.items():
        k = max(1, round(n * len(ms) / total))
        chosen += rng.sample(ms, min(k, len(ms)))
    return sorted(chosen, key=lambda m: (m.file, m.start))


def score_table(results, equivalent) -> list[dict]:
    rows: dict[str, dict] = {}
    for r in results:
        row = rows.setdefault(r["file"], dict(file=r["file"], mutants=0, equivalent=0,
                                             killed=0, survived=0))
        row["mutants"] += 1
        if r["id"] in equivalent and r["status"] == "survived":
            row["equivalent"] += 1
        elif r["status"] in ("killed", "timeout"):
            row["killed"] += 1
        else:
            row["survived"] += 1
    total = dict(file="total", mutants=0, equivalent=0, killed=0, survived=0)
    for row in rows.values():
        for k in ("mutants", "equivalent", "killed", "survived"):
            total[k] += row[k]
    out = sorted(rows.values(), key=lambda r: r["file"]) + [total]
    for row in out:
        live = row["mutants"] - row["equivalent"]
        row["score"] = row["killed"] / live if live else 1.0
    return out


def markdown(table) -> str:
    lines = ["| file | mutants | equivalent | killed | survived | score |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in table:
        name = f"**{r['file']}**" if r["file"] == "total" else f"`{r['file']}`"
        lines.append(f"| {name} | {r['mutants']} | {r['equivalent']} | {r['killed']} | "
                     f"{r['survived']} | {100 * r['score']:.1f} % |")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sample", type=int, metavar="N",
                   help="run a stratified sample of N mutants (a few minutes for N≈40)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample (default 0)")
    p.add_argument("-j", "--jobs", type=int, default=1, help="mutants run in parallel")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds per mutant (default: 4 × the unmutated run, ≥ 60)")
    p.add_argument("--tests", action="store_true",
                   help="run the test suite (pytest tests -x) instead of deltarule spec")
    p.add_argument("--command", metavar="CMD",
                   help="run `python -m CMD` instead (e.g. 'deltarule spec --law loop.*')")
    p.add_argument("--file", action="append", default=[], metavar="GLOB",
                   help="only mutants of these files (repeatable, fnmatch)")
    p.add_argument("--only", action="append", default=[], metavar="ID",
                   help="only these mutant ids (repeatable, fnmatch)")
    p.add_argument("--list", action="store_true", help="print the mutants and exit")
    p.add_argument("--out", default=None, metavar="FILE.json",
                   help="write every mutant's result here (default: mutation-results.json "
                        "in the current folder)")
    p.add_argument("--root", default=str(ROOT), help="the source tree to mutate")
    p.add_argument("--resume", action="store_true",
                   help="skip the mutants already in FILE.partial.jsonl (an interrupted run)")
    p.add_argument("--report", metavar="FILE.json",
                   help="print the markdown table and the survivors of earlier results "
                        "(several files: later ones override earlier results per mutant)",
                   nargs="+")
    args = p.parse_args(argv)

    if args.report:
        return print_report(args.report)
    root = Path(args.root).resolve()
    mutants = collect(root)
    if args.file:
        mutants = [m for m in mutants if any(fnmatch.fnmatch(m.file, g) for g in args.file)]
    if args.only:
        mutants = [m for m in mutants if any(fnmatch.fnmatch(m.id, g) for g in args.only)]
    if args.sample:
        mutants = sample(mutants, args.sample, args.seed)
    if args.list:
        for m in mutants:
            print(f"{m.id}\t{m.where}\t{m.before!r} -> {m.after!r}")
        print(f"{len(mutants)} mutants", file=sys.stderr)
        return 0

    args.root_path = root
    cmd = spec_command(args)
    equivalent = load_equivalent()
    out_path = Path(args.out or "mutation-results.json")
    partial = out_path.with_suffix(".partial.jsonl")
    done = {}
    if args.resume and partial.is_file():
        for line in partial.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            done[row["id"]] = row
    with tempfile.TemporaryDirectory(prefix="deltarule-mutate-") as tmp:
        tmp = Path(tmp)
        sites = [make_site(root, tmp / f"w{k}") for k in range(max(1, args.jobs))]
        cwd = tmp / "cwd"
        cwd.mkdir()
        status, base, detail = run_one(None, sites[0], cmd, 3600, cwd)
        print(f"unmutated: {status} in {base:.1f} s ({' '.join(cmd[2:])})", flush=True)
        if status != "survived":
            print(f"the unmutated tree fails the command: {detail}", file=sys.stderr)
            return 2
        # generous: a loaded machine slows every run, and a timeout counts as a kill
        timeout = args.timeout or max(120.0, 8 * base)
        free = list(sites)
        lock = threading.Lock()
        results = [done[m.id] for m in mutants if m.id in done]
        todo = [m for m in mutants if m.id not in done]
        log = partial.open("a", encoding="utf-8")

        def work(m: Mutant):
            with lock:
                site = free.pop()
            try:
                st, secs, why = run_one(m, site, spec_command(args, m), timeout, cwd)
            finally:
                with lock:
                    free.append(site)
            return m, st, secs, why

        t0 = time.perf_counter()
        with cf.ThreadPoolExecutor(max_workers=len(sites)) as pool:
            for k, (m, st, secs, why) in enumerate(pool.map(work, todo), len(results) + 1):
                eq = " (listed equivalent)" if m.id in equivalent and st == "survived" else ""
                print(f"[{k}/{len(mutants)}] {st:8} {secs:5.1f}s {m.id}  {m.where}  "
                      f"{m.before!r} -> {m.after!r}  {why}{eq}", flush=True)
                row = dict(id=m.id, file=m.file, qualname=m.qualname, kind=m.kind,
                           line=m.line, before=m.before, after=m.after, status=st,
                           seconds=round(secs, 2), detail=why)
                results.append(row)
                log.write(json.dumps(row) + "\n")
                log.flush()
        log.close()
    table = score_table(results, equivalent)
    report = dict(date=_dt.date.today().isoformat(), command=" ".join(cmd[2:]),
                  sample=args.sample, seconds=round(time.perf_counter() - t0, 1),
                  unmutated_seconds=round(base, 2), table=table, results=results)
    out_path.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print()
    print(markdown(table))
    survivors = [r for r in results if r["status"] == "survived" and r["id"] not in equivalent]
    if survivors:
        print(f"\n{len(survivors)} surviving mutants not listed as equivalent:")
        for r in survivors:
            print(f"  {r['id']}  {r['file']}:{r['line']}  {r['before']!r} -> {r['after']!r}")
    print(f"\nresults: {out_path}")
    return 0


def print_report(paths) -> int:
    """The markdown table of ``paths`` (JSON results, later ones overriding earlier
    ones mutant by mutant) and every survivor with its equivalence reason."""
    rows, meta = {}, []
    for path in paths:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        meta.append(f"{path}: {data['date']}, `{data['command']}`, "
                    f"{len(data['results'])} mutants")
        for r in data["results"]:
            rows[r["id"]] = r
    equivalent = load_equivalent()
    results = list(rows.values())
    print("\n".join(meta) + "\n")
    print(markdown(score_table(results, equivalent)))
    survivors = sorted((r for r in results if r["status"] == "survived"),
                       key=lambda r: (r["file"], r["line"]))
    print(f"\n{len(survivors)} survivors:\n")
    print("| mutant | where | change | equivalent because |")
    print("|---|---|---|---|")
    for r in survivors:
        why = equivalent.get(r["id"], "**not equivalent: not killed**")
        change = f"`{r['before']}` → `{r['after']}`".replace("|", "\\|")
        print(f"| `{r['id'].rsplit(':', 1)[1]}` | `{r['file']}:{r['line']}` "
              f"({r['qualname']}) | {change} | {why.replace('|', '/')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

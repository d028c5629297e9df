"""The shape of ``core/``: no import circles.

Every ``import`` statement in ``core/`` counts, including those inside
functions (a lazy import still makes the two modules depend on each other).
Importing ``deltarule.a.b`` counts as depending on ``deltarule.a.b`` only:
the parent packages' ``__init__`` files re-export, they are not the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

import deltarule

CORE = Path(deltarule.__file__).resolve().parent
PACKAGE = "deltarule"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(CORE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([PACKAGE, *parts])


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(CORE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The ``deltarule`` modules that the module ``name`` at ``path`` imports."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # "from . import x" may name a submodule x, or an attribute of the package
            targets = [f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem
                       for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def import_graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {name: imports_of(name, path, known) for name, path in found.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as ``[a, b, …, a]``, or ``None``."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str):
        colour[node] = GREY
        stack.append(node)
        for nxt in sorted(graph[node]):
            if colour[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == WHITE:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        colour[node] = BLACK
        return None

    for node in sorted(graph):
        if colour[node] == WHITE:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_core_has_no_import_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle in core/: " + " -> ".join(cycle)


def test_the_circle_finder_finds_circles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_graph_sees_lazy_and_relative_imports():
    graph = import_graph()
    # a module-level import, a relative one from a sub-package, and a lazy one
    assert "deltarule.network" in graph["deltarule.workspace"]
    assert "deltarule.io.npz" in graph["deltarule.io.data"]
    assert "deltarule.io.model" in graph["deltarule.trainer"]  # TrainResult.save


# -- no module reads another module's private names ----------------------------------

# deliberate exceptions: (module, name) -> why
PRIVATE_READS_ALLOWED = {
    ("deltarule.sklearn", "_validate_data"):
        "scikit-learn < 1.6 has no public validate_data; the fallback calls the "
        "estimator's own method, as scikit-learn's docs prescribe for that version",
}


def private_reads(name: str, path: Path) -> list[str]:
    """``_x`` names the module reads but does not define itself.

    A read is an import of ``_x`` or an attribute ``obj._x`` (``self``
    included); a name counts as defined when the module binds it (a def, a
    class, an assignment, an attribute store) or spells it in a string
    (``__slots__``).  Dunder names are not private.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"))
    defined: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            defined.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            defined.add(node.value)

    def private(n: str) -> bool:
        return n.startswith("_") and not n.startswith("__")

    reads = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            reads += [f"import {a.name} from {node.module}" for a in node.names
                      if private(a.name) and (name, a.name) not in PRIVATE_READS_ALLOWED]
        elif isinstance(node, ast.Attribute) and private(node.attr) \
                and node.attr not in defined and (name, node.attr) not in PRIVATE_READS_ALLOWED:
            reads.append(f"line {node.lineno}: {ast.unparse(node)}")
    return reads


def test_no_module_reads_another_modules_private_names():
    found = {name: r for name, path in modules().items() if (r := private_reads(name, path))}
    assert not found, f"private names read across modules: {found}"


def test_the_private_read_finder_finds_them(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from .loop import _readonly\n"
                   "def f(state):\n    return state._log, state.public\n")
    assert private_reads("deltarule.bad", bad) == [
        "import _readonly from loop", "line 3: state._log"]


# -- the loop stays simple ---------------------------------------------------------------


def test_no_function_of_the_loop_is_above_complexity_15():
    radon = __import__("pytest").importorskip("radon.complexity")
    for module in ("loop.py", "trainer.py", "config.py", "workspace.py"):
        blocks = radon.cc_visit((CORE / module).read_text(encoding="utf-8"))
        worst = max(blocks, key=lambda b: b.complexity)
        assert worst.complexity <= 15, (module, worst.name, worst.complexity)


def test_the_complexity_check_can_fail():
    radon = __import__("pytest").importorskip("radon.complexity")
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(16))
    (block,) = radon.cc_visit(f"def f(x):\n{branches}\n")
    assert block.complexity > 15


# -- the component protocols ---------------------------------------------------------------


def test_every_bundled_component_follows_its_family_protocol():
    from deltarule.protocols import PROTOCOLS, capabilities

    catalogue = deltarule.make_registry(entry_points=False).catalogue()
    for family, protocol in PROTOCOLS.items():
        for name in catalogue.names(family):
            component = catalogue.get(family, name)
            if family == "optimizers":  # the catalogue holds factories
                component = component(lr=0.1)
                assert capabilities(component).step, name
            assert isinstance(component, protocol), (family, name)


def test_capabilities_reports_optional_members_without_calling_them():
    from deltarule.protocols import capabilities

    class Bare:
        name = "bare"

        def forward(self, z):
            raise AssertionError("not to be called")

        def vjp(self, z, a, g, out=None):
            raise AssertionError("not to be called")

    can = capabilities(Bare())
    assert not can.forward_out and can.vjp and can.vjp_out and not can.elementwise
    assert can.reduction == "sum" and not can.options and not can.step

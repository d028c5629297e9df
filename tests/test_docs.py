"""The documentation covers every hook and bundled component, and its code runs.

Code blocks in ``docs/*.md`` are tested by their info string:

- `` ```python `` blocks of one page run in order in one namespace, in a
  temporary folder that is also on ``sys.path``;
- `` ```python file=NAME.py `` blocks are written to that folder instead;
- `` ```python notest `` blocks are shown only;
- in `` ```console `` blocks of the tutorial (not `` ```console notest ``), every
  ``$ deltarule …`` line runs, in order, in that folder, and must succeed;
  other commands (``pip``) are shown only.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import deltarule
from deltarule.hookspecs import HOOK_NAMES

DOCS = Path(__file__).resolve().parent.parent / "docs"
RUN_PYTHON = ("hooks.md", "protocols.md", "tutorial.md", "embedding.md", "specs.md",
              "sklearn.md", "many.md", "export.md", "../README.md")
REQUIRED = ("index.md", "hooks.md", "protocols.md", "tutorial.md", "cli.md",
            "embedding.md", "architecture.md", "export.md")

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)


def all_docs_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(DOCS.glob("*.md")))


def code_blocks(name: str):
    """``(info words, code, line number)`` of every fenced block of ``docs/name``
    (``../README.md`` names the README)."""
    text = (DOCS / name).read_text(encoding="utf-8")
    for m in FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 2
        yield m.group(1).split(), m.group(2), line


def attrs(words) -> dict:
    out = {}
    for w in words[1:]:
        key, _, value = w.partition("=")
        out[key] = value or True
    return out


@pytest.mark.parametrize("name", REQUIRED)
def test_page_exists(name):
    assert (DOCS / name).is_file()


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_documented(hook):
    text = (DOCS / "hooks.md").read_text(encoding="utf-8")
    assert re.search(rf"^## `{hook}\(", text, re.M), f"docs/hooks.md has no section for {hook}"


def bundled_names() -> list[str]:
    from deltarule.plugins import stopping

    catalogue = deltarule.make_plugin_manager(entry_points=False).catalogue()
    names = [name for family in catalogue.families for name in catalogue.names(family)]
    return names + [p.name for p in stopping.PLUGINS]


def test_every_bundled_component_is_documented():
    text = all_docs_text()
    missing = [n for n in bundled_names() if f"`{n}`" not in text]
    assert not missing, f"no page of docs/ mentions {missing} (as `name`)"


def test_links_between_pages_resolve():
    for page in DOCS.glob("*.md"):
        for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[\w-]*)?\)", page.read_text()):
            assert (page.parent / target).resolve().exists(), (page.name, target)


@pytest.mark.parametrize("name", RUN_PYTHON)
def test_python_blocks_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(deltarule.registry.AUTOLOAD_ENV, raising=False)
    before = set(sys.modules)
    namespace = {"__name__": f"docs_{Path(name).stem}"}
    ran = 0
    try:
        for words, code, line in code_blocks(name):
            if not words or words[0] != "python":
                continue
            a = attrs(words)
            if "file" in a:
                (tmp_path / a["file"]).write_text(code, encoding="utf-8")
                continue
            if "notest" in a:
                continue
            exec(compile(code, f"docs/{name}:{line}", "exec"), namespace)
            ran += 1
    finally:
        # forget the modules the page wrote; libraries it imported stay loaded
        # (deleting those would leave two copies alive for later tests)
        for module in set(sys.modules) - before:
            if str(getattr(sys.modules[module], "__file__", None) or "").startswith(
                    str(tmp_path)):
                del sys.modules[module]
    assert ran > 0


def tutorial_commands() -> list[str]:
    """The ``$ deltarule …`` lines of the tutorial's runnable console blocks, in order."""
    out = []
    for words, code, _ in code_blocks("tutorial.md"):
        if words[:1] != ["console"] or "notest" in attrs(words):
            continue
        out += [line[2:] for line in code.splitlines() if line.startswith("$ deltarule ")]
    return out


def test_tutorial_commands_run(tmp_path):
    for words, code, _ in code_blocks("tutorial.md"):
        if words[:1] == ["python"] and "file" in attrs(words):
            (tmp_path / attrs(words)["file"]).write_text(code, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop(deltarule.registry.AUTOLOAD_ENV, None)
    commands = tutorial_commands()
    assert len(commands) >= 4
    # in order, in one folder: later commands use the files earlier ones wrote
    for command in commands:
        argv = shlex.split(command)
        proc = subprocess.run([sys.executable, "-m", "deltarule", *argv[1:]], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, (command, proc.stdout + proc.stderr)

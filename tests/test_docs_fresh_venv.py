"""The tutorial, the README and docs/specs.md, run as a reader runs them (issue 12).

A fresh virtual environment gets deltarule (``pip install -e`` of this
checkout, dependencies from pip's cache and configured index); nothing else
is set — no ``PYTHONPATH``, autoloading of entry points on.  Each page then
runs top to bottom in an empty folder of its own, in the order a reader
meets them: the tutorial (whose step 5 really installs the example package
``examples/deltarule-swish``), the README's example, docs/specs.md, and the
tutorial once more — with the swish package now installed, which is how
the README's example and the tutorial's steps 3 and 6 used to fail.

What runs: every ``python`` block (``file=NAME`` blocks are written to the
folder first, ``notest`` ones are skipped), in one namespace per page, as
``python`` started in that folder would; and every ``$ deltarule …`` and
``$ pip install …`` line of the ``console`` blocks, ``notest`` ones
included, in the shell of the virtual environment.  Left out, and said so:
``$ pytest …`` lines (they run this repository's own tests) and
``deltarule spec`` without ``--plugin`` (the whole suite, which
tests/test_spec_suite_cli.py runs).

Bounded: about a minute and a half, most of it creating the environment.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

pytestmark = pytest.mark.slow

DRIVER = r'''
"""Run one page's blocks in this folder: python in one namespace, console lines in a shell."""
import os, re, shlex, subprocess, sys

FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```[ \t]*$", re.S | re.M)
page = sys.argv[1]
text = open(page, encoding="utf-8").read()
bin_dir = os.path.dirname(sys.executable)
env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""))
namespace = {"__name__": "__main__"}
ran = 0
for m in FENCE.finditer(text):
    words = m.group(1).split()
    code = m.group(2)
    line = text.count("\n", 0, m.start()) + 2
    if not words:
        continue
    kind, attrs = words[0], words[1:]
    files = [a.partition("=")[2] for a in attrs if a.startswith("file=")]
    if kind == "python" and files:
        open(files[0], "w", encoding="utf-8").write(code)
    elif kind == "python" and "notest" not in attrs:
        print(f"--- {page}:{line} python", flush=True)
        exec(compile(code, f"{page}:{line}", "exec"), namespace)
        ran += 1
    elif kind == "console":
        for cmd in (l[2:] for l in code.splitlines() if l.startswith("$ ")):
            argv = shlex.split(cmd, comments=True)
            if argv[0] == "pytest" or argv[:2] == ["deltarule", "spec"] and "--plugin" not in argv:
                print(f"--- {page}:{line} left out: {cmd}", flush=True)
                continue
            if argv[0] not in ("deltarule", "pip"):
                raise SystemExit(f"{page}:{line}: unexpected command {cmd!r}")
            print(f"--- {page}:{line} $ {cmd}", flush=True)
            proc = subprocess.run(argv, env=env, capture_output=True, text=True)
            print(proc.stdout[-4000:], proc.stderr[-2000:], flush=True)
            if proc.returncode != 0:
                raise SystemExit(f"{page}:{line}: {cmd!r} exited {proc.returncode}:\n"
                                 f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
            ran += 1
print(f"=== {page}: {ran} blocks and commands ran", flush=True)
'''


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    """A fresh virtual environment with this checkout installed (editable)."""
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=300)
    python = home / "bin" / "python"
    proc = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-e", str(ROOT)],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return python


def run_page(python: Path, page: Path, folder: Path) -> str:
    folder.mkdir()
    (folder / "driver.py").write_text(DRIVER, encoding="utf-8")
    shutil.copy(page, folder / page.name)
    # the tutorial's `pip install ./examples/deltarule-swish` names the
    # checkout's folder; the reader runs it from the checkout
    example = ROOT / "examples" / "deltarule-swish"
    shutil.copytree(example, folder / "examples" / "deltarule-swish")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "DELTARULE_DISABLE_PLUGIN_AUTOLOAD",
                        "DELTARULE_LOAD_PLUGINS", "VIRTUAL_ENV")}
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run([str(python), "driver.py", page.name], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-6000:] + "\n" + proc.stderr[-6000:])
    return proc.stdout


def test_pages_run_as_written_in_a_fresh_environment(venv, tmp_path):
    out = run_page(venv, DOCS / "tutorial.md", tmp_path / "tutorial")
    assert "$ pip install ./examples/deltarule-swish" in out
    assert "$ deltarule spec --plugin swish_plugin:plugin" in out
    # the package is installed now: its swish and the pages' own swish meet
    out = run_page(venv, ROOT / "README.md", tmp_path / "readme")
    assert "=== README.md: 1 blocks" in out
    out = run_page(venv, DOCS / "specs.md", tmp_path / "specs")
    assert "$ deltarule spec --plugin my_plugin:plugin" in out
    # the counts the page shows are the counts the command prints
    # (the last summary the page shows is the worked example's)
    shown = re.findall(r"deltarule spec: \d+ passed, 0 failed, \d+ skipped",
                       (DOCS / "specs.md").read_text(encoding="utf-8"))[-1]
    assert shown in out
    out = run_page(venv, DOCS / "tutorial.md", tmp_path / "tutorial-again")
    assert "shadows the one of the installed plugin 'swish'" in out

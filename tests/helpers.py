"""Shared by the tests that run deltarule in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

from deltarule.registry import AUTOLOAD_ENV


def python(*args, env=None, cwd=None, stdin=None, timeout=300):
    """``python ARGS`` in a subprocess; the finished process.

    The environment is this one with entry-point autoloading on (the tests'
    own setting removed) and ``env`` applied on top.
    """
    full_env = dict(os.environ)
    full_env.pop(AUTOLOAD_ENV, None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=full_env, input=stdin, timeout=timeout)

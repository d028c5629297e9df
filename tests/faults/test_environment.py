"""Hostile settings from the environment: one clear line, not a cascade."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import deltarule.specs


def test_an_unknown_hypothesis_profile_is_one_usage_error(tmp_path):
    specs = Path(deltarule.specs.__file__).parent
    env = dict(os.environ, HYPOTHESIS_PROFILE="bogus")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(specs / "spec_laws.py")], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 4, text  # pytest's usage error, before any collection
    assert text.count("unknown hypothesis profile 'bogus'") == 1, text
    assert "choose one of dev, ci, thorough" in text and "Traceback" not in text

"""Shared fixtures: real paintings, and one small real reconstruction reused by several tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from diffpaint import samples

# Property-based tests draw the same examples on every CI run (CI=true), so a red run is reproducible
# and never a matter of luck; locally they explore new examples each time. (The Blender 4.5
# environment runs the add-on tests without hypothesis.)
try:
    from hypothesis import settings
except ModuleNotFoundError:
    pass
else:
    settings.register_profile("ci", derandomize=True, database=None)
    settings.load_profile("ci" if os.environ.get("CI") else "default")

# Van Gogh, "Wheat Field with Cypresses" (oil): high contrast, so image comparisons discriminate.
FIXTURE_PAINTING = 436535


@pytest.fixture(scope="session")
def painting_path() -> Path:
    return samples.painting(FIXTURE_PAINTING).path


@pytest.fixture(scope="session")
def reconstruction(tmp_path_factory: pytest.TempPathFactory, painting_path: Path) -> Path:
    """Output folder of one real `diffpaint reconstruct` run (small settings, ~10 s on 2 cores)."""
    out = tmp_path_factory.mktemp("reconstruction")
    cmd = [sys.executable, "-m", "diffpaint", "reconstruct", str(painting_path), "--out", str(out),
           "--size", "128", "--strokes", "96", "--iterations", "40", "--gif-frames", "8", "--progress-json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "done"
    return out

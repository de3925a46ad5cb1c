"""Shared fixtures: real paintings, and one small real reconstruction reused by several tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from diffpaint import samples

# Guo Xi, "Old Trees, Level Distance" (ink and colour on silk): small, so fast to fit.
SMALL_PAINTING = 39668


@pytest.fixture(scope="session")
def painting_path() -> Path:
    return samples.painting(SMALL_PAINTING).path


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

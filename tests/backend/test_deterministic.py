"""`--deterministic`: a job setting that reaches the optimizer, runs that repeat bit for bit, and the
operations that replace torch's where it has no deterministic CUDA kernel (cumulative sum, edge padding,
area averaging) in that mode."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from diffpaint.job import fit_settings
from diffpaint.render.deterministic import area_resize, blocked_cumulative_sum, cumulative_sum, pad_edges
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import JobSettings


def test_the_job_setting_reaches_the_optimizer() -> None:
    assert fit_settings(JobSettings()).deterministic is False
    assert fit_settings(JobSettings(deterministic=True)).deterministic is True


def test_two_deterministic_runs_write_identical_strokes(tmp_path: Path, painting_path: Path) -> None:
    """Paint, smudge and style phases, twice, in fresh processes: the stroke files' strokes agree bit for bit."""
    docs = []
    for run in ("first", "second"):
        out = tmp_path / run
        proc = subprocess.run([sys.executable, "-m", "diffpaint", "reconstruct", str(painting_path), "--out", str(out),
                               "--size", "48", "--strokes", "24", "--levels", "2", "--iterations", "6", "--rounds", "1",
                               "--smudge", "--style", "ink", "--gif-frames", "2", "--deterministic"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr
        docs.append(strokefile.load(out / "strokes.json"))
    assert docs[0].strokes and docs[0].strokes == docs[1].strokes


@pytest.mark.parametrize("shape", [(1,), (255,), (256,), (257, 3), (70_000,)])
def test_blocked_cumulative_sum_is_the_cumulative_sum(shape: tuple[int, ...]) -> None:
    x = torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) - 0.5
    assert torch.allclose(blocked_cumulative_sum(x), torch.cumsum(x, 0), rtol=0, atol=1e-9)


def test_cumulative_sum_on_the_cpu_is_torchs() -> None:
    x = torch.rand(5, 7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(cumulative_sum(x, 1), torch.cumsum(x, 1))


@pytest.mark.parametrize("mode", ["replicate", "reflect"])
def test_pad_edges_is_f_pad(mode):
    x = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    assert torch.equal(pad_edges(x, 3, mode), F.pad(x, (3, 3, 3, 3), mode=mode))


@pytest.mark.parametrize("size", [(7, 9), (3, 4), (5, 1), (1, 1)])
def test_area_resize_is_adaptive_average_pooling(size):
    x = torch.rand(3, 17, 23, dtype=torch.float64)
    assert torch.allclose(area_resize(x, *size), F.adaptive_avg_pool2d(x, size), atol=1e-12)

"""Shared set-up for the benchmark scripts: synthetic strokes sized like a reconstruction's finest level, a Met
painting's plain reconstruction (cached), and Blender's render of a stroke file against the backend's."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from diffpaint import samples
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import Painting
from diffpaint.strokes import Strokes
from diffpaint_shared import strokefile


def random_strokes(count: int, size: int, seed: int = 0) -> Strokes:
    """Strokes 5–15 % of the canvas long and 0.5–2 % of it in radius (plus 1 px), anywhere on it."""
    g = torch.Generator().manual_seed(seed)
    center = torch.rand(count, 1, 2, generator=g) * size
    angle = torch.rand(count, 1, generator=g) * torch.pi
    half = (0.025 + 0.05 * torch.rand(count, 1, generator=g)) * size
    direction = torch.cat([torch.cos(angle), torch.sin(angle)], dim=1)[:, None]
    ends = torch.tensor([-1.0, 0.0, 1.0])[None, :, None]
    bend = (torch.rand(count, 1, 2, generator=g) - 0.5) * half[:, :, None] * 0.5
    points = center + ends * half[:, :, None] * direction + bend * (ends == 0)
    radius = (0.005 + 0.015 * torch.rand(count, 2, generator=g)) * size + 1.0
    color = torch.rand(count, 2, 3, generator=g)
    opacity = 0.5 + 0.5 * torch.rand(count, generator=g)
    return Strokes(points, radius, color, opacity, torch.zeros(count, dtype=torch.long))


def best_time(fn: Callable[..., torch.Tensor], repeats: int, *args: Any) -> tuple[float, torch.Tensor]:
    """Best wall time of `fn(*args)` over `repeats` runs after one warm-up, and its last result."""
    out = fn(*args)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - start)
    return best, out


@dataclass(frozen=True)
class PlainFit:
    """A Met painting and its reconstruction in plain (untextured) strokes."""

    target: torch.Tensor  # (H, W, 3) sRGB
    background: tuple[float, float, float]  # the target's mean color, painted under the strokes
    painting: Painting
    canvas: torch.Tensor  # the plain strokes' render
    seconds: float  # the reconstruction's wall time

    @property
    def background_image(self) -> torch.Tensor:
        return torch.tensor(self.background).expand_as(self.target).contiguous()


def plain_fit(pid: int, size: int, settings: Settings, cache: Path | None = None) -> PlainFit:
    """Met painting `pid` at `size` px reconstructed in plain strokes over its mean color, no smudge; from
    `cache` (a .pt file) when it holds one, else fitted and saved there."""
    target, _ = load_image(samples.painting(pid).path, size)
    background = tuple(target.mean(dim=(0, 1)).tolist())
    if cache is not None and cache.exists():
        saved = torch.load(cache, weights_only=False)
        return PlainFit(target, background, saved["painting"], saved["canvas"], saved["seconds"])  # type: ignore[arg-type]
    result = reconstruct(target, background, replace(settings, smudge=False))  # type: ignore[arg-type]
    if cache is not None:
        torch.save({"painting": result.strokes, "canvas": result.canvas, "seconds": result.seconds}, cache)
    return PlainFit(target, background, result.strokes, result.canvas, result.seconds)  # type: ignore[arg-type]


def blender_psnr(doc: strokefile.StrokeFile, backend: torch.Tensor, folder: Path, name: str) -> float:
    """Import and render `doc` in Blender (a subprocess, files `name`.json and `name`-blender.png in `folder`);
    PSNR of Blender's render against the backend's."""
    strokes_path, png = folder / f"{name}.json", folder / f"{name}-blender.png"
    strokefile.save(doc, strokes_path)
    subprocess.run([sys.executable, "-m", "diffpaint_addon.blend_job", str(strokes_path), "--png", str(png)],
                   check=True, capture_output=True)
    blender, _ = load_image(png, max_side=1 << 16)
    return psnr(blender, backend)

"""Shared set-up for the benchmark scripts: synthetic strokes sized like a reconstruction's finest level."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from diffpaint.strokes import Strokes


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

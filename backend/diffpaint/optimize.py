"""Coarse-to-fine stroke fitting (paint phase).

Levels use grids of 1×1 … n×n cells. At each level new strokes, sized for that grid's cells, are
placed where the error map is high, then fitted by gradient descent through the soft renderer
while everything painted before them is frozen into a cached canvas. Coarse levels, whose strokes
are large and smooth, are fitted on a downscaled target (halved per level below the finest), which
changes little in what they can express and makes them several times cheaper. Strokes that end
invisible are pruned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.losses import LossWeights, labels_to_tiles, total_loss
from diffpaint.metrics import psnr
from diffpaint.placement import place_strokes
from diffpaint.render import RasterSettings, TileGrid, render
from diffpaint.segmentation import Method, resize_labels, segment
from diffpaint.strokes import Strokes


@dataclass(frozen=True)
class Settings:
    strokes: int = 256  # total budget across levels
    levels: int = 3
    rounds: int = 2  # placement rounds per level (error map refreshed between rounds)
    iterations: int = 80  # optimiser steps per round
    lr_position: float = 0.004  # in units of the canvas' long side per step
    lr_radius: float = 0.002
    lr_color: float = 0.02
    lr_opacity: float = 0.02
    min_opacity: float = 0.05  # strokes fainter than this at the end of a round are pruned
    tie_colors: float = 0.02  # a stroke whose two colours end closer than this becomes single-colour
    min_working_side: int = 64  # coarse levels are fitted at no less than this resolution
    seed: int = 0
    raster: RasterSettings = field(default_factory=RasterSettings)
    weights: LossWeights = field(default_factory=LossWeights)
    segmenter: Method = "slic"
    regions: int = 32  # segments the segmentation loss keeps strokes inside

    def __post_init__(self) -> None:
        for name in ("strokes", "levels", "rounds", "iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        strokes_per_level(self.strokes, self.levels)  # raises when the budget cannot cover the levels


@dataclass(frozen=True)
class Progress:
    phase: str
    level: int  # 1-based
    levels: int
    iteration: int  # within the current round
    iterations: int
    fraction: float  # of the whole reconstruction
    loss: float
    psnr: float
    elapsed: float
    canvas: Tensor | None = None  # this iteration's render (detached, sRGB) at the level's working size


@dataclass
class Reconstruction:
    strokes: Strokes
    canvas: Tensor
    background: tuple[float, float, float]
    psnr: float
    seconds: float


def strokes_per_level(total: int, levels: int) -> list[int]:
    """Split a budget over levels in proportion to their cell count (g² for a g×g grid)."""
    if total < levels:
        raise ValueError(f"a budget of {total} strokes cannot cover {levels} levels; use at least {levels}")
    weights = [g * g for g in range(1, levels + 1)]
    counts = [max(1, int(total * w / sum(weights))) for w in weights]
    counts[-1] += total - sum(counts)
    return counts


def reconstruct(
    target: Tensor,
    background: tuple[float, float, float],
    settings: Settings = Settings(),
    on_progress: Callable[[Progress], None] | None = None,
    on_level: Callable[[int, Strokes, Tensor], None] | None = None,
) -> Reconstruction:
    """Fit `settings.strokes` strokes to `target` (H, W, 3) in [0, 1].

    `on_progress` is called after every optimiser step; `on_level` after each level with its 1-based
    number, every stroke painted so far and the canvas they make, so a caller can keep results that
    survive a cancellation (raising from either callback stops the reconstruction).
    """
    start_time = time.perf_counter()
    device = target.device
    height, width = target.shape[:2]
    long_side = float(max(height, width))
    generator = torch.Generator().manual_seed(settings.seed)
    bg_image = torch.tensor(background, device=device).expand(height, width, 3).contiguous()
    canvas = bg_image
    painted = Strokes.empty(device)

    labels = None
    if settings.weights.segmentation > 0:
        labels = segment(target, settings.segmenter, settings.regions).to(device)
    budget = strokes_per_level(settings.strokes, settings.levels)
    total_steps = settings.levels * settings.rounds * settings.iterations
    step = 0
    for level, level_budget in enumerate(budget):
        cell = long_side / (level + 1)
        for r in range(settings.rounds):
            count = level_budget // settings.rounds + (r < level_budget % settings.rounds)
            if count == 0:
                step += settings.iterations
                continue
            # Placement samples with a CPU generator, so runs are reproducible whatever the device.
            new = place_strokes(target.cpu(), canvas.cpu(), count, cell, level, generator).to(device)
            scale = _working_scale(long_side, level, settings)
            work_target, work_canvas = _downscale(target, scale), _downscale(canvas, scale)
            params = _Parameters(new.scaled(scale), settings, long_side * scale)
            weights = _level_weights(settings, level)
            labels_tiles = None if labels is None else _labels_on_tiles(labels, work_target, settings.raster.tile)
            for it in range(settings.iterations):
                strokes = params.strokes()
                rendered = render(strokes, work_canvas, settings.raster)
                image = rendered.image
                loss, _ = total_loss(rendered, work_target, strokes, weights, cell=cell * scale,
                                     labels_tiles=labels_tiles, num_regions=settings.regions)
                params.step(loss)
                step += 1
                if on_progress:
                    on_progress(Progress("paint", level + 1, settings.levels, it + 1, settings.iterations,
                                         step / total_steps, loss.item(), psnr(image, work_target),
                                         time.perf_counter() - start_time, image.detach()))
            fitted = _prune(params.strokes().detach().scaled(1.0 / scale), settings.min_opacity)
            fitted.color = _tie_converged_colors(fitted.color, settings.tie_colors)
            with torch.no_grad():
                canvas = render(fitted, canvas, settings.raster).image
            painted = painted.cat(fitted)
        if on_level:
            on_level(level + 1, painted, canvas)

    with torch.no_grad():
        final = render(painted, bg_image, settings.raster).image
    return Reconstruction(painted, final, background, psnr(final, target), time.perf_counter() - start_time)


class _Parameters:
    """Optimisable stroke parameters, kept inside their valid ranges after every step."""

    def __init__(self, init: Strokes, settings: Settings, long_side: float):
        self.level = init.level
        self.points = init.points.clone().requires_grad_()
        self.radius = init.radius.clone().requires_grad_()
        self.color = init.color.clone().requires_grad_()
        self.opacity = init.opacity.clone().requires_grad_()
        self.long_side = long_side
        self.optimizer = torch.optim.Adam([
            {"params": [self.points], "lr": settings.lr_position * long_side},
            {"params": [self.radius], "lr": settings.lr_radius * long_side},
            {"params": [self.color], "lr": settings.lr_color},
            {"params": [self.opacity], "lr": settings.lr_opacity},
        ])

    def strokes(self) -> Strokes:
        return Strokes(self.points, self.radius, self.color, self.opacity, self.level)

    def step(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.radius.clamp_(0.5, 0.5 * self.long_side)
            self.color.clamp_(0.0, 1.0)
            self.opacity.clamp_(0.0, 1.0)


def _level_weights(settings: Settings, level: int) -> LossWeights:
    """The segmentation term fades in over the levels: coarse strokes are meant to span regions."""
    fade = level / max(1, settings.levels - 1)
    return replace(settings.weights, segmentation=settings.weights.segmentation * fade)


def _labels_on_tiles(labels: Tensor, work_target: Tensor, tile: int) -> Tensor:
    height, width = work_target.shape[:2]
    return labels_to_tiles(resize_labels(labels, height, width), TileGrid(height, width, tile))


def _working_scale(long_side: float, level: int, settings: Settings) -> float:
    """Resolution factor for fitting a level: 1 at the finest, halved per level below it."""
    halvings = settings.levels - 1 - level
    return max(0.5**halvings, min(1.0, settings.min_working_side / long_side))


def _downscale(image: Tensor, scale: float) -> Tensor:
    if scale == 1.0:
        return image
    chw = image.permute(2, 0, 1)[None]
    small = F.interpolate(chw, scale_factor=scale, mode="area", recompute_scale_factor=False)
    return small[0].permute(1, 2, 0).contiguous()


def _tie_converged_colors(color: Tensor, tolerance: float) -> Tensor:
    """Make strokes whose end colours converged single-colour: (N, 2, 3) → same shape."""
    converged = (color[:, 0] - color[:, 1]).abs().amax(dim=-1) < tolerance
    mean = color.mean(dim=1, keepdim=True).expand_as(color)
    return torch.where(converged[:, None, None], mean, color)


def _prune(strokes: Strokes, min_opacity: float) -> Strokes:
    return strokes.select(strokes.opacity >= min_opacity)

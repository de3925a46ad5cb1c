"""Where new strokes go, and how they start: the error map and the image's local structure."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from diffpaint.fit.filters import gaussian_blur, gradient_magnitude, luminance, sobel
from diffpaint.render.smudge import SmudgeStrokes
from diffpaint.strokes import Strokes


def error_map(target: Tensor, canvas: Tensor, sigma: float, sharpness: float = 2.0) -> Tensor:
    """Blurred per-pixel L1 error, raised to a power so sampling favors the worst regions. (H, W)."""
    err = gaussian_blur((target - canvas).abs().mean(dim=-1), sigma)
    return err.clamp(min=0) ** sharpness


def stroke_directions(target: Tensor, sigma: float) -> Tensor:
    """Angle (radians, y down) of the local isophote: strokes follow edges, not cross them. (H, W).

    The structure tensor's dominant eigenvector points across edges; strokes run perpendicular.
    """
    gx, gy = sobel(luminance(target))
    jxx = gaussian_blur(gx * gx, sigma)
    jxy = gaussian_blur(gx * gy, sigma)
    jyy = gaussian_blur(gy * gy, sigma)
    return 0.5 * torch.atan2(2.0 * jxy, jxx - jyy) + 0.5 * math.pi


def place_strokes(
    target: Tensor,
    canvas: Tensor,
    count: int,
    cell: float,
    level: int,
    generator: torch.Generator,
) -> Strokes:
    """Initialize `count` strokes sized for a grid cell of `cell` px where the canvas is most wrong.

    Positions are sampled from the error map; each stroke follows the local isophote, with a little
    bend, and takes its two colors from the (blurred) target under its ends.
    """
    height, width = target.shape[:2]
    weights = error_map(target, canvas, sigma=max(cell / 8.0, 1.0)).flatten() + 1e-12
    picks = torch.multinomial(weights, count, replacement=count > weights.numel(), generator=generator)
    jitter = torch.rand(count, 2, generator=generator)
    center = torch.stack([(picks % width).float(), (picks // width).float()], dim=1) + jitter

    angle = stroke_directions(target, sigma=max(cell / 8.0, 1.0)).flatten()[picks]
    direction = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    normal = torch.stack([-direction[:, 1], direction[:, 0]], dim=1)
    rand = torch.rand(count, 3, generator=generator)
    half = 0.5 * cell * (0.3 + 0.4 * rand[:, :1])
    bend = 0.15 * cell * (rand[:, 1:2] - 0.5)
    start, end = center - half * direction, center + half * direction
    control = center + bend * normal
    points = torch.stack([start, control, end], dim=1)

    radius = (cell * (0.06 + 0.06 * rand[:, 2])).clamp(min=1.0)[:, None].repeat(1, 2)
    smooth = gaussian_blur(target, sigma=max(cell / 16.0, 0.5))
    color = torch.stack([_sample(smooth, start), _sample(smooth, end)], dim=1)
    opacity = torch.full((count,), 0.95)
    levels = torch.full((count,), level, dtype=torch.long)
    return Strokes(points, radius, color, opacity, levels)


def hard_steps(target: Tensor, canvas: Tensor, sigma: float) -> Tensor:
    """Where the canvas has steps the target does not: blurred error × how much the canvas' luminance
    gradient magnitude, blurred, exceeds the target's (smooth tonal gradients painted as hard steps).

    Blurring before comparing is what tells a staircase over a ramp (locally much more gradient) from
    an edge painted a little off (about as much gradient, nearby), which paint strokes should fix. (H, W).
    """
    excess = gaussian_blur(gradient_magnitude(canvas), sigma) - gaussian_blur(gradient_magnitude(target), sigma)
    return error_map(target, canvas, sigma, sharpness=1.0) * excess.clamp(min=0)


def place_smudges(target: Tensor, canvas: Tensor, count: int, cell: float, generator: torch.Generator) -> SmudgeStrokes:
    """Initialize `count` smudge strokes sized for a grid cell of `cell` px on the canvas' hard steps.

    Positions are sampled from `hard_steps`; each stroke runs across the step under it (along the
    canvas' structure-tensor gradient direction), so it drags the color of one side over the other.
    """
    sigma = max(cell / 8.0, 1.0)
    weights = hard_steps(target, canvas, sigma).flatten() + 1e-12
    width = target.shape[1]
    picks = torch.multinomial(weights, count, replacement=count > weights.numel(), generator=generator)
    center = torch.stack([(picks % width).float(), (picks // width).float()], dim=1) + 0.5
    angle = stroke_directions(canvas, sigma).flatten()[picks] - 0.5 * math.pi  # isophote → across it
    direction = torch.stack([torch.cos(angle), torch.sin(angle)], dim=1)
    rand = torch.rand(count, 2, generator=generator)
    half = 0.5 * cell * (0.15 + 0.15 * rand[:, :1])
    points = torch.stack([center - half * direction, center, center + half * direction], dim=1)
    radius = (cell * (0.04 + 0.04 * rand[:, 1])).clamp(min=1.5)[:, None].repeat(1, 2)
    return SmudgeStrokes(points, radius)


def _sample(image: Tensor, xy: Tensor) -> Tensor:
    """Nearest-pixel lookup of (N, 2) positions, clamped to the image."""
    height, width = image.shape[:2]
    x = xy[:, 0].long().clamp(0, width - 1)
    y = xy[:, 1].long().clamp(0, height - 1)
    return image[y, x]

"""Frames fitted one after another, each starting from the previous frame's strokes (a warm start).

Frame 0 (and any frame where most strokes stop fitting, e.g. after a cut) is reconstructed from
scratch. Every later frame:
  1. follows the camera: the global shift between the two targets (phase correlation) moves every
     stroke, so a brush mark on a panned object moves with it instead of being repainted;
  2. retires the strokes that no longer fit: mostly off the canvas, nearly transparent, or whose color
     now differs from the target under them by much more than it did on the frame before;
  3. refines: `fit.optimize.refine` places as many new strokes as were retired (and any the budget is
     short of) where the error is highest, then fine-tunes every stroke together, with a temporal term
     that holds the render to the previous frame's wherever the target itself did not change (pixels
     that stay put should not flicker; strokes over moving content are free to follow it).
Strokes keep an id for as long as they live, so the manifest can say which marks carry over. Only
plain paint strokes (no smudge, no texture) are carried: refine keeps smudges frozen and untextured.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.fit.optimize import Anchor, Settings, reconstruct, refine
from diffpaint.painting import Painting
from diffpaint.strokes import Strokes
from diffpaint_shared.curves import lerp, quadratic_bezier

SAMPLES_ALONG = 9  # points per stroke at which its fit to the target is judged


@dataclass(frozen=True)
class SequenceSettings:
    fit: Settings = field(default_factory=Settings)  # a from-scratch reconstruction (frame 0, keyframes)
    warm: bool = True  # False: every frame from scratch (independent reconstructions, for comparison)
    warm_iterations: int = 45  # refine steps of a warm frame (for the added strokes, then for all)
    # Learning rates of a warm frame's refine, as a share of a reconstruction's: smaller steps keep a
    # carried stroke nearer where it was (less flicker), at some cost in fit.
    warm_step: float = 1.0
    follow_motion: bool = True  # move strokes by the global shift between consecutive targets
    color_tolerance: float = 0.08  # retire a stroke whose color misfit grew by more than this (mean |Δ|, sRGB)
    keyframe_share: float = 0.5  # reconstruct from scratch when more than this share of strokes would retire
    # The temporal term: where the target did not change (by more than `still`, mean |Δ| over RGB), a warm
    # frame's render is held to the previous frame's, weighted this many times the pixel term.
    temporal: float = 1.0
    still: float = 0.03

    def __post_init__(self) -> None:
        if self.fit.smudge or self.fit.style != "digital":
            raise ValueError("sequences carry plain paint strokes: smudge and painting media are not supported yet")
        if self.temporal < 0 or self.still <= 0:
            raise ValueError(f"temporal must be ≥ 0 and still > 0, not {self.temporal} and {self.still}")
        if not 0.0 < self.warm_step <= 1.0:
            raise ValueError(f"warm_step must lie in (0, 1], not {self.warm_step}")
        if self.warm_iterations < 1:
            raise ValueError(f"warm_iterations must be at least 1, not {self.warm_iterations}")


@dataclass
class FrameFit:
    painting: Painting
    stroke_ids: list[int]  # per paint stroke, in painting order
    canvas: Tensor  # the render, (H, W, 3) sRGB
    psnr: float
    seconds: float
    warm: bool
    carried: int  # strokes kept from the previous frame
    shift: tuple[float, float]  # (dx, dy) pixels the strokes were moved by before refining


def fit_frames(targets: Iterable[Tensor], background: tuple[float, float, float], settings: SequenceSettings,
               first_id: int = 0, seed_offset: int = 0) -> Iterator[FrameFit]:
    """Fit each target (H, W, 3) in turn; stroke ids are numbered from `first_id` in order of birth."""
    previous: FrameFit | None = None
    previous_target: Tensor | None = None
    next_id = first_id
    for index, target in enumerate(targets):
        seed = settings.fit.seed + seed_offset + index
        start = time.perf_counter()
        fitted = None
        if settings.warm and previous is not None and previous_target is not None:
            fitted = _warm(previous, previous_target, target, background, settings, seed, next_id)
        if fitted is None:
            result = reconstruct(target, background, replace(settings.fit, seed=seed))
            ids = list(range(next_id, next_id + len(result.strokes.paint)))
            fitted = FrameFit(result.strokes, ids, result.canvas, result.psnr, 0.0, False, 0, (0.0, 0.0))
        fitted.seconds = time.perf_counter() - start
        next_id = max([next_id - 1, *fitted.stroke_ids]) + 1
        yield fitted
        previous, previous_target = fitted, target


def _warm(previous: FrameFit, previous_target: Tensor, target: Tensor, background: tuple[float, float, float],
          settings: SequenceSettings, seed: int, next_id: int) -> FrameFit | None:
    """The next frame fitted from `previous`'s strokes; None when too few of them still fit (a keyframe)."""
    paint = previous.painting.paint
    shift = estimate_shift(previous_target, target) if settings.follow_motion else (0.0, 0.0)
    moved = shifted(paint, *shift)
    misfit_before = color_misfit(paint, previous_target)
    keep = fits(moved, target, misfit_before, settings)
    if len(paint) and 1.0 - keep.float().mean().item() > settings.keyframe_share:
        return None
    kept = moved.select(keep)
    kept_ids = [i for i, k in zip(previous.stroke_ids, keep.tolist(), strict=True) if k]
    add = max(0, settings.fit.strokes - len(kept))
    painting = Painting.empty(settings.fit.smudge_brush, target.device).then_paint(kept)
    f, step = settings.fit, settings.warm_step
    warm_settings = replace(f, iterations=settings.warm_iterations, seed=seed, lr_position=f.lr_position * step,
                            lr_radius=f.lr_radius * step, lr_color=f.lr_color * step, lr_opacity=f.lr_opacity * step)
    anchor = None
    if settings.temporal > 0:
        calm = still_pixels(previous_target, target, settings.still)
        anchor = Anchor(previous.canvas, calm, settings.temporal)
    result = refine(painting, target, background, warm_settings, add=add, anchor=anchor)
    born = len(result.strokes.paint) - len(kept)
    ids = kept_ids + list(range(next_id, next_id + born))
    return FrameFit(result.strokes, ids, result.canvas, result.psnr, 0.0, True, len(kept), shift)


def fits(strokes: Strokes, target: Tensor, misfit_before: Tensor, settings: SequenceSettings) -> Tensor:
    """(N,) bool: which strokes still belong on `target` (see the module's docstring)."""
    height, width = target.shape[:2]
    along = _samples_along(strokes)  # (N, S, 2)
    inside = ((along[..., 0] >= 0) & (along[..., 0] <= width) & (along[..., 1] >= 0) & (along[..., 1] <= height))
    on_canvas = inside.float().mean(dim=1) >= 0.5
    visible = strokes.opacity >= settings.fit.min_opacity
    still_matches = color_misfit(strokes, target) - misfit_before <= settings.color_tolerance
    return on_canvas & visible & still_matches


def color_misfit(strokes: Strokes, target: Tensor) -> Tensor:
    """(N,) mean absolute difference between each stroke's color and the target along its spine."""
    if len(strokes) == 0:
        return torch.zeros(0, device=target.device)
    height, width = target.shape[:2]
    along = _samples_along(strokes)
    grid = torch.stack([along[..., 0] / width * 2 - 1, along[..., 1] / height * 2 - 1], dim=-1)
    under = F.grid_sample(target.permute(2, 0, 1)[None], grid[None], mode="bilinear", padding_mode="border",
                          align_corners=False)[0].permute(1, 2, 0)  # (N, S, 3)
    t = torch.linspace(0, 1, SAMPLES_ALONG, device=target.device)[None, :, None]
    color = lerp(strokes.color[:, None, 0], strokes.color[:, None, 1], t)
    return (under - color).abs().mean(dim=(1, 2))


def _samples_along(strokes: Strokes) -> Tensor:
    t = torch.linspace(0, 1, SAMPLES_ALONG, device=strokes.points.device)[None, :, None]
    p = strokes.points
    return quadratic_bezier(p[:, None, 0], p[:, None, 1], p[:, None, 2], t)


def shifted(strokes: Strokes, dx: float, dy: float) -> Strokes:
    offset = torch.tensor([dx, dy], device=strokes.points.device)
    return replace(strokes, points=strokes.points + offset)


def still_pixels(before: Tensor, after: Tensor, tolerance: float) -> Tensor:
    """(H, W) 1.0 where the (H, W, 3) images differ by less than `tolerance` (mean |Δ| over RGB), else 0."""
    change = (after - before).abs().mean(dim=-1)
    return (change < tolerance).to(after.dtype)


def estimate_shift(before: Tensor, after: Tensor) -> tuple[float, float]:
    """The translation (dx, dy) in pixels that best maps `before` onto `after` (phase correlation of
    their grays, to the nearest pixel); (0, 0) when the images share no clear motion."""
    a, b = (img.float().mean(dim=-1) for img in (before, after))
    a, b = a - a.mean(), b - b.mean()
    window = torch.outer(torch.hann_window(a.shape[0], device=a.device), torch.hann_window(a.shape[1], device=a.device))
    cross = torch.fft.rfft2(b * window) * torch.fft.rfft2(a * window).conj()
    correlation = torch.fft.irfft2(cross / cross.abs().clamp(min=1e-8), s=a.shape)
    peak = int(correlation.argmax())
    if correlation.flatten()[peak] < 5 * correlation.std():  # no peak stands out: no common motion
        return (0.0, 0.0)
    dy, dx = divmod(peak, a.shape[1])
    height, width = a.shape
    return (float(dx - width if dx > width // 2 else dx), float(dy - height if dy > height // 2 else dy))

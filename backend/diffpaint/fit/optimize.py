"""Coarse-to-fine stroke fitting: per level a paint phase, a style phase, then a smudge phase.

Levels use grids of 1×1 … n×n cells. At each level new strokes, sized for that grid's cells, are
placed where the error map is high, then fitted by gradient descent through the soft renderer
while everything painted before them is frozen into a cached canvas. Coarse levels, whose strokes
are large and smooth, are fitted on a downscaled target (halved per level below the finest), which
changes little in what they can express and makes them several times cheaper.

After the last level the painting is fitted as a whole (`_joint_phase`): every paint stroke of every
level, in its order, on the full loss at full resolution, with a cosine learning-rate decay and an
early stop on a plateau. There a stroke that later strokes cover learns only from the sliver that shows,
at Adam's full step size; the hidden-color term (`losses.hidden_color_loss`) can hold its covered part to
the target under it: otherwise its color runs to whatever the sliver wants and shows as a band when the
strokes over it move. It is off by default (`Settings.hidden_color`): it cost PSNR.
Strokes that end invisible (faint, covered by later strokes, off the canvas:
less than `Settings.min_visible` px² shown, `fit.visibility`) are not pruned but relocated
(`_relocate`), before the joint phase and after it: moved to the top of the painting where the error is
highest, sized for the finest level, colored from the target and fitted there within bounds that keep them
showing (`RELOCATED_MIN_RADIUS`, `RELOCATED_MIN_OPACITY`, on the canvas), so a budget of N strokes returns N
strokes that all show. Strokes that lie on a thin line of the target (`losses.line_strength`)
may thin down to `Settings.line_radius`, so they can ink it; elsewhere the area term keeps them at least
0.02 of their level's cell wide.

In a painting medium (`Settings.style` other than digital), each level's paint strokes are then
textured (paper §3.3.2): their geometry and color frozen, their style parameters are fitted over the
frozen, already textured canvas of the levels before (`style.optimize_style`), so the next level's
strokes are placed and fitted against what the textured painting really shows.

On every level but the last (which paints only, so edges stay sharp), a share of the level's
budget goes to smudge strokes (paper §3.2.2): placed on hard steps the paint made where the target
is smooth, fitted through `smudge` on the frozen canvas with heavier gradient and area terms, and
kept only where they lower the loss.

The fitting loop stays on the device: no step reads a tensor back to the host, except for progress,
which is read every `PROGRESS_EVERY` steps and at the end of every round and phase (each read waits for
the device to finish the work queued so far; `fit.sync` counts them, and tests hold a paint step to a
budget). With `Settings.deterministic` the run uses only deterministic kernels, so a CUDA run repeats
bit for bit.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.fit.losses import (
    MIN_RADIUS_OF_CELL,
    LossWeights,
    area_regularizer,
    hidden_color_loss,
    labels_to_tiles,
    line_floor,
    line_strength,
    segmentation_loss,
    total_loss,
)
from diffpaint.fit.placement import place_smudges, place_strokes
from diffpaint.fit.segmentation import Method, resize_labels, segment
from diffpaint.fit.smudge_fit import image_loss, prune_smudges, smudge_loss
from diffpaint.fit.visibility import hidden_footprint, visible_area
from diffpaint.grain.fit import canvas_image, fit_grain
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, render_painting
from diffpaint.render import RasterSettings, TileGrid, render
from diffpaint.render.host_memory import retain_freed_memory
from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes, smudge
from diffpaint.strokes import Strokes
from diffpaint.style import (
    STYLES,
    StrokeStyle,
    StyleSettings,
    initial_style,
    optimize_style,
    render_styled,
    render_styled_painting,
)
from diffpaint.style.reference import BrushworkStatistics
from diffpaint_shared.jobschema import GRAIN_CHOICES, NO_GRAIN, levels_for_budget
from diffpaint_shared.strokefile import CanvasGrain

PROGRESS_EVERY = 10  # optimizer steps between progress reports (a report reads loss and PSNR off the device)
PLATEAU_EVERY = 20  # joint phase steps per plateau check (one host read of their summed loss)
# The joint phase anneals and stops when a window's mean loss fell by less than this share of the window's before.
# 0.015 against 0.01: −0.05 to +0.07 dB on the bench rows (mean −0.001), 12 % faster at 2,048 strokes; 0.02 lost
# up to 0.12 dB (bench/RESULTS.md "The joint phase stops at a 1.5 % plateau").
PLATEAU_GAIN = 0.015
# The joint phase's learning rate ramps up over its first steps: Adam's first steps move every parameter by about the
# full learning rate whatever its gradient, and at full rate they shook the fitted painting (1,024 px / 2,048 strokes:
# −0.45 dB in 10 steps, regained only 20 steps later). With the ramp it ends 0.2 dB higher in 20 fewer steps
# (bench/RESULTS.md "A warm-up for the joint phase").
JOINT_WARMUP = 10
JOINT_TIMED_STEPS = 3  # with a time budget, the joint phase's first steps, timed to fit the phase into it
OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
LEVELS_SHARE = 0.75  # of a time budget, for the levels; the joint phase gets the rest and what they leave
RELOCATION_ENDS = 0.8  # of a time budget: the relocation before the joint phase stops by then at the latest
# A relocated stroke is fitted on top of the painting with its center line kept on the canvas and at least this
# wide (px) and opaque: there it shows ≥ 2 px² (a 1.5 px disc at 0.3), so the fit cannot hide it by fading,
# shrinking or leaving the canvas. Unbounded, a stroke that can help nowhere went there, and was then put back
# unfitted, at placement's size and opacity, on top: a flat band (the Van Gogh at 384 px, 768 strokes).
RELOCATED_MIN_RADIUS = 1.5
RELOCATED_MIN_OPACITY = 0.3


@dataclass(frozen=True)
class Settings:
    strokes: int = 256  # total budget across levels, paint and smudge strokes together
    levels: int = 0  # coarse-to-fine levels; 0: as many as the budget fills (`levels_for_budget`: 3 to 5)
    rounds: int = 2  # placement rounds per level (error map refreshed between rounds)
    iterations: int = 80  # optimizer steps per round
    lr_position: float = 0.004  # in units of the canvas' long side per step
    lr_radius: float = 0.002
    lr_color: float = 0.02
    lr_opacity: float = 0.02
    min_opacity: float = 0.05  # strokes fainter than this at the end are relocated
    min_visible: float = 1.0  # px²: strokes showing less of themselves on the canvas are relocated
    line_radius: float = 0.75  # px: strokes on the target's thin lines may thin down to this
    # Steps of the joint phase over the whole painting (0: none): 100 gave 0.1–0.4 dB less on bench/peers.py's images.
    joint_iterations: int = 200
    # Weight of the joint phase's hidden-color term (`losses.hidden_color_loss`), relative to the pixel term:
    # what later strokes cover of a stroke is judged against the target under it as if it showed, this much.
    # Off: at 0.5 it cost the Van Gogh in bench/peers.py 0.42 dB (200 strokes) and 0.90 dB (512).
    hidden_color: float = 0.0
    relocation_iterations: int = 40  # steps fitting relocated strokes
    time_budget: float | None = None  # seconds: levels get LEVELS_SHARE of it, the joint phase the rest
    tie_colors: float = 0.02  # a stroke whose two colors end closer than this becomes single-color
    min_working_side: int = 64  # coarse levels are fitted at no less than this resolution
    # Long side (px) strokes are fitted at: a larger canvas is fitted as if it were this size (finest level and joint
    # phase at it, coarser levels halved below), its strokes scaled up. Strokes are sized by the grid cell, a third
    # of the long side on the finest of 3 levels: at 512 px they are placed 10–20 px in radius and 50–120 px long
    # and may thin to 3.4 px (0.02 cell), so they still span enough pixels to fit; a 2,048 px canvas fitted at 512 px
    # costs a sixteenth of its pixels per step (bench/large_canvas.py, bench/RESULTS.md "Large canvases").
    fit_max_side: int = 512
    seed: int = 0
    raster: RasterSettings = field(default_factory=RasterSettings)
    weights: LossWeights = field(default_factory=LossWeights)
    segmenter: Method = "slic"
    regions: int = 32  # segments the segmentation loss keeps strokes inside
    # Smudge phase on every level but the last. Off by default: at the same budget it cut banding by 10 %
    # but was 0.05 dB lower in mean PSNR (3 of 5 images worse) and 30 % slower over
    # bench/smudge_quality.py's five images (bench/RESULTS.md).
    smudge: bool = False
    smudge_share: float = 0.1  # of each smudged level's stroke budget
    smudge_iterations: int = 20  # optimizer steps of the smudge phase per level
    # Smudge strokes start ≤ 0.3 cell long and ≥ 0.04 cell wide: 10 stamps overlap; each stamp costs time.
    smudge_brush: SmudgeSettings = field(default_factory=lambda: SmudgeSettings(stamps=10))
    smudge_weights: LossWeights = field(default_factory=lambda: LossWeights(gradient=0.5, area=0.1, segmentation=0.0))
    style: str = "digital"  # painting medium; any but digital textures the strokes in a style phase (style/)
    style_iterations: int = StyleSettings.iterations  # style phase steps on each level (`style_steps_per_level`)
    style_reference: BrushworkStatistics | None = None  # brushwork the style phase matches (style.reference)
    deterministic: bool = False  # deterministic kernels only (see `deterministic_algorithms`)
    optimizer: str = "adam"  # of the paint strokes: "adam" or "rmsprop" (bench/schedule.py compares them)
    grain: str = NO_GRAIN  # canvas grain fitted under the finished painting (diffpaint.grain), or none

    def __post_init__(self) -> None:
        for name in ("strokes", "rounds", "iterations", "smudge_iterations", "fit_max_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in ("levels", "joint_iterations", "relocation_iterations", "hidden_color"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, not {getattr(self, name)}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"time_budget must be a positive number of seconds, not {self.time_budget}")
        if not 0.0 <= self.smudge_share < 1.0:
            raise ValueError(f"smudge_share must lie in [0, 1), not {self.smudge_share}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, not {self.optimizer!r}")
        if self.style not in STYLES:
            raise ValueError(f"style must be one of {', '.join(STYLES)}, not {self.style!r}")
        if self.grain not in GRAIN_CHOICES:
            raise ValueError(f"grain must be one of {', '.join(GRAIN_CHOICES)}, not {self.grain!r}")
        strokes_per_level(self.strokes, self.level_count)  # raises when the budget cannot cover the levels

    @property
    def level_count(self) -> int:
        """The levels the budget is painted in (`levels`, or as many as the budget fills)."""
        return levels_for_budget(self.strokes, self.levels)


@dataclass(frozen=True)
class Progress:
    phase: str  # "paint", "style", "smudge", "relocate" or "joint"
    level: int  # 1-based
    levels: int
    iteration: int  # within the current round
    iterations: int
    fraction: float  # of the whole reconstruction (of its time budget, when it has one and that is further)
    loss: float  # of this iteration
    psnr: float  # of this iteration's render, dB
    elapsed: float
    canvas: Tensor | None = None  # this iteration's render (detached, sRGB) at the level's working size


@dataclass
class Reconstruction:
    strokes: Painting  # paint and smudge strokes in painting order
    canvas: Tensor
    background: tuple[float, float, float]
    psnr: float
    seconds: float
    style: StrokeStyle | None = None  # the paint strokes' textures (painting order), after the style phases
    grain: CanvasGrain | None = None  # the canvas grain under the painting (its canvas), None when flat


def strokes_per_level(total: int, levels: int) -> list[int]:
    """Split a budget over levels in proportion to their cell count (g² for a g×g grid)."""
    if total < levels:
        raise ValueError(f"a budget of {total} strokes cannot cover {levels} levels; use at least {levels}")
    weights = [g * g for g in range(1, levels + 1)]
    counts = [max(1, int(total * w / sum(weights))) for w in weights]
    counts[-1] += total - sum(counts)
    return counts


def level_budgets(settings: Settings) -> list[tuple[int, int]]:
    """(paint, smudge) stroke counts per level: the smudge share of every level but the last (at least
    one paint stroke stays), when smudging is on."""
    budgets = []
    for level, count in enumerate(strokes_per_level(settings.strokes, settings.level_count)):
        smudges = round(count * settings.smudge_share) if settings.smudge and level < settings.level_count - 1 else 0
        smudges = min(smudges, count - 1)
        budgets.append((count - smudges, smudges))
    return budgets


def style_steps_per_level(settings: Settings) -> list[int]:
    """Style phase steps per level: `style_iterations` on every level, so each stroke gets as many steps
    as one style phase over the finished painting would give it, at about its cost (a step textures
    only the level's strokes). Splitting the steps over the levels like the strokes cost 0.6 dB on the
    Van Gogh at 128 px (bench/style_levels.py, bench/RESULTS.md)."""
    return [0 if settings.style == "digital" else settings.style_iterations] * settings.level_count


def reconstruct(
    target: Tensor,
    background: tuple[float, float, float],
    settings: Settings = Settings(),
    on_progress: Callable[[Progress], None] | None = None,
    on_level: Callable[[int, Painting, Tensor, StrokeStyle | None], None] | None = None,
    mask: Tensor | None = None,
) -> Reconstruction:
    """Fit `settings.strokes` strokes to `target` (H, W, 3) in [0, 1].

    `on_progress` is called every `PROGRESS_EVERY` optimizer steps and after the last step of every round
    and phase (reading progress waits for the device); `on_level` after each level with its 1-based
    number, every stroke painted so far, the canvas they make and their style (None when plain), so a
    caller can keep results that survive a cancellation (raising from either callback stops the
    reconstruction). `mask` (H, W) in [0, 1], on any device, is the image's alpha: paint strokes are kept off its
    transparent areas, which stay bare canvas.
    """
    retain_freed_memory()  # a third of a CPU step was page faults of freshly mapped tensors
    with deterministic_algorithms(settings.deterministic):
        if settings.style == "digital" and max(target.shape[:2]) > settings.fit_max_side:
            return _reconstruct_at_max_side(target, background, settings, on_progress, on_level, mask)
        return _reconstruct(target, background, settings, on_progress, on_level, mask)


def _reconstruct_at_max_side(
    target: Tensor,
    background: tuple[float, float, float],
    settings: Settings,
    on_progress: Callable[[Progress], None] | None,
    on_level: Callable[[int, Painting, Tensor, StrokeStyle | None], None] | None,
    mask: Tensor | None,
) -> Reconstruction:
    """A plain painting of a canvas larger than `fit_max_side`, fitted whole on the target downscaled to that long
    side, then its strokes scaled up and rendered on the full canvas. Placement, relocation and the canvases between
    rounds are forward renders of every stroke at the fit's resolution too: at full resolution they cost more than
    the fit itself on large canvases (bench/RESULTS.md "Large canvases"). Smudges are fitted at that side as well
    (their stamps scale with their radius). Textured paintings take `_reconstruct`: their style phase fits at full
    resolution, as a texture's look depends on its pixel footprint (their paint rounds are capped by
    `_working_scale`). Progress and `on_level`'s canvas come at the fit's resolution, `on_level`'s strokes full size.
    """
    start = time.perf_counter()
    scale = settings.fit_max_side / max(target.shape[:2])
    small_mask = None if mask is None else _downscale(mask.to(target)[..., None], scale)[..., 0]
    level_hook = None if on_level is None else (
        lambda level, painting, canvas, style: on_level(level, painting.scaled(1.0 / scale), canvas, style))
    # The grain is fitted on the full canvas: its scale is in canvas pixels per texel.
    fitted = _reconstruct(_downscale(target, scale), background, replace(settings, grain=NO_GRAIN), on_progress,
                          level_hook, small_mask)
    painting = fitted.strokes.scaled(1.0 / scale)
    final, grain = _final_render(painting, None, target, background, settings)
    return Reconstruction(painting, final, background, psnr(final, target), time.perf_counter() - start, None, grain)


def _reconstruct(
    target: Tensor,
    background: tuple[float, float, float],
    settings: Settings,
    on_progress: Callable[[Progress], None] | None,
    on_level: Callable[[int, Painting, Tensor, StrokeStyle | None], None] | None,
    mask: Tensor | None,
) -> Reconstruction:
    run = _Run(target, settings, _reconstruction_steps(settings), on_progress, mask)
    height, width = target.shape[:2]
    bg_image = torch.tensor(background, device=target.device).expand(height, width, 3).contiguous()
    canvas = bg_image
    painting = Painting.empty(settings.smudge_brush, target.device)
    style = None
    for level, (paint_count, smudge_count) in enumerate(level_budgets(settings)):
        frozen = canvas
        painted, canvas = _paint_phase(run, level, paint_count, canvas)
        if settings.style != "digital":
            painted, level_style, canvas = _style_phase(run, level, painted, frozen, len(painting.paint))
            style = level_style if style is None else style.cat(level_style)
        painting = painting.then_paint(painted)
        if smudge_count:
            smudged, canvas = _smudge_phase(run, level, smudge_count, canvas)
            painting = painting.then_smudge(smudged, level)
        if on_level:
            on_level(level + 1, painting, canvas, style)

    if style is None:  # a textured painting's strokes keep their per-level style fit
        painting = _relocate(run, painting, bg_image)
        painting = _joint_phase(run, painting, bg_image)
        painting = _relocate(run, painting, bg_image, final=True)

    final, grain = _final_render(painting, style, target, background, settings)
    return Reconstruction(painting, final, background, psnr(final, target), time.perf_counter() - run.start, style,
                          grain)


def _final_render(painting: Painting, style: StrokeStyle | None, target: Tensor, background: tuple[float, float, float],
                  settings: Settings) -> tuple[Tensor, CanvasGrain | None]:
    """The finished painting rendered over its canvas: flat, or with the grain `settings.grain` fitted under it."""
    height, width = target.shape[:2]

    def finished(bare_canvas: Tensor) -> Tensor:
        return (render_painting(painting, bare_canvas, settings.raster) if style is None
                else render_styled_painting(painting, style, bare_canvas, settings.raster))

    with torch.no_grad():
        grain = None if settings.grain == NO_GRAIN else fit_grain(settings.grain, target, background, finished)
        return finished(canvas_image(background, grain, width, height, target.device)), grain


@contextmanager
def deterministic_algorithms(on: bool) -> Iterator[None]:
    """With `on`, run the block with `torch.use_deterministic_algorithms(True)`, then restore the setting.

    On CUDA the renderer's and losses' scatter-adds (`index_add` and the backward passes of `index_select`
    and `gather`) add in an order that varies from run to run, so results differ
    in the last bits between runs; deterministic kernels are slower. CUDA's cuBLAS needs the environment
    variable CUBLAS_WORKSPACE_CONFIG=:4096:8 (or :16:8) set before the process first uses it, or torch
    raises on the first matrix product; it is set here when unset, which is enough when nothing ran
    on the GPU before. On the CPU every kernel used is deterministic already.
    """
    if not on:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was)


def _level_steps(settings: Settings) -> int:
    """Optimizer steps of the levels: paint rounds, smudge and style phases on every level."""
    smudged_levels = sum(1 for _, m in level_budgets(settings) if m)
    return (settings.level_count * settings.rounds * settings.iterations
            + smudged_levels * settings.smudge_iterations + sum(style_steps_per_level(settings)))


def _reconstruction_steps(settings: Settings) -> int:
    """Optimizer steps of a whole reconstruction: the levels, then (plain paintings) a relocation and the joint
    phase. The final relocation is not counted: it has nothing to fit unless the joint phase hid strokes, and
    progress is reported from 1 down to then (the fraction stops at 1)."""
    after = settings.joint_iterations + settings.relocation_iterations if settings.style == "digital" else 0
    return _level_steps(settings) + after


class _Run:
    """What every phase of one reconstruction shares: target, settings, random state, progress."""

    def __init__(self, target: Tensor, settings: Settings, total_steps: int,
                 on_progress: Callable[[Progress], None] | None, mask: Tensor | None = None):
        self.start = time.perf_counter()
        self.target = target
        self.bare = None if mask is None else (1.0 - mask.to(target))[..., None]  # (H, W, 1): 1 = keep unpainted
        self.settings = settings
        self.long_side = float(max(target.shape[:2]))
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.total_steps = total_steps  # for the progress fraction
        self.step = 0
        self.on_progress = on_progress
        self.level_steps = _level_steps(settings)
        self.relocation_seconds = 0.0  # what moving strokes took before the joint phase: the final move's estimate

    def out_of_time(self, share: float = 1.0) -> bool:
        """Whether `share` of the time budget is spent (never, without one)."""
        budget = self.settings.time_budget
        return budget is not None and time.perf_counter() - self.start >= share * budget

    def time_left(self) -> float:
        """Seconds of the time budget left (infinite without one; negative once overrun)."""
        budget = self.settings.time_budget
        return math.inf if budget is None else self.start + budget - time.perf_counter()

    def levels_out_of_time(self) -> bool:
        """Whether the levels have spent their share of the time budget up to this step: each step of the
        levels is allotted an equal share, so cheap coarse rounds leave time to the finest."""
        return self.out_of_time(LEVELS_SHARE * min(1.0, self.step / self.level_steps))

    @functools.cached_property
    def labels(self) -> Tensor | None:
        """The target's segments for the segmentation loss (computed when a paint phase first needs them)."""
        settings = self.settings
        if settings.weights.segmentation <= 0:
            return None
        return segment(self.target, settings.segmenter, settings.regions).to(self.target.device)

    @functools.cached_property
    def lines(self) -> Tensor:
        """`line_strength` of the target: where strokes may thin down to `Settings.line_radius`."""
        return line_strength(self.target)

    @functools.cached_property
    def regions(self) -> int:
        """How many regions the segmentation loss tells apart: `Settings.regions` is the segmenter's
        target count, which SLIC can overshoot on small or flat images (one host read, once a run)."""
        if self.labels is None:
            return self.settings.regions
        return max(self.settings.regions, int(self.labels.max()) + 1)

    def cell(self, level: int) -> float:
        return self.long_side / (level + 1)

    def report(self, phase: str, level: int, iteration: int, iterations: int, loss: Tensor, image: Tensor,
               target: Tensor) -> None:
        """Count a step; every `PROGRESS_EVERY` steps and after a round's or phase's last one, tell
        `on_progress` (one host read for loss and PSNR together)."""
        self.step += 1
        if self.on_progress is None or ((iteration + 1) % PROGRESS_EVERY and iteration + 1 < iterations):
            return
        with torch.no_grad():
            mse = torch.mean((image.detach().float() - target.float()) ** 2)
            loss_value, mse_value = torch.stack([loss.detach().float(), mse]).tolist()
        quality = float("inf") if mse_value == 0 else 10.0 * math.log10(1.0 / mse_value)
        elapsed = time.perf_counter() - self.start
        fraction = self.step / self.total_steps
        if self.settings.time_budget is not None:
            fraction = max(fraction, elapsed / self.settings.time_budget)
        self.on_progress(Progress(phase, level + 1, self.settings.level_count, iteration + 1, iterations,
                                  min(1.0, fraction), loss_value, quality, elapsed, image.detach()))


def _paint_phase(run: _Run, level: int, count: int, canvas: Tensor) -> tuple[Strokes, Tensor]:
    """Place and fit `count` paint strokes over the frozen `canvas`, in rounds; the strokes kept and the
    canvas with them."""
    settings, target, cell = run.settings, run.target, run.cell(level)
    painted = Strokes.empty(target.device)
    for r in range(settings.rounds):
        n = count // settings.rounds + (r < count % settings.rounds)
        if n == 0:
            run.step += settings.iterations
            continue
        # Placement samples with a CPU generator, so runs are reproducible whatever the device.
        new = place_strokes(target.cpu(), canvas.cpu(), n, cell, level, run.generator).to(target.device)
        fitted = _fit_round(run, "paint", level, new, canvas, settings.iterations)
        with torch.no_grad():
            canvas = render(fitted, canvas, settings.raster).image
        painted = painted.cat(fitted)
    return painted, canvas


def _fit_round(run: _Run, phase: str, level: int, new: Strokes, canvas: Tensor, iterations: int,
               deadline: float = 1.0) -> Strokes:
    """Fit `new` strokes, placed for `level`, over the frozen `canvas` for `iterations` steps at the level's
    working resolution; with a time budget, fewer when the levels' time runs out (paint) or once `deadline` of
    the budget is spent (relocation; at least `PROGRESS_EVERY` steps, which keep relocated strokes in bounds)."""
    settings, target, cell = run.settings, run.target, run.cell(level)
    scale = _working_scale(run.long_side, level, settings)
    work_target, work_canvas = _downscale(target, scale), _downscale(canvas, scale)
    bounds = None
    if phase == "relocate":
        height, width = work_target.shape[:2]
        bounds = _Bounds(RELOCATED_MIN_RADIUS * scale, RELOCATED_MIN_OPACITY, (float(width), float(height)))
    params = _Parameters(new.scaled(scale), settings, run.long_side * scale, bounds)
    weights = _level_weights(settings, level)
    labels_tiles = None if run.labels is None else _labels_on_tiles(run.labels, work_target, settings.raster.tile,
                                                                  run.regions)
    work_bare = None if run.bare is None else _downscale(run.bare, scale)[..., 0]
    floor = MIN_RADIUS_OF_CELL * cell * scale
    for it in range(iterations):
        strokes = params.strokes()
        min_radius = line_floor(strokes, run.lines, floor, settings.line_radius * scale, scale)
        rendered = render(strokes, work_canvas, settings.raster)
        loss, _ = total_loss(rendered, work_target, strokes, weights, cell=cell * scale,
                             labels_tiles=labels_tiles, num_regions=run.regions, min_radius=min_radius)
        if work_bare is not None:  # coverage of transparent areas costs like a full-scale color error
            loss = loss + weights.pixel * (rendered.alpha * work_bare).mean()
        params.step(loss)
        # Paint rounds read the clock at progress reports only (the levels' allotment grows step by step, so a
        # round that starts behind it catches up); relocated strokes, after their first PROGRESS_EVERY steps, at
        # every step: over thousands of strokes, ten steps overran a budget by half a minute. On a GPU the clock
        # does not count queued work until the next report's read waits for it.
        if phase == "paint":
            stop = (it + 1) % PROGRESS_EVERY == 0 and run.levels_out_of_time()
        else:
            stop = it + 1 >= PROGRESS_EVERY and run.out_of_time(deadline)
        if stop:
            run.step += iterations - it - 1
        run.report(phase, level, it, it + 1 if stop else iterations, loss, rendered.image, work_target)
        if stop:
            break
    fitted = params.strokes().detach().scaled(1.0 / scale)
    fitted.color = _tie_converged_colors(fitted.color, settings.tie_colors)
    return fitted


def _relocate(run: _Run, painting: Painting, bg_image: Tensor, final: bool = False) -> Painting:
    """Move every paint stroke that shows less than `min_visible` px² (or is fainter than `min_opacity`) to
    the top of the painting and fit it there (`_move_invisible`). With `final`, strokes that still end
    invisible after that fit (the bounds keep a stroke on top showing, but relocated strokes may cover each
    other) are moved and fitted once more, over all the others. They are few, so that fit is cheap; moved
    unfitted, at placement's size and opacity, 4 strokes cost the ink painting 0.9 dB (512 px, 1,024 strokes).
    Nothing moves once its share of a time budget is spent, nor (final) with less time left than the move before
    the joint phase took: the moved strokes would need fitting (2,048 px / 8,000 strokes: 10 steps lost 1.2 dB
    and overran the budget by 28 s)."""
    iterations = run.settings.relocation_iterations
    deadline = 1.0 if final else RELOCATION_ENDS
    if run.out_of_time(deadline) or (final and run.time_left() < run.relocation_seconds):
        run.step += 0 if final else iterations
        return painting
    started = time.perf_counter()
    painting, moved = _move_invisible(run, painting, bg_image, iterations, deadline)
    if not final:
        run.relocation_seconds = time.perf_counter() - started
        if not moved:
            run.step += iterations
    elif moved and not run.out_of_time():
        painting, _ = _move_invisible(run, painting, bg_image, iterations, 1.0)
    return painting


def _move_invisible(run: _Run, painting: Painting, bg_image: Tensor, iterations: int,
                    deadline: float) -> tuple[Painting, int]:
    """Take the invisible paint strokes out, place as many new ones where the painting without them is most
    wrong, sized for the finest level and colored from the target, and fit them over it for `iterations`
    steps (fewer past `deadline` of a time budget); the painting with them on top, and how many moved."""
    settings, target = run.settings, run.target
    paint = painting.paint
    with torch.no_grad():
        shown = visible_area(paint, render(paint, bg_image, settings.raster))
        dead = (shown < settings.min_visible) | (paint.opacity < settings.min_opacity)
        alive = torch.nonzero(~dead).squeeze(1)  # the one read: how many move
    count = len(paint) - len(alive)
    if count == 0:
        return painting, 0
    # Smudges keep their place in the order: each comes after as many fewer paint strokes as moved before it.
    moved_before = torch.cat([dead.new_zeros(1, dtype=torch.long), dead.long().cumsum(0)])
    painting = replace(painting, paint=paint.select(alive),
                       smudge_after=painting.smudge_after - moved_before[painting.smudge_after])
    with torch.no_grad():
        canvas = render_painting(painting, bg_image, settings.raster)
    finest = settings.level_count - 1
    new = place_strokes(target.cpu(), canvas.cpu(), count, run.cell(finest), finest, run.generator).to(target.device)
    if iterations:
        new = _fit_round(run, "relocate", finest, new, canvas, iterations, deadline)
    return painting.then_paint(new), count


def _joint_phase(run: _Run, painting: Painting, bg_image: Tensor) -> Painting:
    """Fit every paint stroke of the painting together, in its order, on the full loss at the finest level's working
    resolution (full resolution with smudges: they drag the canvas at its own pixels): the levels froze each other,
    so a coarse stroke never learned what the fine ones over it paint.

    The learning rate ramps up over `JOINT_WARMUP` steps, then decays on a cosine to 0 over `joint_iterations`;
    once the mean loss of a window of `PLATEAU_EVERY` steps falls by less than `PLATEAU_GAIN` of the window's before
    (one host read per window), it falls to 0 over one more window and the phase ends (`_JointSchedule`). With a
    time budget, the phase is skipped when the budget is spent; else its first `JOINT_TIMED_STEPS` are timed (one
    host read), the phase shortened (cosine included) to the steps that fit in the time left, and it stops at the
    first step that ends past the budget.
    """
    settings, target = run.settings, run.target
    steps = settings.joint_iterations
    if steps == 0 or len(painting.paint) == 0 or run.out_of_time():
        run.step += steps
        return painting
    finest = settings.level_count - 1
    scale = 1.0 if len(painting.smudge) else _working_scale(run.long_side, finest, settings)
    target, bg_image = _downscale(target, scale), _downscale(bg_image, scale)
    bare = None if run.bare is None else _downscale(run.bare, scale)[..., 0]
    paint = painting.paint.scaled(scale)
    cell = run.long_side * scale / (paint.level + 1).to(paint.radius.dtype)  # each stroke's level's cell
    labels_tiles = (None if run.labels is None or len(painting.smudge)
                    else _labels_on_tiles(run.labels, target, settings.raster.tile, run.regions))
    # The segmentation term holds each stroke as its level did (it fades in over the levels: coarse strokes
    # span regions), so it is added apart, each stroke's spill weighted by its level's share.
    weights = replace(settings.weights, segmentation=0.0)
    level_share = paint.level.to(paint.radius.dtype) / max(1, finest)
    params = _Parameters(paint, settings, run.long_side * scale)
    schedule = _JointSchedule(steps)
    decay = torch.optim.lr_scheduler.LambdaLR(params.optimizer, schedule.factor)
    window, previous = target.new_zeros(()), math.inf
    timing_start = time.perf_counter()
    for it in range(steps):
        strokes = params.strokes()
        min_radius = line_floor(strokes, run.lines, MIN_RADIUS_OF_CELL * cell, settings.line_radius * scale, scale)
        if len(painting.smudge):  # smudges drag the canvas between paint runs: the image terms and shapes
            image = render_painting(replace(painting, paint=strokes), bg_image, settings.raster)
            loss = image_loss(image, target, weights) + weights.area * area_regularizer(strokes, cell, min_radius)
        else:
            rendered = render(strokes, bg_image, settings.raster)
            image = rendered.image
            loss, _ = total_loss(rendered, target, strokes, weights, cell=cell, labels_tiles=None,
                                 num_regions=run.regions, min_radius=min_radius)
            if labels_tiles is not None:
                loss = loss + settings.weights.segmentation * segmentation_loss(
                    rendered.fragments, labels_tiles, len(strokes), run.regions, strokes.opacity * level_share)
            if bare is not None:
                loss = loss + weights.pixel * (rendered.alpha * bare).mean()
            if settings.hidden_color > 0:
                if it % PROGRESS_EVERY == 0:  # what is covered changes slowly; one measure serves 10 steps
                    with torch.no_grad():
                        hidden = hidden_footprint(strokes, rendered, target)
                loss = loss + settings.hidden_color * weights.pixel * hidden_color_loss(strokes, *hidden, target)
        params.step(loss)
        decay.step()
        window = window + loss.detach()
        stop = False
        if settings.time_budget is not None:
            if it + 1 == JOINT_TIMED_STEPS:
                loss.item()  # waits for the timed steps on the device
                per_step = (time.perf_counter() - timing_start) / JOINT_TIMED_STEPS
                left = run.time_left()
                schedule.shorten(it + 1 + max(0, int(left / per_step)))
            stop = run.out_of_time()
        if (it + 1) % PLATEAU_EVERY == 0:
            mean = float(window) / PLATEAU_EVERY
            if previous - mean < PLATEAU_GAIN * previous:
                schedule.anneal(it + 1)
            window, previous = torch.zeros_like(window), mean
        stop = stop or it + 1 >= schedule.length
        if stop:
            run.step += steps - it - 1
        run.report("joint", finest, it, it + 1 if stop else steps, loss, image, target)
        if stop:
            break
    return replace(painting, paint=params.strokes().detach().scaled(1.0 / scale))


class _JointSchedule:
    """The joint phase's learning-rate factor: a cosine from 1 to 0 over `length` steps; once the loss
    plateaus, a straight line from where the cosine was to 0 over one more window of `PLATEAU_EVERY` steps.
    The first `JOINT_WARMUP` steps ramp it up linearly from 1 / (`JOINT_WARMUP` + 1)."""

    def __init__(self, length: int):
        self.length = length
        self._cosine_length = length
        self._tail: tuple[int, float] | None = None  # (step it starts at, factor there)

    def factor(self, done: int) -> float:
        return min(1.0, (done + 1) / (JOINT_WARMUP + 1)) * self._decay(done)

    def _decay(self, done: int) -> float:
        if self._tail is None:
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done / self._cosine_length)))
        start, at_start = self._tail
        return at_start * max(0.0, 1.0 - (done - start) / PLATEAU_EVERY)

    def shorten(self, length: int) -> None:
        """Fit the cosine into `length` steps (a time budget's), if that is fewer."""
        self.length = self._cosine_length = min(self.length, length)

    def anneal(self, done: int) -> None:
        """The loss plateaued after `done` steps: end one window later, the learning rate falling to 0 by then."""
        if self._tail is None:
            self._tail = (done, self._decay(done))
            self.length = min(self.length, done + PLATEAU_EVERY)


def _style_phase(run: _Run, level: int, painted: Strokes, frozen: Tensor,
                 first: int) -> tuple[Strokes, StrokeStyle, Tensor]:
    """Texture a level's new paint strokes (painting indices `first`, …) and fit their style over the
    `frozen` canvas of the levels before, at full resolution (a texture's look depends on its pixel
    footprint); the strokes with their vertex colors for the style, the style and the textured canvas."""
    settings, target, steps = run.settings, run.target, style_steps_per_level(run.settings)[level]
    # Each stroke's variant is the one a style over the whole painting would draw for it.
    style = initial_style(settings.style, first + len(painted), settings.seed, target.device)
    style = style.select(torch.arange(first, first + len(painted), device=target.device))
    if len(painted) == 0:
        run.step += steps
        return painted, style, frozen

    def report(step: int, loss: Tensor, image: Tensor) -> None:
        run.report("style", level, step, steps, loss, image, target)

    alone = Painting.empty(settings.smudge_brush, target.device).then_paint(painted)
    style_settings = StyleSettings(iterations=steps, reference=settings.style_reference)
    styled, style = optimize_style(alone, style, target, frozen, style_settings, settings.raster, report)
    with torch.no_grad():
        canvas = render_styled(styled.paint, style, frozen, settings.raster).image
    return styled.paint, style, canvas


def _smudge_phase(run: _Run, level: int, count: int, canvas: Tensor) -> tuple[SmudgeStrokes, Tensor]:
    """Place and fit `count` smudge strokes on the frozen `canvas`; the strokes kept (those that lower
    the loss at full resolution) and the canvas they leave."""
    settings, target, cell = run.settings, run.target, run.cell(level)
    new = place_smudges(target.cpu(), canvas.cpu(), count, cell, run.generator).to(target.device)
    scale = _working_scale(run.long_side, level, settings)
    work_target, work_canvas = _downscale(target, scale), _downscale(canvas, scale)
    params = _SmudgeParameters(new.scaled(scale), settings, run.long_side * scale)
    for it in range(settings.smudge_iterations):
        strokes = params.strokes()
        image = smudge(work_canvas, strokes, settings.smudge_brush)
        loss = smudge_loss(image, work_target, strokes, settings.smudge_weights, cell * scale)
        params.step(loss)
        run.report("smudge", level, it, settings.smudge_iterations, loss, image, work_target)
    fitted = prune_smudges(target, canvas, params.strokes().detach().scaled(1.0 / scale), settings.smudge_brush,
                           settings.smudge_weights)
    with torch.no_grad():
        return fitted, smudge(canvas, fitted, settings.smudge_brush)


@dataclass(frozen=True)
class _Bounds:
    """Tighter ranges than the valid ones for strokes that must keep showing (relocated strokes)."""

    min_radius: float  # px
    min_opacity: float
    canvas: tuple[float, float]  # (width, height), px: the control points stay on it


class _Parameters:
    """Optimizable stroke parameters, kept inside their valid ranges (or `bounds`) after every step."""

    def __init__(self, init: Strokes, settings: Settings, long_side: float, bounds: _Bounds | None = None):
        self.level = init.level
        self.points = init.points.clone().requires_grad_()
        self.radius = init.radius.clone().requires_grad_()
        self.color = init.color.clone().requires_grad_()
        self.opacity = init.opacity.clone().requires_grad_()
        self.long_side = long_side
        self.bounds = bounds
        self.optimizer = OPTIMIZERS[settings.optimizer]([
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
            bounds = self.bounds
            self.radius.clamp_(0.5 if bounds is None else bounds.min_radius, 0.5 * self.long_side)
            self.color.clamp_(0.0, 1.0)
            self.opacity.clamp_(0.0 if bounds is None else bounds.min_opacity, 1.0)
            if bounds is not None:
                for axis, extent in enumerate(bounds.canvas):
                    self.points[..., axis].clamp_(0.0, extent)


class _SmudgeParameters:
    """Optimizable smudge geometry (points, radii), radii kept in range after every step."""

    def __init__(self, init: SmudgeStrokes, settings: Settings, long_side: float):
        self.points = init.points.clone().requires_grad_()
        self.radius = init.radius.clone().requires_grad_()
        self.long_side = long_side
        self.optimizer = torch.optim.Adam([
            {"params": [self.points], "lr": settings.lr_position * long_side},
            {"params": [self.radius], "lr": settings.lr_radius * long_side},
        ])

    def strokes(self) -> SmudgeStrokes:
        return SmudgeStrokes(self.points, self.radius)

    def step(self, loss: Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.radius.clamp_(1.0, 0.5 * self.long_side)


def _level_weights(settings: Settings, level: int) -> LossWeights:
    """The segmentation term fades in over the levels: coarse strokes are meant to span regions."""
    fade = level / max(1, settings.level_count - 1)
    return replace(settings.weights, segmentation=settings.weights.segmentation * fade)


def _labels_on_tiles(labels: Tensor, work_target: Tensor, tile: int, num_regions: int) -> Tensor:
    height, width = work_target.shape[:2]
    return labels_to_tiles(resize_labels(labels, height, width), TileGrid(height, width, tile), num_regions)


def _working_scale(long_side: float, level: int, settings: Settings) -> float:
    """Resolution factor for fitting a level: 1 at the finest (`fit_max_side` / `long_side` on larger canvases),
    halved per level below it down to `min_working_side`."""
    top = min(1.0, settings.fit_max_side / long_side)
    return max(top * 0.5 ** (settings.level_count - 1 - level), min(top, settings.min_working_side / long_side))


def _downscale(image: Tensor, scale: float) -> Tensor:
    if scale == 1.0:
        return image
    chw = image.permute(2, 0, 1)[None]
    small = F.interpolate(chw, scale_factor=scale, mode="area", recompute_scale_factor=False)
    return small[0].permute(1, 2, 0).contiguous()


def _tie_converged_colors(color: Tensor, tolerance: float) -> Tensor:
    """Make strokes whose end colors converged single-color: (N, 2, 3) → same shape."""
    converged = (color[:, 0] - color[:, 1]).abs().amax(dim=-1) < tolerance
    mean = color.mean(dim=1, keepdim=True).expand_as(color)
    return torch.where(converged[:, None, None], mean, color)


@dataclass(frozen=True)
class Anchor:
    """A render that `refine` should keep where `calm` (H, W, values in [0, 1]) says so: the previous
    frame's, moved with the camera, so that a sequence's still parts do not flicker. Its term is the mean
    of `calm` × |render − `image`|, weighted `weight` × the pixel term's weight."""

    image: Tensor  # (H, W, 3)
    calm: Tensor  # (H, W)
    weight: float

    def loss(self, image: Tensor) -> Tensor:
        return self.weight * (self.calm[..., None] * (image - self.image)).abs().mean()


def refine(
    painting: Painting,
    target: Tensor,
    background: tuple[float, float, float],
    settings: Settings = Settings(),
    add: int = 0,
    on_progress: Callable[[Progress], None] | None = None,
    mask: Tensor | None = None,
    anchor: Anchor | None = None,
) -> Reconstruction:
    """Continue optimizing a finished painting against `target` (H, W, 3) in [0, 1].

    With `add` > 0, that many new paint strokes are first placed and fitted on top as one more round
    of the finest level (`settings.level_count` − 1 sets its cell). Then every paint stroke is fine-tuned
    jointly for `settings.iterations` steps at full resolution, through the whole painting (smudges
    included, their geometry frozen), on the pixel, gradient and OT terms, the learning rate ramped up and
    decayed as in the joint phase (`_JointSchedule`; at a constant rate, 20 steps on a finished 512-px painting
    lowered it by 0.35 dB). No stroke is pruned or reordered, so the painting order — and the smudges' place in
    it — is kept. `mask` is the image's alpha, as for `reconstruct`: it keeps added strokes off transparent
    areas. An `anchor` adds its term to the fine-tuning's loss.
    """
    retain_freed_memory()
    with deterministic_algorithms(settings.deterministic):
        return _refine(painting, target, background, settings, add, on_progress, mask, anchor)


def _refine(painting: Painting, target: Tensor, background: tuple[float, float, float], settings: Settings,
            add: int, on_progress: Callable[[Progress], None] | None, mask: Tensor | None,
            anchor: Anchor | None) -> Reconstruction:
    run = _Run(target, replace(settings, rounds=1), settings.iterations * (2 if add else 1), on_progress, mask)
    height, width = target.shape[:2]
    bg_image = torch.tensor(background, device=target.device).expand(height, width, 3).contiguous()
    painting = painting.to(target.device)
    finest = settings.level_count - 1
    if add:
        with torch.no_grad():
            canvas = render_painting(painting, bg_image, settings.raster)
        added, _ = _paint_phase(run, finest, add, canvas)
        painting = painting.then_paint(added)

    params = _Parameters(painting.paint, settings, run.long_side)
    decay = torch.optim.lr_scheduler.LambdaLR(params.optimizer, _JointSchedule(settings.iterations).factor)
    for it in range(settings.iterations):
        image = render_painting(replace(painting, paint=params.strokes()), bg_image, settings.raster)
        loss = image_loss(image, target, settings.weights)
        if anchor is not None:
            loss = loss + settings.weights.pixel * anchor.loss(image)
        params.step(loss)
        decay.step()
        run.report("refine", finest, it, settings.iterations, loss, image, target)
    painting = replace(painting, paint=params.strokes().detach())
    with torch.no_grad():
        final = render_painting(painting, bg_image, settings.raster)
    return Reconstruction(painting, final, background, psnr(final, target), time.perf_counter() - run.start)

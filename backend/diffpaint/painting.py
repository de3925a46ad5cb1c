"""A painting: paint and smudge strokes in one painting order; how it renders, and its stroke file.

Paint strokes composite "over" the canvas (in parallel, `render`); a smudge stroke drags the canvas
as it is at its turn (`smudge`). So a painting renders as runs: the paint strokes up to the next
smudge, composited at once, then the smudge strokes that follow them, in order; and so on.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from diffpaint.grain.fit import canvas_image
from diffpaint.render import RasterSettings, render
from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes, smudge, smudge_deposits, stamp_parameters
from diffpaint.strokes import Strokes
from diffpaint_shared import strokefile


@dataclass
class Painting:
    """Paint strokes and smudge strokes in canvas pixels, in one order.

    Smudge stroke j comes after the first `smudge_after[j]` paint strokes and after smudge strokes
    0 … j−1 (`smudge_after` never decreases); `smudge_level` is the level it was placed at. Every
    smudge stroke uses `smudge_settings`.
    """

    paint: Strokes
    smudge: SmudgeStrokes
    smudge_level: Tensor  # (M,) long
    smudge_after: Tensor  # (M,) long
    smudge_settings: SmudgeSettings

    def __len__(self) -> int:
        return len(self.paint) + len(self.smudge)

    @staticmethod
    def empty(smudge_settings: SmudgeSettings, device: torch.device | None = None) -> Painting:
        long = torch.zeros(0, dtype=torch.long, device=device)
        none = SmudgeStrokes(torch.zeros(0, 3, 2, device=device), torch.zeros(0, 2, device=device))
        return Painting(Strokes.empty(device), none, long, long, smudge_settings)

    def then_paint(self, strokes: Strokes) -> Painting:
        """This painting with `strokes` painted after everything in it."""
        return dataclasses.replace(self, paint=self.paint.cat(strokes))

    def then_smudge(self, strokes: SmudgeStrokes, level: int) -> Painting:
        """This painting with smudge `strokes` (placed at `level`) applied after everything in it."""
        m, device = len(strokes), self.smudge_level.device
        return dataclasses.replace(
            self,
            smudge=self.smudge.cat(strokes),
            smudge_level=torch.cat([self.smudge_level, torch.full((m,), level, dtype=torch.long, device=device)]),
            smudge_after=torch.cat([self.smudge_after, torch.full((m,), len(self.paint), device=device)]),
        )

    def smudge_order(self) -> Tensor:
        """Position of each smudge stroke in the painting order, (M,) long."""
        return self.smudge_after + torch.arange(len(self.smudge), device=self.smudge_after.device)

    def span(self, start: int, stop: int) -> Painting:
        """Strokes start … stop−1 of the painting order: rendered over the canvas the first `start` make,
        they make the canvas of the first `stop`."""
        order = self.smudge_order()
        m0, m1 = int((order < start).sum()), int((order < stop).sum())
        p0, p1 = max(start - m0, 0), max(stop - m1, 0)
        return dataclasses.replace(self, paint=self.paint.select(slice(p0, p1)),
                                   smudge=self.smudge.select(slice(m0, m1)), smudge_level=self.smudge_level[m0:m1],
                                   smudge_after=self.smudge_after[m0:m1] - p0)

    def to(self, device: torch.device) -> Painting:
        """A detached copy on `device`."""
        return dataclasses.replace(self, paint=self.paint.detach().to(device), smudge=self.smudge.detach().to(device),
                                   smudge_level=self.smudge_level.to(device), smudge_after=self.smudge_after.to(device))

    def scaled(self, factor: float) -> Painting:
        """The same painting on a canvas resized by `factor`."""
        return dataclasses.replace(self, paint=self.paint.scaled(factor), smudge=self.smudge.scaled(factor))

    def runs(self) -> Iterator[Run]:
        """The painting as alternating runs: paint strokes, then the smudge strokes that follow them."""
        after, counts = torch.unique_consecutive(self.smudge_after, return_counts=True)
        start = first = 0
        for a, c in zip(after.tolist(), counts.tolist(), strict=True):
            yield Run(self.paint.select(slice(start, a)), self.smudge.select(slice(first, first + c)), start, first)
            start, first = a, first + c
        yield Run(self.paint.select(slice(start, None)), self.smudge.select(slice(first, first)), start, first)


@dataclass(frozen=True)
class Run:
    """Paint strokes composited at once, then the smudge strokes that follow them, in order."""

    paint: Strokes
    smudge: SmudgeStrokes
    first_paint: int  # where `paint` starts in the painting's paint strokes
    first_smudge: int  # where `smudge` starts in its smudge strokes


PaintStep = Callable[[Run, Tensor], Tensor]  # (run, canvas) → the canvas with the run's paint strokes over it
SmudgeStep = Callable[[Run, Tensor], Tensor]  # (run, canvas) → the canvas with the run's smudges applied


def render_runs(painting: Painting, background: Tensor, paint: PaintStep,
                smudge_step: SmudgeStep | None = None) -> Tensor:
    """The painting over a background (H, W, 3), run by run: `paint` composites each run's paint strokes
    (when it has any), then `smudge_step` applies its smudges (by default `smudge`). sRGB in and out."""
    canvas = background
    for run in painting.runs():
        if len(run.paint):
            canvas = paint(run, canvas)
        canvas = smudge_step(run, canvas) if smudge_step else smudge(canvas, run.smudge, painting.smudge_settings)
    return canvas


def plain_paint(raster: RasterSettings | None = None) -> PaintStep:
    """The paint step of untextured strokes: `render`."""
    return lambda run, canvas: render(run.paint, canvas, raster).image


def render_painting(painting: Painting, background: Tensor, raster: RasterSettings | None = None) -> Tensor:
    """The painting over a background image (H, W, 3), sRGB in and out (differentiable)."""
    return render_runs(painting, background, plain_paint(raster))


def smudge_deposits_of(
    painting: Painting, background: Tensor, raster: RasterSettings | None = None, paint: PaintStep | None = None
) -> tuple[Tensor, Tensor]:
    """What each smudge stroke's stamps deposit where it lies in the painting: color (M, K, 3) sRGB and
    strength (M, K) (see `smudge_deposits`), on the canvas `paint` makes (by default plain strokes; a
    textured painting's styled paint step, so smudges drag its textured paint)."""
    colors, strengths = [], []

    def measure(run: Run, canvas: Tensor) -> Tensor:
        canvas, color, strength = smudge_deposits(canvas, run.smudge, painting.smudge_settings)
        colors.append(color)
        strengths.append(strength)
        return canvas

    with torch.no_grad():
        render_runs(painting, background, paint or plain_paint(raster), measure)
    return torch.cat(colors), torch.cat(strengths)


def deposits_as_paint(painting: Painting, color: Tensor, strength: Tensor) -> Strokes:
    """The painting as a renderer without canvas state (Blender) shows it: each smudge stroke drawn as
    plain paint, one soft stroke per stamp interval with the deposits at its ends as its two colors
    and their mean strength as its opacity, in painting order among the paint strokes."""
    parts = []
    for run in painting.runs():
        centers, radii, _ = stamp_parameters(run.smudge.points, run.smudge.radius, painting.smudge_settings.stamps)
        a, b = centers[:, :-1], centers[:, 1:]  # (m, K−1, 2) stamp intervals
        own = slice(run.first_smudge, run.first_smudge + len(run.smudge))
        ends = torch.stack([color[own, :-1], color[own, 1:]], dim=2)
        level = painting.smudge_level[own, None].expand(a.shape[:2])
        parts += [run.paint, Strokes(
            points=torch.stack([a, 0.5 * (a + b), b], dim=2).reshape(-1, 3, 2),
            radius=torch.stack([radii[:, :-1], radii[:, 1:]], dim=2).reshape(-1, 2),
            color=ends.reshape(-1, 2, 3),
            opacity=(0.5 * (strength[own, :-1] + strength[own, 1:])).reshape(-1),
            level=level.reshape(-1),
        )]
    return functools.reduce(Strokes.cat, parts)


# --- stroke file ----------------------------------------------------------------------------------


def to_stroke_file(
    painting: Painting | Strokes, width: int, height: int, background: tuple[float, float, float], metadata: dict,
    paint: PaintStep | None = None, grain: strokefile.CanvasGrain | None = None,
) -> strokefile.StrokeFile:
    """The painting (or paint strokes alone) as a stroke file on a canvas of `background` color (shaded by
    `grain` when given); smudge strokes carry their settings (in `style`) and what their stamps deposit,
    sampled here by rendering the painting over the bare canvas (its paint strokes by `paint`, plain by
    default: a textured painting's styled paint step)."""
    if isinstance(painting, Strokes):
        painting = Painting.empty(SmudgeSettings()).then_paint(painting.to(torch.device("cpu")))
    p = painting.to(torch.device("cpu"))
    bg = canvas_image(background, grain, width, height)
    deposit_color, deposit_strength = smudge_deposits_of(p, bg, paint=paint)
    order = p.smudge_order().tolist()
    is_smudge = set(order)
    paint_order = [i for i in range(len(p)) if i not in is_smudge]
    items = [_paint_item(p.paint, i, paint_order[i]) for i in range(len(p.paint))]
    style = {"name": "smudge", **dataclasses.asdict(p.smudge_settings)}
    for j in range(len(p.smudge)):
        pts, radius = p.smudge.points[j].tolist(), p.smudge.radius[j].clamp(min=0).tolist()
        colors = [tuple(c) for c in deposit_color[j].clamp(0, 1).tolist()]
        items.append(strokefile.Stroke(
            points=(tuple(pts[0]), tuple(pts[1]), tuple(pts[2])), radius=tuple(radius),
            color=(colors[0], colors[-1]), opacity=1.0, kind="smudge", level=int(p.smudge_level[j]),
            order=order[j], style=style, deposit_color=tuple(colors),
            deposit_strength=tuple(deposit_strength[j].tolist()),
        ))
    items.sort(key=lambda s: s.order)
    canvas = strokefile.Canvas(width=width, height=height, background=background, grain=grain)
    return strokefile.StrokeFile(canvas=canvas, strokes=tuple(items), metadata=metadata)


def _paint_item(s: Strokes, i: int, order: int) -> strokefile.Stroke:
    p, c = s.points[i].tolist(), s.color[i].clamp(0, 1).tolist()
    return strokefile.Stroke(
        points=(tuple(p[0]), tuple(p[1]), tuple(p[2])), radius=tuple(s.radius[i].clamp(min=0).tolist()),
        color=(tuple(c[0]), tuple(c[1])), opacity=float(s.opacity[i].clamp(0, 1)), kind="paint",
        level=int(s.level[i]), order=order, style={"name": "digital"},
    )


def from_stroke_file(doc: strokefile.StrokeFile, device: torch.device | None = None) -> Painting:
    """The paint and smudge strokes of a file, in its painting order (deposits are for Blender: a
    smudge is recomputed from the canvas it meets)."""
    strokes = sorted(doc.strokes, key=lambda s: s.order)
    paint = [s for s in strokes if s.kind == "paint"]
    smudges = [s for s in strokes if s.kind == "smudge"]
    after, painted = [], 0
    for s in strokes:
        painted += s.kind == "paint"
        if s.kind == "smudge":
            after.append(painted)

    def tensor(values: list, dtype: torch.dtype = torch.float32) -> Tensor:
        return torch.tensor(values, dtype=dtype, device=device)

    painting = Painting.empty(_smudge_settings(smudges), device)
    if paint:
        painting.paint = Strokes(tensor([s.points for s in paint]), tensor([s.radius for s in paint]),
                              tensor([s.color for s in paint]), tensor([s.opacity for s in paint]),
                              tensor([s.level for s in paint], torch.long))
    if smudges:
        painting.smudge = SmudgeStrokes(tensor([s.points for s in smudges]), tensor([s.radius for s in smudges]))
        painting.smudge_level = tensor([s.level for s in smudges], torch.long)
        painting.smudge_after = tensor(after, torch.long)
    return painting


def _smudge_settings(smudges: list[strokefile.Stroke]) -> SmudgeSettings:
    """The smudge settings the file's smudge strokes record in their style (all the same)."""
    names = {f.name for f in dataclasses.fields(SmudgeSettings)}
    found = {tuple(sorted((k, v) for k, v in s.style.items() if k in names)) for s in smudges}
    if len(found) > 1:
        raise strokefile.StrokeFileError("smudge strokes record different smudge settings in their style; "
                                         "one painting uses one")
    try:
        return SmudgeSettings(**dict(found.pop())) if found else SmudgeSettings()
    except (TypeError, ValueError) as e:
        raise strokefile.StrokeFileError(f"smudge stroke style: {e}") from None

"""The bpy-free maths of bringing strokes into Blender and back: where canvas pixels lie in the world,
how densely a stroke is sampled, its points, radii and colors along the curve, and the quadratic
Bézier basis the export fits with. numpy and the standard library only (testable without Blender).

World mapping (the one convention every other module relies on): the painting lies in the XZ plane
(y = 0, Grease Pencil's front-view convention), centered at the origin, uniformly scaled so the
canvas's long side is ``CANVAS_LONG_SIDE`` world units. Canvas pixel x grows to world +X, canvas
pixel y (down) grows to world -Z. Radii become world units with the same scale, since Grease
Pencil v3 stores point radius in world units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from diffpaint_shared.curves import lerp, quadratic_bezier
from diffpaint_shared.strokefile import Stroke

CANVAS_LONG_SIDE = 2.0  # world units spanned by the canvas's longer side
MIN_POINTS, MAX_POINTS = 8, 32


# --- canvas <-> world ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CanvasMapping:
    width: int
    height: int

    @property
    def scale(self) -> float:
        """World units per canvas pixel."""
        return CANVAS_LONG_SIDE / max(self.width, self.height)

    @property
    def world_size(self) -> tuple[float, float]:
        return (self.width * self.scale, self.height * self.scale)

    def to_world(self, xy: npt.ArrayLike) -> np.ndarray:
        """Canvas pixel coordinates (..., 2) to world positions (..., 3) on the y = 0 plane."""
        xy = np.asarray(xy, dtype=np.float64)
        out = np.zeros((*xy.shape[:-1], 3))
        out[..., 0] = (xy[..., 0] - self.width / 2) * self.scale
        out[..., 2] = (self.height / 2 - xy[..., 1]) * self.scale
        return out


    def to_canvas(self, world: npt.ArrayLike) -> np.ndarray:
        """The inverse of ``to_world``: positions (..., 3) in the painting's plane to canvas pixels (..., 2)."""
        world = np.asarray(world, dtype=np.float64)
        return np.stack([world[..., 0] / self.scale + self.width / 2,
                         self.height / 2 - world[..., 2] / self.scale], axis=-1)


# --- sampling -----------------------------------------------------------------------------------


def bezier_length(s: Stroke) -> float:
    """Control-polygon length: an upper bound on the arc length, cheap and good enough for sampling."""
    (x0, y0), (x1, y1), (x2, y2) = s.points
    return math.hypot(x1 - x0, y1 - y0) + math.hypot(x2 - x1, y2 - y1)


def points_per_stroke(strokes: Sequence[Stroke]) -> int:
    """One point count for a whole layer, so the Build modifier (which advances per point) spends the
    same time on every stroke. Samples sit at most about half a radius apart, which keeps round-capped
    outlines smooth; the layer's most demanding stroke decides. With smudges, the count is raised so
    that every stamp of the smudge with the most stamps lands on a point (its deposits are then kept
    exactly, and read back exactly on export)."""
    need = max(
        (math.ceil(2.0 * bezier_length(s) / max(min(s.radius), 0.5)) + 1 for s in strokes),
        default=MIN_POINTS,
    )
    n = int(min(max(need, MIN_POINTS), MAX_POINTS))
    stamps = max((len(s.deposit_strength) for s in strokes if s.kind == "smudge"), default=0)
    if stamps >= 2:
        n = (stamps - 1) * math.ceil((n - 1) / (stamps - 1)) + 1
    return n


@dataclass(frozen=True)
class SampledStrokes:
    """Per-point arrays for strokes of ``n`` points each (at t = j / (n - 1)), in canvas units and sRGB."""

    n: int
    xy: np.ndarray  # (strokes, n, 2) pixels
    radius: np.ndarray  # (strokes, n) pixels
    srgb: np.ndarray  # (strokes, n, 3)
    opacity: np.ndarray  # (strokes, n)


def sample_strokes(strokes: Sequence[Stroke], n: int) -> SampledStrokes:
    """Points along each Bézier with radius and color linear in t; a smudge's points take its
    deposits (color and strength, interpolated between stamps) as color and opacity."""
    t = np.linspace(0.0, 1.0, n)[None, :, None]  # (1, n, 1)
    pts = np.array([s.points for s in strokes], dtype=np.float64)  # (k, 3, 2)
    p0, p1, p2 = pts[:, None, 0], pts[:, None, 1], pts[:, None, 2]
    xy = quadratic_bezier(p0, p1, p2, t)
    rad = np.array([s.radius for s in strokes], dtype=np.float64)  # (k, 2)
    radius = lerp(rad[:, :1], rad[:, 1:], t[..., 0])
    col = np.array([s.color for s in strokes], dtype=np.float64)  # (k, 2, 3)
    srgb = lerp(col[:, None, 0], col[:, None, 1], t)
    opacity = np.repeat(np.array([[s.opacity] for s in strokes], dtype=np.float64), n, axis=1)
    for i, s in enumerate(strokes):
        if s.kind == "smudge":
            srgb[i], opacity[i] = sample_deposits(s, t[0, :, 0])
    return SampledStrokes(n=n, xy=xy, radius=radius, srgb=srgb, opacity=opacity)


def sample_deposits(s: Stroke, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A smudge's deposited color (len(t), 3) and strength (len(t),) at curve parameters ``t``,
    linear between its stamps at t = i / (stamps - 1)."""
    stamps_t = np.linspace(0.0, 1.0, len(s.deposit_strength))
    color = np.asarray(s.deposit_color, dtype=np.float64)
    srgb = np.stack([np.interp(t, stamps_t, color[:, c]) for c in range(3)], axis=-1)
    return srgb, np.interp(t, stamps_t, np.asarray(s.deposit_strength, dtype=np.float64))


def bezier_basis(t: np.ndarray) -> np.ndarray:
    """The quadratic Bézier's Bernstein basis (len(t), 3) at parameters ``t``: the weights of the start,
    control and end points (the curve evaluated at unit control points)."""
    start, control, end = np.eye(3)
    return quadratic_bezier(start, control, end, np.asarray(t, dtype=np.float64)[:, None])


def duration_for_rate(stroke_count: int, strokes_per_second: float, fps: float) -> int:
    """Frames an animation painting ``stroke_count`` strokes at ``strokes_per_second`` lasts."""
    if strokes_per_second <= 0 or fps <= 0:
        raise ValueError("strokes per second and the frame rate must be positive")
    return max(1, math.ceil(stroke_count / strokes_per_second * fps - 1e-9))

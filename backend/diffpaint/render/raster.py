"""Soft rasterisation of stroke stamp chains into per-(tile, stroke) fragments.

A stroke is a chain of stamps along its Bézier. Between consecutive curve samples the stamp is
swept continuously (a capsule whose radius varies linearly), which is the limit of infinitely
dense circular stamps and matches how Grease Pencil draws a stroke between its points. Coverage
is a sigmoid of the signed distance to that chain, so positions and radii receive gradients
through the soft edge. Every (tile, stroke) pair is evaluated at once; only tiles that a
stroke's bounding box touches are evaluated, so cost follows covered area.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from diffpaint.render.bezier import bounding_boxes, curve_parameters, lerp_along, quadratic_bezier
from diffpaint.render.tiles import TileGrid


@dataclass(frozen=True)
class RasterSettings:
    samples: int = 9  # curve samples per stroke (samples - 1 swept segments)
    edge: float = 0.25  # sigmoid scale in px: 10–90 % over ~0.55 px, like Grease Pencil's anti-aliased edge
    tile: int = 16


@dataclass
class Fragments:
    """Coverage of each (tile, stroke) pair, sorted by tile, then by painting order."""

    tile_index: Tensor  # (P,) long
    stroke_index: Tensor  # (P,) long
    coverage: Tensor  # (P, tile*tile) in [0, 1], before stroke opacity
    color: Tensor  # (P, tile*tile, 3)


def bin_strokes(boxes: Tensor, grid: TileGrid) -> tuple[Tensor, Tensor]:
    """All (tile, stroke) pairs whose tile meets the stroke's box, sorted by (tile, stroke)."""
    t = grid.tile
    x0 = (boxes[:, 0] / t).floor().long().clamp(0, grid.cols - 1)
    y0 = (boxes[:, 1] / t).floor().long().clamp(0, grid.rows - 1)
    x1 = (boxes[:, 2] / t).floor().long().clamp(0, grid.cols - 1)
    y1 = (boxes[:, 3] / t).floor().long().clamp(0, grid.rows - 1)
    on_canvas = (boxes[:, 2] >= 0) & (boxes[:, 3] >= 0) & (boxes[:, 0] < grid.width) & (boxes[:, 1] < grid.height)
    span_x = x1 - x0 + 1
    counts = span_x * (y1 - y0 + 1) * on_canvas
    stroke = torch.repeat_interleave(torch.arange(len(boxes), device=boxes.device), counts)
    first = torch.cumsum(counts, 0) - counts
    local = torch.arange(len(stroke), device=boxes.device) - first[stroke]
    tile = (y0[stroke] + local // span_x[stroke]) * grid.cols + x0[stroke] + local % span_x[stroke]
    order = torch.argsort(tile * len(boxes) + stroke)
    return tile[order], stroke[order]


def rasterize(
    points: Tensor, radius: Tensor, color: Tensor, grid: TileGrid, settings: RasterSettings
) -> Fragments:
    """Soft coverage and colour of every stroke on every tile it touches.

    points (N, 3, 2), radius (N, 2), color (N, 2, 3), all in pixels / sRGB.
    """
    with torch.no_grad():
        boxes = bounding_boxes(points, radius, margin=6.0 * settings.edge)
        tile_index, stroke_index = bin_strokes(boxes, grid)

    t = curve_parameters(settings.samples, points)
    centres = quadratic_bezier(points, t)  # (N, K, 2)
    radii = lerp_along(radius, t)  # (N, K)
    segments = settings.samples - 1

    # Segment endpoints per pair: (P, 1, S)
    a = centres[stroke_index, :-1]
    ab = centres[stroke_index, 1:] - a
    ra = radii[stroke_index, :-1][:, None]
    dr = (radii[stroke_index, 1:] - radii[stroke_index, :-1])[:, None]
    ax, ay = a[..., 0][:, None], a[..., 1][:, None]
    abx, aby = ab[..., 0][:, None], ab[..., 1][:, None]

    # Pixel centres per pair: (P, T*T, 1)
    pix = grid.tile_origins(points)[tile_index][:, None] + grid.local_pixel_centres(points)[None]
    px, py = pix[..., 0:1], pix[..., 1:2]

    # Signed distance to each swept segment, u = position along it: (P, T*T, S)
    apx, apy = px - ax, py - ay
    u = ((apx * abx + apy * aby) / (abx * abx + aby * aby + 1e-8)).clamp(0.0, 1.0)
    dx, dy = apx - u * abx, apy - u * aby
    signed = torch.sqrt(dx * dx + dy * dy + 1e-8) - (ra + u * dr)

    nearest, seg = signed.min(dim=-1)  # the stroke is the union of its segments
    t_near = (seg + u.gather(-1, seg[..., None]).squeeze(-1)) / segments
    coverage = torch.sigmoid(-nearest / settings.edge)
    c0 = color[stroke_index, 0][:, None]
    c1 = color[stroke_index, 1][:, None]
    frag_color = c0 + t_near[..., None] * (c1 - c0)
    return Fragments(tile_index, stroke_index, coverage, frag_color)

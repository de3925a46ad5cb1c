"""Differentiable stroke renderer: rasteriser (stamp chains → fragments) + "over" compositor.

Colours are interpolated along strokes in sRGB, as the stroke file defines them, and blended in
linear light, as Blender's Grease Pencil does (see `color`).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from diffpaint.render.color import linear_to_srgb, srgb_to_linear
from diffpaint.render.composite import composite_over
from diffpaint.render.raster import Fragments, RasterSettings, rasterize
from diffpaint.render.tiles import TileGrid
from diffpaint.strokes import Strokes


@dataclass
class Rendered:
    image: Tensor  # (H, W, 3) sRGB
    alpha: Tensor  # (H, W) combined stroke coverage
    fragments: Fragments  # per-(tile, stroke) coverage, for losses that look at strokes one by one
    grid: TileGrid


def render(strokes: Strokes, background: Tensor, settings: RasterSettings | None = None) -> Rendered:
    """Paint strokes in order over a background image (H, W, 3); colours in and out are sRGB."""
    settings = settings or RasterSettings()
    height, width = background.shape[:2]
    grid = TileGrid(height, width, settings.tile)
    frags = rasterize(strokes.points, strokes.radius, strokes.color, grid, settings, blend_space=srgb_to_linear)
    image, alpha = composite_over(frags, strokes.opacity, srgb_to_linear(background), grid)
    return Rendered(linear_to_srgb(image), alpha, frags, grid)


__all__ = ["Fragments", "RasterSettings", "Rendered", "TileGrid", "render"]

"""Differentiable stroke renderer: rasteriser (stamp chains → fragments) + "over" compositor."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

from diffpaint.render.composite import composite_over
from diffpaint.render.raster import RasterSettings, rasterize
from diffpaint.render.tiles import TileGrid
from diffpaint.strokes import Strokes


@dataclass
class Rendered:
    image: Tensor  # (H, W, 3) sRGB
    alpha: Tensor  # (H, W) combined stroke coverage


def render(strokes: Strokes, background: Tensor, settings: RasterSettings | None = None) -> Rendered:
    """Paint strokes in order over a background image (H, W, 3)."""
    settings = settings or RasterSettings()
    height, width = background.shape[:2]
    grid = TileGrid(height, width, settings.tile)
    frags = rasterize(strokes.points, strokes.radius, strokes.color, grid, settings)
    image, alpha = composite_over(frags, strokes.opacity, background, grid)
    return Rendered(image, alpha)


__all__ = ["RasterSettings", "Rendered", "render"]

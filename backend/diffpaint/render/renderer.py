"""The renderer as three stages, in the manner of pytorch3d's: rasterizer → shader → compositor.

The rasterizer turns strokes into fragments (per-(tile, stroke) coverage and color, `raster`); a
shader may change their coverage and color (plain strokes need none; textured strokes take Grease
Pencil's texture rule, `diffpaint.style.shader`); the compositor lays them "over" the background in
painting order (`composite`). Colors are interpolated along strokes in sRGB, as the stroke file
defines them, and blended in linear light, as Grease Pencil blends them.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from diffpaint.render.composite import Rendered, composite
from diffpaint.render.raster import Fragments, RasterSettings, rasterize
from diffpaint.render.tiles import TileGrid
from diffpaint.strokes import Strokes
from diffpaint_shared.color import srgb_to_linear

Shader = Callable[[Fragments], Fragments]  # fragments of the strokes being rendered → what they show


def canvas_grid(background: Tensor, settings: RasterSettings) -> TileGrid:
    """The tiles of a canvas the size of `background` (H, W, ...)."""
    return TileGrid(background.shape[0], background.shape[1], settings.tile)


def rasterize_strokes(strokes: Strokes, grid: TileGrid, settings: RasterSettings) -> Fragments:
    """The rasterizer stage: strokes' fragments, their colors in linear light (the blend space)."""
    return rasterize(strokes.points, strokes.radius, strokes.color, grid, settings, blend_space=srgb_to_linear)


def render(strokes: Strokes, background: Tensor, settings: RasterSettings | None = None,
           shader: Shader | None = None) -> Rendered:
    """Paint strokes in order over a background image (H, W, 3), shaded by `shader` (plain color
    without one); colors in and out are sRGB."""
    settings = settings or RasterSettings()
    grid = canvas_grid(background, settings)
    frags = rasterize_strokes(strokes, grid, settings)
    return composite(shader(frags) if shader else frags, strokes.opacity, background, grid)

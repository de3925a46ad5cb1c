"""The renderer as three stages, in the manner of pytorch3d's: rasterizer → shader → compositor.

The rasterizer turns strokes into fragments (per-(tile, stroke) coverage and color, `raster`); a
shader may change their coverage and color (plain strokes need none; textured strokes take Grease
Pencil's texture rule, `diffpaint.style.shader`); the compositor lays them "over" the background in
painting order (`composite`). Colors are interpolated along strokes in sRGB, as the stroke file
defines them, and blended in linear light, as Grease Pencil blends them.

Memory follows the fragments, (tile, stroke) pairs, and what autograd keeps of them. On a large
canvas they are made, shaded and composited a group of whole tiles at a time, each group checkpointed
(made again in the backward pass), so memory is bounded by a group, not by the canvas; the image
and gradients are those of the whole canvas at once, up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from diffpaint.render.composite import Rendered, composite, composite_tiles, over_background
from diffpaint.render.raster import (
    FragmentGroups,
    Fragments,
    RasterSettings,
    bin_segments,
    checkpointed,
    rasterize,
    rasterize_entries,
    sample_strokes,
)
from diffpaint.render.tiles import TileGrid, TileGroup, group_tiles
from diffpaint.strokes import Strokes
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear

Shader = Callable[[Fragments], Fragments]  # fragments of the strokes being rendered → what they show

# Segment entries × tile pixels rasterized at once. A fragment pixel costs about 100 bytes in the forward
# and backward passes, so a group of this size peaks near 1.5 GiB; a 1,024 px canvas of 2,048 strokes
# mostly fits in one group (no checkpointing, no extra host read), a 2,048 px canvas of 8,000 in a few.
GROUP_PIXELS = 1 << 25


def canvas_grid(background: Tensor, settings: RasterSettings) -> TileGrid:
    """The tiles of a canvas the size of `background` (H, W, ...)."""
    return TileGrid(background.shape[0], background.shape[1], settings.tile)


def rasterize_strokes(strokes: Strokes, grid: TileGrid, settings: RasterSettings) -> Fragments:
    """The rasterizer stage: strokes' fragments, their colors in linear light (the blend space)."""
    return rasterize(strokes.points, strokes.radius, strokes.color, grid, settings, blend_space=srgb_to_linear)


def render(strokes: Strokes, background: Tensor, settings: RasterSettings | None = None,
           shader: Shader | None = None, group_pixels: int = GROUP_PIXELS) -> Rendered:
    """Paint strokes in order over a background image (H, W, 3), shaded by `shader` (plain color
    without one); colors in and out are sRGB. Tiles are rasterized in groups of about `group_pixels`
    segment-entry pixels (see `GROUP_PIXELS`)."""
    settings = settings or RasterSettings()
    grid = canvas_grid(background, settings)
    samples = sample_strokes(strokes.points, strokes.radius, strokes.color, settings, blend_space=srgb_to_linear)
    entries = bin_segments(samples, grid, settings)
    groups = group_tiles(entries.tile, grid.count, group_pixels // grid.tile**2)

    def fragments_of(group: TileGroup) -> Fragments:
        frags = rasterize_entries(samples, entries.part(group.first_entry, group.end_entry), grid, settings)
        return shader(frags) if shader else frags

    if len(groups) == 1:
        return composite(fragments_of(groups[0]), strokes.opacity, background, grid)

    def composited(group: TileGroup) -> tuple[Tensor, Tensor]:
        return composite_tiles(fragments_of(group), strokes.opacity, group.first_tile,
                               group.end_tile - group.first_tile)

    rgb, log_t = zip(*(checkpointed(composited, group) for group in groups), strict=True)
    image, alpha = over_background(torch.cat(rgb), torch.cat(log_t), srgb_to_linear(background), grid)
    return Rendered(linear_to_srgb(image), alpha, FragmentGroups(groups, fragments_of), grid)

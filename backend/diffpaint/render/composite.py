"""The compositor: fragments "over" a background in painting order, all strokes at once."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from diffpaint.render.deterministic import cumulative_sum
from diffpaint.render.raster import Fragments
from diffpaint.render.tiles import TileGrid
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear

_MAX_ALPHA = 1.0 - 1e-6  # keeps log(1 - alpha) finite


@dataclass
class Rendered:
    image: Tensor  # (H, W, 3) sRGB
    alpha: Tensor  # (H, W) combined stroke coverage
    fragments: Fragments  # per-(tile, stroke) coverage as composited, for losses that look at strokes one by one
    grid: TileGrid


def composite(frags: Fragments, opacity: Tensor, background: Tensor, grid: TileGrid) -> Rendered:
    """Fragments (colors in linear light) over an sRGB background (H, W, 3), blended in linear light as
    Grease Pencil blends them; the image comes back in sRGB. opacity: (N,) per stroke."""
    image, alpha = composite_over(frags, opacity, srgb_to_linear(background), grid)
    return Rendered(linear_to_srgb(image), alpha, frags, grid)


def fragment_weights(frags: Fragments, opacity: Tensor) -> tuple[Tensor, Tensor]:
    """Each fragment pixel's share of the final color (its alpha times the transmittance of the strokes
    painted after it there), and its log(1 − alpha); both (P, tile*tile). See `composite_over`.

    Alpha is scaled by `_MAX_ALPHA`, not clamped to it: a clamp would cut the opacity gradient of every
    pixel a stroke covers fully at opacity 1, so a solid stroke could never learn to fade.
    """
    alpha = (frags.coverage * opacity[frags.stroke_index][:, None]).clamp(max=1.0) * _MAX_ALPHA
    log_t = torch.log1p(-alpha)
    log_t64 = log_t.double()
    suffix = torch.flip(cumulative_sum(torch.flip(log_t64, [0]), 0), [0])  # inclusive, global
    suffix = torch.cat([suffix, suffix.new_zeros(1, suffix.shape[1])])
    next_tile_start = torch.searchsorted(frags.tile_index, frags.tile_index, right=True)
    after = suffix[:-1] - log_t64 - suffix[next_tile_start]
    return alpha * torch.exp(after).to(alpha.dtype), log_t


def composite_over(frags: Fragments, opacity: Tensor, background: Tensor, grid: TileGrid) -> tuple[Tensor, Tensor]:
    """Composite fragments "over" a background in stroke order, in the fragments' color space.

    Sequential "over" C ← a·c + (1 − a)·C unrolls to C = Σ_s a_s c_s Π_{j>s}(1 − a_j) + bg Π_s(1 − a_s),
    so each fragment's weight is its alpha times the transmittance of the strokes painted after it
    on the same pixel: a suffix sum of log(1 − a) within its tile. Fragments are sorted by tile, then
    by order, so one global reverse cumulative sum minus the part belonging to later tiles gives every
    suffix at once. The sum runs in float64 because it spans all tiles.

    opacity: (N,).  background: (H, W, 3).  Returns image (H, W, 3) and coverage alpha (H, W).
    """
    weight, log_t = fragment_weights(frags, opacity)
    tiles_rgb = background.new_zeros(grid.count, grid.tile**2, 3)
    tiles_rgb = tiles_rgb.index_add(0, frags.tile_index, weight[..., None] * frags.color)
    tiles_log_t = background.new_zeros(grid.count, grid.tile**2).index_add(0, frags.tile_index, log_t)
    transmittance = torch.exp(tiles_log_t)[..., None]
    image = tiles_rgb + transmittance * grid.to_tiles(background)
    return grid.from_tiles(image), grid.from_tiles(1.0 - transmittance)[..., 0]

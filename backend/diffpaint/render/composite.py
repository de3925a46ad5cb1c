"""The compositor: fragments "over" a background in painting order, all strokes at once, a group of
whole tiles at a time or the whole canvas."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffpaint.render.deterministic import cumulative_sum
from diffpaint.render.raster import FragmentGroups, Fragments
from diffpaint.render.tiles import TileGrid
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear

_MAX_ALPHA = 1.0 - 1e-6  # keeps log(1 - alpha) finite
_SUM_BLOCK = 64


@dataclass
class Rendered:
    image: Tensor  # (H, W, 3) sRGB
    alpha: Tensor  # (H, W) combined stroke coverage
    # per-(tile, stroke) coverage as composited, for losses that look at strokes one by one; on large
    # canvases made group by group on demand (both sum per-group values with `sum_of`)
    fragments: Fragments | FragmentGroups
    grid: TileGrid


def composite(frags: Fragments, opacity: Tensor, background: Tensor, grid: TileGrid) -> Rendered:
    """Fragments (colors in linear light) over an sRGB background (H, W, 3), blended in linear light as
    Grease Pencil blends them; the image comes back in sRGB. opacity: (N,) per stroke."""
    image, alpha = composite_over(frags, opacity, srgb_to_linear(background), grid)
    return Rendered(linear_to_srgb(image), alpha, frags, grid)


def fragment_weights(frags: Fragments, opacity: Tensor) -> tuple[Tensor, Tensor]:
    """Each fragment pixel's share of the final color (its alpha times the transmittance of the strokes
    painted after it there), and its log(1 − alpha); both (P, tile*tile). See `composite_tiles`.

    Alpha is scaled by `_MAX_ALPHA`, not clamped to it: a clamp would cut the opacity gradient of every
    pixel a stroke covers fully at opacity 1, so a solid stroke could never learn to fade.
    """
    alpha = (frags.coverage * opacity[frags.stroke_index][:, None]).clamp(max=1.0) * _MAX_ALPHA
    log_t = torch.log1p(-alpha)
    return alpha * _TransmittanceAfter.apply(log_t, frags.tile_index), log_t


class _TransmittanceAfter(torch.autograd.Function):
    """exp of the sum of log(1 − a) over the fragments after each one in its tile (fragments sorted by tile):
    (P, T*T) → (P, T*T). Sums run in float64 over the whole canvas (prefix sums minus the part before or
    after the tile), in both passes; the backward is written by hand, as one prefix sum: autograd's
    through reversed cumulative sums flipped and copied the float64 tensors six times."""

    @staticmethod
    def forward(ctx: Any, log_t: Tensor, tile_index: Tensor) -> Tensor:
        total = _exclusive_sums(log_t)  # (P + 1, T*T): total[i] = Σ_{j < i}
        next_tile = torch.searchsorted(tile_index, tile_index, right=True)
        after = total.index_select(0, next_tile).sub_(total[1:])
        transmittance = after.exp_().to(log_t.dtype)
        ctx.save_for_backward(transmittance, tile_index)
        return transmittance

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        transmittance, tile_index = ctx.saved_tensors
        # ∂T_i/∂log_t_j = T_i for every j after i in its tile: each log_t_j gets Σ g_i T_i over the i before it there.
        total = _exclusive_sums(grad * transmittance)
        tile_start = torch.searchsorted(tile_index, tile_index)
        before = total[:-1].sub_(total.index_select(0, tile_start))
        return before.to(grad.dtype), None


def _exclusive_sums(x: Tensor) -> Tensor:
    """Σ_{j < i} x_j along dim 0 in float64, for i = 0 … len(x): (P, C) → (P + 1, C). Summed within blocks of
    `_SUM_BLOCK` rows, then each block offset by the blocks before it: on the CPU one cumulative sum along
    dim 0 of (P, 16) took ~2.5× as long (bench/RESULTS.md "Cache-sized passes")."""
    n, block = len(x), _SUM_BLOCK
    count = -(-(n + 1) // block)
    padded = x.new_zeros(count * block, x.shape[1], dtype=torch.float64)
    padded[1 : n + 1] = x
    sums = cumulative_sum(padded.view(count, block, -1), 1)
    sums[1:] += cumulative_sum(sums[:-1, -1], 0)[:, None]
    return sums.view(count * block, -1)[: n + 1]


def composite_over(frags: Fragments, opacity: Tensor, background: Tensor, grid: TileGrid) -> tuple[Tensor, Tensor]:
    """Composite fragments "over" a background in stroke order, in the fragments' color space.

    opacity: (N,).  background: (H, W, 3).  Returns image (H, W, 3) and coverage alpha (H, W).
    """
    return over_background(*composite_tiles(frags, opacity, 0, grid.count), background, grid)


def composite_tiles(frags: Fragments, opacity: Tensor, first_tile: int, tiles: int) -> tuple[Tensor, Tensor]:
    """The painted color Σ_s a_s c_s Π_{j>s}(1 − a_j) (tiles, T*T, 3) and log-transmittance Σ_s log(1 − a_s)
    (tiles, T*T) of tiles first_tile, … first_tile + tiles − 1, which hold all of `frags`' fragments.

    Sequential "over" C ← a·c + (1 − a)·C unrolls to C = Σ_s a_s c_s Π_{j>s}(1 − a_j) + bg Π_s(1 − a_s),
    so each fragment's weight is its alpha times the transmittance of the strokes painted after it
    on the same pixel: a suffix sum of log(1 − a) within its tile. Fragments are sorted by tile, then
    by order, so one reverse cumulative sum minus the part belonging to later tiles gives every
    suffix at once. The sum runs in float64 because it spans many tiles.
    """
    weight, log_t = fragment_weights(frags, opacity)
    local = frags.tile_index - first_tile
    pixels = frags.coverage.shape[1]
    rgb = weight.new_zeros(tiles, pixels, 3).index_add(0, local, weight[..., None] * frags.color)
    return rgb, log_t.new_zeros(tiles, pixels).index_add(0, local, log_t)


def over_background(rgb: Tensor, log_t: Tensor, background: Tensor, grid: TileGrid) -> tuple[Tensor, Tensor]:
    """Every tile's painted color and log-transmittance (`composite_tiles`) over the background (H, W, 3):
    the image (H, W, 3) and the strokes' coverage alpha (H, W)."""
    transmittance = torch.exp(log_t)[..., None]
    image = rgb + transmittance * grid.to_tiles(background)
    return grid.from_tiles(image), grid.from_tiles(1.0 - transmittance)[..., 0]

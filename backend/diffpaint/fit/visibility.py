"""How much of each stroke the final painting shows (its share of the composited canvas, in px²), and how
much of it later strokes cover."""

from __future__ import annotations

import torch
from torch import Tensor

from diffpaint.render import Fragments, Rendered
from diffpaint.render.composite import fragment_weights
from diffpaint.strokes import Strokes


def visible_area(strokes: Strokes, rendered: Rendered) -> Tensor:
    """(N,) on-canvas area each stroke shows in `rendered` (its render over any background), in px².

    A pixel counts by the stroke's compositing weight there (its alpha times the transmittance of the
    strokes painted after it), so a faint stroke, one covered by later strokes and one off the canvas
    all show little: the sum is the area a fully opaque, uncovered stroke would need to look the same.
    """
    def shown(frags: Fragments) -> Tensor:
        weight, _ = fragment_weights(frags, strokes.opacity)
        per_fragment = (weight * _on_canvas(rendered, frags)).sum(dim=1)
        return per_fragment.new_zeros(len(strokes)).index_add(0, frags.stroke_index, per_fragment)

    return rendered.fragments.sum_of(shown)


def hidden_footprint(strokes: Strokes, rendered: Rendered, target: Tensor) -> tuple[Tensor, Tensor]:
    """(N,) px² of each stroke's own on-canvas alpha that later strokes cover, and (N, 3) the mean color of
    `target` (H, W, 3) under that covered part (under the stroke's whole footprint where nothing covers it)."""
    target_tiles = rendered.grid.to_tiles(target)

    def sums(frags: Fragments) -> Tensor:
        weight, log_t = fragment_weights(frags, strokes.opacity)
        on_canvas = _on_canvas(rendered, frags)
        alpha = -torch.expm1(log_t) * on_canvas
        hidden = (alpha - weight * on_canvas).clamp(min=0)
        under = target_tiles[frags.tile_index]  # (P, tile², 3)
        return weight.new_zeros(len(strokes), 8).index_add(0, frags.stroke_index, torch.cat([
            hidden.sum(dim=1, keepdim=True), (hidden[..., None] * under).sum(dim=1),
            alpha.sum(dim=1, keepdim=True), (alpha[..., None] * under).sum(dim=1)], dim=1))

    total = rendered.fragments.sum_of(sums)
    hidden_area = total[:, 0]
    mean = torch.where(hidden_area[:, None] > 1e-3, total[:, 1:4] / hidden_area.clamp(min=1e-6)[:, None],
                       total[:, 5:8] / total[:, 4:5].clamp(min=1e-6))
    return hidden_area, mean


def _on_canvas(rendered: Rendered, frags: Fragments) -> Tensor:
    """(P, tile²): 1 on the fragments' canvas pixels, 0 on the edge tiles' padding."""
    grid = rendered.grid
    return grid.to_tiles(rendered.alpha.new_ones(grid.height, grid.width, 1))[..., 0][frags.tile_index]

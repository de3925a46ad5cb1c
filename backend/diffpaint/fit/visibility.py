"""How much of each stroke the final painting shows: its share of the composited canvas, in px²."""

from __future__ import annotations

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
    grid = rendered.grid
    on_canvas = grid.to_tiles(strokes.opacity.new_ones(grid.height, grid.width, 1))[..., 0]  # 0 on edge tiles' padding

    def shown(frags: Fragments) -> Tensor:
        weight, _ = fragment_weights(frags, strokes.opacity)
        per_fragment = (weight * on_canvas[frags.tile_index]).sum(dim=1)
        return per_fragment.new_zeros(len(strokes)).index_add(0, frags.stroke_index, per_fragment)

    return rendered.fragments.sum_of(shown)

"""Large canvases render a group of tiles at a time, with checkpointing: the same image, per-stroke sums and
gradients as the whole canvas at once, on a real painting."""

from pathlib import Path

import torch

from diffpaint.fit.losses import labels_to_tiles, segmentation_loss
from diffpaint.fit.placement import place_strokes
from diffpaint.fit.segmentation import segment
from diffpaint.fit.visibility import visible_area
from diffpaint.imageio import load_image
from diffpaint.render import FragmentGroups, Fragments, RasterSettings, render
from diffpaint.render.tiles import TileGroup, group_tiles
from diffpaint.strokes import Strokes
from diffpaint.style.phase import initial_style
from diffpaint.style.shader import texture_shader, textured_raster

WHOLE = 1 << 40  # a budget no canvas here reaches: one group
SMALL = 1 << 13  # a few hundred entries of 4×4 tiles per group: many groups


def _placed(painting_path: Path, size: int, count: int) -> tuple[torch.Tensor, Strokes]:
    target, _ = load_image(painting_path, size)
    canvas = torch.ones_like(target)
    strokes = place_strokes(target, canvas, count, size / 3.0, 1, torch.Generator().manual_seed(0))
    return target, strokes


def _loss_and_grads(target: torch.Tensor, strokes: Strokes, group_pixels: int, settings: RasterSettings,
                    shaded: bool) -> tuple[Strokes, list[torch.Tensor]]:
    params = [strokes.points.clone(), strokes.radius.clone(), strokes.color.clone(), strokes.opacity.clone()]
    for p in params:
        p.requires_grad_()
    live = Strokes(*params, strokes.level)
    shader = texture_shader(live, initial_style("oil", len(live))) if shaded else None
    rendered = render(live, torch.ones_like(target), settings, shader, group_pixels=group_pixels)
    labels = labels_to_tiles(segment(target, regions=8), rendered.grid, 8)
    spill = segmentation_loss(rendered.fragments, labels, len(live), 8, live.opacity)
    loss = (rendered.image - target).abs().mean() + rendered.alpha.mean() + 0.1 * spill
    loss.backward()
    with torch.no_grad():
        shown = visible_area(live, rendered)
    return rendered, [rendered.image.detach(), rendered.alpha.detach(), spill.detach(), shown,
                      *(p.grad for p in params)]


def test_tile_groups_render_and_differentiate_like_the_whole_canvas(painting_path: Path) -> None:
    target, strokes = _placed(painting_path, 64, 80)
    for settings, shaded in ((RasterSettings(), False), (textured_raster(), True)):
        whole, expected = _loss_and_grads(target, strokes, WHOLE, settings, shaded)
        grouped, actual = _loss_and_grads(target, strokes, SMALL, settings, shaded)
        assert isinstance(whole.fragments, Fragments)
        assert isinstance(grouped.fragments, FragmentGroups) and len(grouped.fragments.groups) > 5
        names = ["image", "alpha", "segmentation", "visible area", "d points", "d radius", "d color", "d opacity"]
        for name, a, b in zip(names, expected, actual, strict=True):
            scale = a.abs().max().clamp(min=1e-12)
            print(f"{'textured' if shaded else 'plain'} {name}: max |Δ| / max {float((a - b).abs().max() / scale):.2e}")
            assert torch.allclose(a, b, rtol=1e-4, atol=1e-5 * float(scale)), name


def test_groups_hold_whole_tiles_cover_the_canvas_and_stay_near_the_budget() -> None:
    entry_tile = torch.tensor([0, 0, 0, 1, 2, 2, 2, 2, 2, 5, 6, 6, 9])
    groups = group_tiles(entry_tile, 12, 4)
    assert groups[0].first_tile == 0 and groups[-1].end_tile == 12
    for before, after in zip(groups, groups[1:], strict=False):
        assert before.end_tile == after.first_tile and before.end_entry == after.first_entry
    for group in groups:
        tiles = entry_tile[group.first_entry:group.end_entry]
        assert ((tiles >= group.first_tile) & (tiles < group.end_tile)).all()
        # a group holds no more than its share of the entries and one tile's
        assert len(tiles) <= 4 + 5
    assert group_tiles(entry_tile, 12, 13) == [TileGroup(0, 12, 0, 13)]  # all fit: one group, no host read

"""Paintings of paint and smudge strokes: smudge placement, rendering in painting order, the stroke
file round trip, what the deposits stand for, and the banding measure."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from diffpaint.fit.banding import banding
from diffpaint.fit.filters import gaussian_blur
from diffpaint.fit.placement import place_smudges, place_strokes
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import (
    Painting,
    Run,
    deposits_as_paint,
    from_stroke_file,
    render_painting,
    render_runs,
    smudge_deposits_of,
    to_stroke_file,
)
from diffpaint.render import render
from diffpaint.render.smudge import SmudgeSettings, smudge
from diffpaint.strokes import Strokes
from diffpaint_shared import strokefile


def ramp_and_stripes() -> tuple[Tensor, Tensor]:
    """Target: a smooth ramp (left half) and fine stripes (right half), 64×128. Canvas: the ramp painted
    as three flat bands (hard steps), the stripes as their flat mean (more error, but no steps)."""
    x = torch.arange(128, dtype=torch.float32) + 0.5
    ramp = 0.2 + 0.6 * (x / 64.0).clamp(max=1.0)
    stripes = torch.where(torch.floor(x / 3.0) % 2 == 0, 0.2, 0.8)
    banded = 0.2 + 0.6 * torch.floor(x / 64.0 * 3.0).clamp(max=2.0) / 2.0

    def image(row: Tensor) -> Tensor:
        return row[None, :, None].expand(64, 128, 3).contiguous()

    return image(torch.where(x < 64, ramp, stripes)), image(torch.where(x < 64, banded, 0.5))


def test_smudges_go_on_steps_the_target_does_not_have_and_run_across_them() -> None:
    target, canvas = ramp_and_stripes()
    smudges = place_smudges(target, canvas, 200, cell=32.0, generator=torch.Generator().manual_seed(0))
    center = smudges.points[:, 1]
    on_ramp = center[:, 0] < 64
    print(f"{int(on_ramp.sum())} of 200 smudge strokes on the banded ramp")
    assert on_ramp.float().mean() > 0.9  # not on the stripes, though the error is larger there
    near_step = ((center[on_ramp, 0] - 64 / 3).abs() < 8) | ((center[on_ramp, 0] - 128 / 3).abs() < 8)
    assert near_step.float().mean() > 0.9
    direction = smudges.points[:, 2] - smudges.points[:, 0]
    across = direction[:, 0].abs() / direction.norm(dim=-1)
    assert across.min() > 0.95  # horizontal: across the vertical steps
    assert (smudges.radius > 0).all()


def real_painting(painting_path, size: int = 64) -> tuple[Painting, Tensor, Tensor]:
    """A painting of real strokes, not optimized: paint placed on a Met painting, smudges placed on the
    result, more paint, more smudges. Returns it, the target and the background image."""
    target, _ = load_image(painting_path, size)
    background = target.mean(dim=(0, 1)).expand_as(target).contiguous()
    generator = torch.Generator().manual_seed(0)
    painting, canvas = Painting.empty(SmudgeSettings(stamps=8)), background
    for level, cell in enumerate((size, size / 2)):
        paint = place_strokes(target, canvas, 12, cell, level, generator)
        canvas = render(paint, canvas).image
        smudges = place_smudges(target, canvas, 3, cell, generator)
        canvas = smudge(canvas, smudges, painting.smudge_settings)
        painting = painting.then_paint(paint).then_smudge(smudges, level)
    return painting.then_paint(place_strokes(target, canvas, 5, size / 3, 2, generator)), target, background


def test_painting_renders_in_painting_order(painting_path) -> None:
    painting, _, background = real_painting(painting_path)
    assert len(painting) == 12 + 3 + 12 + 3 + 5
    assert painting.smudge_order().tolist() == [12, 13, 14, 27, 28, 29]
    with torch.no_grad():
        full = render_painting(painting, background)
        # Stroke by stroke: paint "over", smudges in their turn.
        step = background
        for n in range(len(painting)):
            assert len(painting.span(0, n)) == n and len(painting.span(n, n + 1)) == 1
            step = render_painting(painting.span(n, n + 1), step)
        assert (step - full).abs().max() < 1e-5  # sRGB ↔ linear round trips per stroke
        paint_only = render(painting.paint, background).image
    assert (full - paint_only).abs().max() > 0.05  # the smudges change the picture
    first, rest = painting.span(0, 13), painting.span(13, len(painting))
    assert (len(first.paint), len(first.smudge)) == (12, 1)
    assert rest.smudge_after.tolist() == [0, 0, 12, 12, 12]
    assert torch.equal(render_painting(rest, render_painting(first, background)), full)


def test_runs_cover_the_painting_in_order_and_render_runs_visits_each_once(painting_path) -> None:
    painting, _, background = real_painting(painting_path)
    runs = list(painting.runs())
    assert [(len(r.paint), len(r.smudge), r.first_paint, r.first_smudge) for r in runs] == [
        (12, 3, 0, 0), (12, 3, 12, 3), (5, 0, 24, 6)]
    assert torch.equal(runs[1].paint.points, painting.paint.points[12:24])
    visits: list[str] = []

    def paint(run: Run, canvas: Tensor) -> Tensor:
        visits.append(f"paint {run.first_paint}")
        return canvas + 1.0

    def smudge_step(run: Run, canvas: Tensor) -> Tensor:
        visits.append(f"smudge {run.first_smudge}+{len(run.smudge)}")
        return canvas * 2.0

    out = render_runs(painting, background, paint, smudge_step)
    assert visits == ["paint 0", "smudge 0+3", "paint 12", "smudge 3+3", "paint 24", "smudge 6+0"]
    assert torch.equal(out, (((background + 1.0) * 2.0 + 1.0) * 2.0 + 1.0) * 2.0)


def test_stroke_batches_select_cat_detach_and_move_every_per_stroke_field(painting_path) -> None:
    painting, _, _ = real_painting(painting_path, 32)
    paint, smudges = painting.paint, painting.smudge
    picked = paint.select(torch.tensor([3, 1]))
    assert len(picked) == 2 and all(torch.equal(getattr(picked, k), getattr(paint, k)[[3, 1]])
                                    for k in ("points", "radius", "color", "opacity", "level"))
    both = smudges.cat(smudges.select(slice(0, 2)))
    assert len(both) == len(smudges) + 2 and torch.equal(both.radius[-2:], smudges.radius[:2])
    grad = paint.to(torch.device("cpu"))
    grad.points.requires_grad_()
    assert not grad.detach().points.requires_grad and grad.scaled(2.0).level is paint.level
    assert len(Strokes.empty().cat(paint)) == len(paint)


def test_stroke_file_keeps_smudge_order_levels_and_settings(painting_path, tmp_path) -> None:
    painting, target, background = real_painting(painting_path)
    h, w = target.shape[:2]
    path = tmp_path / "s.json"
    strokefile.save(to_stroke_file(painting, w, h, tuple(background[0, 0].tolist()), {}), path)
    doc = strokefile.load(path)
    kinds = [s.kind for s in sorted(doc.strokes, key=lambda s: s.order)]
    assert kinds == ["paint"] * 12 + ["smudge"] * 3 + ["paint"] * 12 + ["smudge"] * 3 + ["paint"] * 5
    smudges = [s for s in doc.strokes if s.kind == "smudge"]
    assert [s.level for s in smudges] == [0, 0, 0, 1, 1, 1]
    assert all(len(s.deposit_color) == len(s.deposit_strength) == 8 for s in smudges)
    assert all(s.style["stamps"] == 8 for s in smudges)

    back = from_stroke_file(doc)
    assert back.smudge_settings == painting.smudge_settings
    assert torch.equal(back.smudge_after, painting.smudge_after)
    assert torch.equal(back.smudge_level, painting.smudge_level)
    assert torch.equal(back.smudge.points, painting.smudge.points)
    assert torch.equal(back.paint.points, painting.paint.points)
    with torch.no_grad():
        assert torch.equal(render_painting(back, background), render_painting(painting, background))


def test_stroke_file_with_mixed_smudge_settings_is_refused(painting_path) -> None:
    painting, target, background = real_painting(painting_path, 32)
    doc = to_stroke_file(painting, target.shape[1], target.shape[0], (0.5, 0.5, 0.5), {})
    first = next(i for i, s in enumerate(doc.strokes) if s.kind == "smudge")
    changed = list(doc.strokes)
    changed[first] = strokefile.Stroke(**{**changed[first].__dict__, "style": {"name": "smudge", "stamps": 5}})
    with pytest.raises(strokefile.StrokeFileError, match="different smudge settings"):
        from_stroke_file(strokefile.StrokeFile(doc.canvas, tuple(changed)))


def test_deposits_drawn_as_paint_stand_in_for_the_smudges(painting_path) -> None:
    """What Blender does with the deposits (plain soft strokes) comes closer to the true smudges than
    leaving them out, on the pixels the smudges change."""
    painting, _, background = real_painting(painting_path, 96)
    color, strength = smudge_deposits_of(painting, background)
    with torch.no_grad():
        true = render_painting(painting, background)
        approx = render(deposits_as_paint(painting, color, strength), background).image
        without = render(painting.paint, background).image
    changed = (true - without).abs().amax(dim=-1) > 1 / 255
    gain = psnr(approx[changed], true[changed]) - psnr(without[changed], true[changed])
    print(f"deposits as paint vs no smudges, on {int(changed.sum())} changed px: {gain:+.2f} dB")
    assert gain > 1.0


def test_banding_sees_hard_steps_where_the_target_is_smooth(painting_path) -> None:
    target, _ = load_image(painting_path, 96)
    smooth = gaussian_blur(target, 3.0)
    posterised = torch.round(smooth * 4.0) / 4.0
    softened = gaussian_blur(posterised, 2.0)
    assert banding(smooth, smooth) == 0.0
    hard, soft = banding(posterised, smooth), banding(softened, smooth)
    print(f"banding: posterised {hard:.2e}, softened {soft:.2e}")
    assert hard > 2 * soft and hard > 1e-3
    with pytest.raises(ValueError, match="same size"):
        banding(posterised, smooth[:-1])

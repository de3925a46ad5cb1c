"""The real-media texture bank, each stroke's texture chosen by the style phase, the detail term and body paint."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from diffpaint.painting import Painting, render_painting
from diffpaint.render.smudge import SmudgeSettings
from diffpaint.strokes import Strokes
from diffpaint.style import (
    StrokeStyle,
    StyleSettings,
    initial_style,
    optimize_style,
    render_styled_painting,
    styled_painting,
)
from diffpaint.style.phase import (
    FrozenGeometry,
    choose_textures,
    compensate,
    contrast_limits,
    detail_loss,
    lookups,
    opacity_factors,
    texture_means,
)
from diffpaint.style.textures import BANK, bank_textures, generate_textures, medium_textures
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear

BANKED = ("oil", "watercolor", "ink", "pencil")


@pytest.mark.parametrize("medium", BANKED)
def test_each_medium_has_a_bank_of_one_size_with_its_sources_recorded(medium: str) -> None:
    bank = bank_textures(medium)
    assert bank is not None and len(bank) >= 4 and bank.shape[1:] == (64, 128, 4)
    assert torch.equal(bank, (bank * 255).round() / 255)  # exactly what the PNGs hold
    textures, sources = medium_textures(medium)
    assert len(textures) == len(sources) == 2 * len(bank)
    assert all("CC-0" in s and "brushes/" in s for s in sources)
    # Each bank texture at full strength (its stencil peaks at 1, the pattern kept), then each one solid.
    full, solid = textures[: len(bank)], textures[len(bank):]
    assert torch.equal(full, (full * 255).round() / 255)
    assert torch.equal(full[..., :3], bank[..., :3]) and torch.equal(solid[..., :3], bank[..., :3])
    assert torch.all(full[..., 3].amax((1, 2)) == 1.0) and torch.all(solid[..., 3] == 1.0)
    assert torch.allclose(full[..., 3] * bank[..., 3].amax((1, 2), keepdim=True), bank[..., 3], atol=1 / 255)
    assert lookups(textures) == [(v, v + len(bank)) for v in range(len(bank))]
    sources = (BANK / "SOURCES.md").read_text()
    assert "CC-0" in sources
    assert all(f"| {medium}-{i}.png |" in sources for i in range(len(bank)))
    # Stamped tips differ from each other: a choice between them means something.
    flat = bank.reshape(len(bank), -1)
    assert torch.cdist(flat, flat).add(torch.eye(len(bank)) * 1e9).min() > 1.0


def test_oil_bristle_streaks_run_along_the_stroke_and_digital_stays_procedural() -> None:
    bank = bank_textures("oil")
    assert bank is not None
    alpha = bank[..., 3]
    across = (alpha[:, 1:] - alpha[:, :-1]).square().mean()
    along = (alpha[:, :, 1:] - alpha[:, :, :-1]).square().mean()
    assert across > 3.0 * along
    assert bank_textures("digital") is None and torch.equal(medium_textures("digital")[0], generate_textures("digital"))


def painting(count: int, size: int, seed: int = 0) -> Painting:
    """Long horizontal-ish strokes, wide enough to show their texture."""
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(count, 2, generator=g) * size * 0.5 + size * 0.05
    end = start + torch.tensor([size * 0.4, 0.0]) + torch.randn(count, 2, generator=g) * 3
    points = torch.stack([start, 0.5 * (start + end), end], dim=1)
    strokes = Strokes(points, torch.full((count, 2), size * 0.1), torch.rand(count, 2, 3, generator=g),
                      torch.full((count,), 0.5), torch.zeros(count, dtype=torch.long))
    return Painting.empty(SmudgeSettings()).then_paint(strokes)


@pytest.mark.parametrize("medium", ["oil", "ink"])
def test_the_texture_choice_explains_what_plain_strokes_miss(medium: str) -> None:
    size, count = 48, 6
    p = painting(count, size)
    bg = torch.full((size, size, 3), 0.9)
    # The bank as stored: the choice itself is under test here, not how a medium prepares its textures.
    bank = bank_textures(medium)
    assert bank is not None
    drawn = initial_style(medium, count, seed=1)
    truth = replace(drawn, textures=bank, variant=drawn.variant % len(bank), mix=torch.full((count,), 0.5),
                    u_translation=torch.arange(count) % 4 / 4)
    start = replace(truth, variant=(truth.variant + 3) % len(truth.textures), u_translation=torch.zeros(count),
                    mix=torch.ones(count))

    def textured(style: StrokeStyle) -> torch.Tensor:  # at the opacities that keep the plain strokes' coverage
        factor = opacity_factors(style, p.paint.opacity).gather(1, style.variant[:, None])[:, 0]
        compensated = replace(p, paint=replace(p.paint, opacity=p.paint.opacity * factor))
        return render_styled_painting(styled_painting(compensated, style), style, bg)

    with torch.no_grad():
        target = textured(truth)
    settings = StyleSettings(iterations=0, detail_weight=0.0, body_weight=0.0, detail_credit=0.0)
    chosen, fitted = optimize_style(p, start, target, bg, settings)
    _, kept = optimize_style(p, start, target, bg, replace(settings, choose=False))
    with torch.no_grad():
        errors = [(image - target).square().sum() for image in (
            render_painting(p, bg), textured(start), render_styled_painting(chosen, fitted, bg))]
    assert errors[2] < 0.6 * min(errors[:2])  # plain strokes and wrongly textured ones
    assert torch.equal(kept.variant, start.variant) and torch.equal(kept.mix, start.mix)


def test_opaque_watercolor_strokes_stay_opaque_under_their_texture() -> None:
    """The bank's watercolor stencils peak near 0.6 (a wash): used as they are, opaque strokes turned into
    glazes and the painting washed out toward its background; a stroke's transparency is its opacity's."""
    size, count = 48, 6
    p = painting(count, size)
    p = replace(p, paint=replace(p.paint, opacity=torch.ones(count)))
    bg = torch.full((size, size, 3), 0.95)
    with torch.no_grad():
        target = render_painting(p, bg)
    style = initial_style("watercolor", count)
    bank = bank_textures("watercolor")
    assert bank is not None and bank[..., 3].max() < 0.7
    settings = StyleSettings(iterations=0)
    errors = []
    for textures in (bank, style.textures):
        chosen, fitted = optimize_style(p, replace(style, textures=textures, variant=style.variant % len(textures)),
                                        target, bg, settings)
        with torch.no_grad():
            errors.append((render_styled_painting(chosen, fitted, bg) - target).abs().mean())
    assert errors[1] < 0.02 < 0.5 * errors[0]


def test_detail_loss_is_zero_on_the_target_and_grows_as_detail_is_lost() -> None:
    target = torch.rand(32, 32, 3, generator=torch.Generator().manual_seed(0))
    blurred = F.avg_pool2d(target.permute(2, 0, 1)[None], 3, 1, 1, count_include_pad=False)[0].permute(1, 2, 0)
    flat = torch.full_like(target, 0.5)
    assert detail_loss(target, target) == 0.0
    assert 0.0 < detail_loss(blurred, target) < detail_loss(flat, target)


def test_oil_pulls_its_strokes_to_body_paint_and_watercolor_keeps_its_glazes() -> None:
    size, count = 48, 5
    p = painting(count, size)
    bg = torch.full((size, size, 3), 0.9)
    fitted = {}
    for medium in ("oil", "watercolor"):
        style = initial_style(medium, count)
        with torch.no_grad():  # the glazes (opacity 0.5) are exactly what the target shows
            target = render_styled_painting(styled_painting(p, style), style, bg)
        fitted[medium], _ = optimize_style(p, style, target, bg, StyleSettings(iterations=20, choose=False))
    assert fitted["oil"].paint.opacity.mean() > 0.55  # from 0.5, toward the medium's body paint
    assert (fitted["watercolor"].paint.opacity - p.paint.opacity).abs().max() < 0.03


def test_contrast_limits_keep_the_vertex_color_in_range_so_a_stroke_shows_its_color() -> None:
    style = initial_style("oil", 3)
    color = torch.tensor([[0.05, 0.1, 0.2], [0.5, 0.5, 0.5], [0.97, 0.9, 0.99]])[:, None].expand(3, 2, 3)
    limits = contrast_limits(color, texture_means(style))
    assert limits[0].max() < 0.1 and limits[1].min() > 0.3  # a dark stroke can barely carry a light texture
    for v in range(len(style.textures)):
        at_limit = replace(style, variant=torch.full((3,), v), mix=1.0 - limits[:, v])
        shown = srgb_to_linear(compensate(color, at_limit))
        mean = texture_means(at_limit)[v]
        mix = at_limit.mix[:, None, None]
        assert torch.allclose(linear_to_srgb(mix * shown + (1.0 - mix) * mean), color, atol=1e-4)


def test_the_choice_raises_the_contrast_of_fine_detail_only() -> None:
    """`detail_credit` counts the fine-band energy a texture adds as a gain: a pattern that explains part of the
    target gets more contrast than the error alone asks for when it is fine (stripes a few pixels apart), and
    keeps the contrast that minimizes the error when it is smooth (a ramp across the stroke)."""
    size, count = 64, 3
    p = painting(count, size)  # strokes about 13 px wide: 8 texels across, magnified (no mip blur)
    p = replace(p, paint=replace(p.paint, color=torch.full((count, 2, 3), 0.5)))
    bg = torch.full((size, size, 3), 0.9)
    rows = torch.arange(8, dtype=torch.float32)[:, None].expand(8, 16)
    stripes, ramp = 0.5 + 0.3 * (rows % 2 * 2 - 1), 0.2 + 0.6 * rows / 7
    textures = torch.stack([torch.stack([g, g, g, torch.ones_like(g)], dim=-1) for g in (stripes, ramp)])
    base = replace(initial_style("oil", count), textures=textures, variant=torch.zeros(count, dtype=torch.long))
    contrasts = {}
    for v, name in enumerate(("stripes", "ramp")):
        truth = replace(base, variant=torch.full((count,), v), mix=torch.full((count,), 0.8))
        with torch.no_grad():
            target = render_styled_painting(styled_painting(p, truth), truth, bg)
        for credit in (0.0, 0.7):
            settings = StyleSettings(detail_credit=credit)
            chosen, _ = choose_textures(p, base, target, bg, FrozenGeometry(), settings)
            assert torch.equal(chosen.variant, truth.variant)
            contrasts[name, credit] = (1.0 - chosen.mix).mean().item()
    assert contrasts["stripes", 0.0] == pytest.approx(0.2, abs=0.03)
    assert contrasts["ramp", 0.0] == pytest.approx(0.2, abs=0.03)
    assert contrasts["stripes", 0.7] > 0.26
    assert contrasts["ramp", 0.7] == pytest.approx(contrasts["ramp", 0.0], abs=0.03)

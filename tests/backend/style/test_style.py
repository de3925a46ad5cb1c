"""Stroke styles: textures per medium, the textured renderer, the style phase and the stroke file."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from diffpaint import samples
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, render_painting, to_stroke_file
from diffpaint.render import RasterSettings, TileGrid, render
from diffpaint.render.raster import rasterize
from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes
from diffpaint.strokes import Strokes
from diffpaint.style import (
    STYLES,
    StyleSettings,
    attach_style,
    generate_textures,
    initial_style,
    optimize_style,
    render_styled,
    render_styled_painting,
    style_from_file,
    styled_painting,
)
from diffpaint.style.phase import MIX_LEVELS, learning_rate_factor
from diffpaint.style.shader import mip_chain, sample_texture
from diffpaint_shared import strokefile


def strokes_on(size: int, count: int, seed: int = 0) -> Strokes:
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(count, 2, generator=g) * size * 0.6 + size * 0.1
    end = start + (torch.rand(count, 2, generator=g) - 0.3) * size * 0.5
    points = torch.stack([start, 0.5 * (start + end) + torch.randn(count, 2, generator=g) * 3, end], dim=1)
    radius = 2.0 + torch.rand(count, 2, generator=g) * size * 0.06
    return Strokes(points, radius, torch.rand(count, 2, 3, generator=g), 0.6 + 0.4 * torch.rand(count, generator=g),
                   torch.zeros(count, dtype=torch.long))


def test_gradient_reaches_every_style_parameter_and_the_geometry() -> None:
    strokes = strokes_on(48, 6)
    strokes.points.requires_grad_()
    style = initial_style("oil", len(strokes))
    params = {k: getattr(style, k).clone().requires_grad_() for k in ("u_scale", "u_translation", "softness", "mix")}
    params["softness"].data.fill_(0.3)  # at 0 the soft edge is (nearly) a step
    image = render_styled(strokes, replace(style, **params), torch.full((48, 48, 3), 0.5)).image
    (image - torch.rand(48, 48, 3, generator=torch.Generator().manual_seed(1))).abs().mean().backward()
    for name, p in params.items():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name
    assert strokes.points.grad is not None and strokes.points.grad.abs().sum() > 0


def _anisotropy(gray: torch.Tensor) -> float:
    """Mean squared change across the stroke (rows) over that along it (columns)."""
    across = (gray[1:] - gray[:-1]).square().mean()
    along = (gray[:, 1:] - gray[:, :-1]).square().mean()
    return float(across / along.clamp(min=1e-9))


def texture_statistics(style: str) -> dict[str, float]:
    t = generate_textures(style)
    gray, alpha = t[..., 0], t[..., 3]
    h, w = gray.shape[1:]
    edge_rows = torch.cat([gray[:, : h // 8], gray[:, -h // 8 :]], dim=1)
    center_rows = gray[:, 3 * h // 8 : 5 * h // 8]
    return {
        "edge darkening": float(center_rows.mean() - edge_rows.mean()),
        "anisotropy": sum(_anisotropy(g) for g in gray) / len(gray),
        "mean gray": float(gray.mean()),
        "mean alpha": float(alpha.mean()),
        "end thinning": float(alpha[..., : w // 2].mean() - alpha[..., -w // 8 :].mean()),
        "grain": float((alpha < 0.5).float().mean()),
    }


def test_each_medium_has_its_own_measurable_texture() -> None:
    stats = {style: texture_statistics(style) for style in STYLES}
    assert stats["watercolor"]["edge darkening"] > 0.1  # pigment pools at the edges
    assert stats["watercolor"]["mean alpha"] < 0.8  # a transparent wash
    assert stats["oil"]["anisotropy"] > 3.0  # bristle streaks run along the stroke
    assert stats["oil"]["end thinning"] > 0.2  # paint runs out toward the end
    assert stats["ink"]["mean gray"] < 0.05  # black
    assert stats["ink"]["end thinning"] > 0.2  # dry-brush gaps open toward the end
    assert stats["pencil"]["grain"] > 0.2 and 0.3 < stats["pencil"]["anisotropy"] < 3.0  # isotropic paper grain
    assert stats["digital"]["mean alpha"] > 0.9 and stats["digital"]["anisotropy"] < 1e-6  # clean and flat
    # Pairwise: no two media share the same statistics.
    vectors = {s: torch.tensor(list(v.values())) for s, v in stats.items()}
    for a in STYLES:
        for b in STYLES:
            if a < b:
                assert (vectors[a] - vectors[b]).abs().max() > 0.1, (a, b)


def test_textures_are_deterministic_and_8_bit() -> None:
    a, b = generate_textures("watercolor", seed=3), generate_textures("watercolor", seed=3)
    assert torch.equal(a, b) and not torch.equal(a, generate_textures("watercolor", seed=4))
    assert torch.equal(a, (a * 255).round() / 255)
    with pytest.raises(ValueError, match="unknown style 'gouache'"):
        generate_textures("gouache")


def test_lookup_is_gl_linear_repeat_and_mip_levels_are_box_filtered() -> None:
    tex = torch.rand(2, 4, 8, 4, generator=torch.Generator().manual_seed(0))
    chain = mip_chain(tex)
    assert [lvl.shape[1:3] for lvl in chain] == [(4, 8), (2, 4), (1, 2), (1, 1)]
    assert torch.allclose(chain[1][1, 0, 0], tex[1, :2, :2].mean((0, 1)))
    variant = torch.tensor([1])
    # At a texel center the lookup is that texel (v = 1 is the top row).
    center = torch.tensor([[[(2 + 0.5) / 8, 1 - (1 + 0.5) / 4]]])
    assert torch.allclose(sample_texture(chain, variant, center, torch.zeros(1)), tex[1, 1, 2])
    # At u = 0 it averages the first and last columns (repeat), half-way between two rows.
    edge = torch.tensor([[[0.0, 1 - 2.0 / 4]]])
    expected = tex[1, 1:3][:, [0, 7]].mean((0, 1))
    assert torch.allclose(sample_texture(chain, variant, edge, torch.zeros(1)), expected, atol=1e-6)
    # Level of detail 1.5 is halfway between levels 1 and 2.
    mid = torch.tensor([[[0.3, 0.6]]])
    halfway = sample_texture(chain, variant, mid, torch.tensor([1.5]))
    ends = [sample_texture(chain, variant, mid, torch.tensor([x])) for x in (1.0, 2.0)]
    assert torch.allclose(halfway, 0.5 * (ends[0] + ends[1]), atol=1e-6)


def test_stroke_uv_runs_along_and_across_and_leaves_the_plain_path_alone() -> None:
    # One horizontal stroke, left to right: u grows with x, v is 1 on its upper side (towards (dy, -dx)).
    strokes = Strokes(torch.tensor([[[8.0, 16.0], [32.0, 16.0], [56.0, 16.0]]]), torch.tensor([[6.0, 6.0]]),
                      torch.full((1, 2, 3), 0.5), torch.ones(1), torch.zeros(1, dtype=torch.long))
    grid = TileGrid(32, 64, 8)
    plain = rasterize(strokes.points, strokes.radius, strokes.color, grid, RasterSettings())
    uv = rasterize(strokes.points, strokes.radius, strokes.color, grid, RasterSettings(stroke_uv=True))
    assert plain.uv is None and uv.uv is not None
    assert torch.equal(plain.coverage, uv.coverage) and torch.equal(plain.color, uv.color)
    u = grid.from_tiles(torch.zeros(grid.count, 64, 2).index_add(0, uv.tile_index, uv.uv))
    assert u[16, 20, 0] == pytest.approx((20.5 - 8) / 48, abs=1e-4)
    assert u[16, 50, 0] == pytest.approx((50.5 - 8) / 48, abs=1e-4)
    assert u[12, 30, 1] == pytest.approx(0.5 + 0.5 * 3.5 / 6, abs=1e-4)  # above the center line
    assert u[19, 30, 1] == pytest.approx(0.5 - 0.5 * 3.5 / 6, abs=1e-4)


def test_learning_rate_schedule_is_the_papers() -> None:
    total = 200
    f = [learning_rate_factor(i, total) for i in range(total)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)  # linear warm-up over 5 %
    assert all(x == 1.0 for x in f[10:150])  # constant for 70 %
    assert all(a > b for a, b in zip(f[150:], f[151:], strict=False))  # then decaying
    assert f[175] == pytest.approx(0.5 * (1 + math.cos(math.pi * 25 / 50)))  # cosine
    assert f[-1] < 0.01


@pytest.fixture(scope="module")
def ink_painting() -> tuple[torch.Tensor, torch.Tensor, Painting]:
    """Guo Xi's ink landscape (Met 39668) reconstructed small and fast with plain strokes."""
    target, _ = load_image(samples.painting(39668).path, 64)
    background = tuple(target.mean(dim=(0, 1)).tolist())
    rec = reconstruct(target, background, Settings(strokes=48, levels=2, iterations=15, rounds=1,  # type: ignore[arg-type]
                                                   smudge=False))
    return target, torch.tensor(background).expand_as(target).contiguous(), rec.strokes


def test_style_phase_improves_a_real_ink_painting(ink_painting: tuple[torch.Tensor, torch.Tensor, Painting]) -> None:
    target, bg, painting = ink_painting
    style = initial_style("ink", len(painting.paint))
    before = render_styled_painting(styled_painting(painting, style), style, bg).detach()
    fitted_painting, fitted = optimize_style(painting, style, target, bg, StyleSettings(iterations=25))
    after = render_styled_painting(fitted_painting, fitted, bg).detach()
    assert psnr(after, target) > psnr(before, target) + 0.2
    assert torch.equal(fitted.mix, (fitted.mix * MIX_LEVELS).round() / MIX_LEVELS)  # Blender's levels
    assert 0 <= fitted.variant.min() <= fitted.variant.max() < len(style.textures)  # each stroke's chosen one


def test_digital_style_reproduces_plain_strokes(ink_painting: tuple[torch.Tensor, torch.Tensor, Painting]) -> None:
    target, bg, painting = ink_painting
    plain = render(painting.paint, bg).image
    style = replace(initial_style("digital", len(painting.paint)),
                    textures=torch.ones(1, 4, 4, 4), variant=torch.zeros(len(painting.paint), dtype=torch.long))
    styled = render_styled_painting(styled_painting(painting, style), style, bg)
    assert psnr(styled, plain) > 40.0


def test_style_survives_the_stroke_file(ink_painting: tuple[torch.Tensor, torch.Tensor, Painting], tmp_path) -> None:
    target, bg, painting = ink_painting
    style = replace(initial_style("watercolor", len(painting.paint)),
                    u_scale=torch.linspace(0.5, 2.0, len(painting.paint)),
                    softness=torch.linspace(0.0, 0.5, len(painting.paint)))
    painting = styled_painting(painting, style)
    h, w = target.shape[:2]
    doc = attach_style(to_stroke_file(painting, w, h, tuple(bg[0, 0].tolist()), {}), style)  # type: ignore[arg-type]
    assert len(doc.textures) == len(style.textures) and all(t.style == "watercolor" for t in doc.textures.values())
    strokefile.save(doc, tmp_path / "s.json")
    back = style_from_file(strokefile.load(tmp_path / "s.json"))
    assert back is not None and back.name == "watercolor"
    assert torch.equal(back.textures, style.textures) and torch.equal(back.variant, style.variant)
    assert back.sources == style.sources and all("CC-0" in s for s in back.sources)  # each texture's licence
    for name in ("u_scale", "u_translation", "softness", "mix"):
        assert torch.allclose(getattr(back, name), getattr(style, name)), name
    assert style_from_file(to_stroke_file(painting, w, h, (0.5, 0.5, 0.5), {})) is None
    with pytest.raises(ValueError, match="parameters for 3 strokes"):
        attach_style(doc, style.select(torch.arange(3)))


def test_a_style_selects_and_joins_per_stroke_parameters_and_shares_its_textures() -> None:
    style = initial_style("oil", 5, seed=1)
    part = style.select(torch.tensor([4, 0]))
    assert len(part) == 2 and part.textures is style.textures and part.name == "oil"
    assert torch.equal(part.variant, style.variant[[4, 0]]) and torch.equal(part.mix, style.mix[[4, 0]])
    joined = style.cat(part)
    assert len(joined) == 7 and joined.textures is style.textures
    assert torch.equal(joined.u_scale[5:], part.u_scale)


def test_unknown_style_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="style must be one of"):
        Settings(style="gouache")


def test_styled_painting_applies_smudges_between_its_paint_runs() -> None:
    # Paint, a smudge dragging it, more paint: with a flat opaque texture at mix 1 the styled render is
    # the plain one, smudge included.
    first, second = strokes_on(48, 4, seed=2), strokes_on(48, 3, seed=3)
    smudges = SmudgeStrokes(torch.tensor([[[10.0, 24.0], [24.0, 20.0], [38.0, 24.0]]]), torch.tensor([[4.0, 4.0]]))
    painting = Painting.empty(SmudgeSettings()).then_paint(first).then_smudge(smudges, 0).then_paint(second)
    style = replace(initial_style("digital", len(painting.paint)), textures=torch.ones(1, 4, 4, 4),
                    variant=torch.zeros(len(painting.paint), dtype=torch.long))
    bg = torch.full((48, 48, 3), 0.5)
    plain = render_painting(painting, bg)
    assert psnr(render_styled_painting(painting, style, bg), plain) > 40.0
    assert psnr(plain, render_painting(replace(painting, smudge=SmudgeStrokes(smudges.points[:0], smudges.radius[:0]),
                                               smudge_level=painting.smudge_level[:0],
                                               smudge_after=painting.smudge_after[:0]), bg)) < 40.0

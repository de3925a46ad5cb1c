"""The style phase (paper §3.3.2): with stroke geometry and color frozen, fit each stroke's texture
parameters to the target.

What is fitted is what Grease Pencil can show: per stroke which of the medium's textures it uses, u_scale,
u_translation, softness and the color/texture mix. The discrete part is chosen first, without gradient steps
(`choose_textures`): each candidate texture and shift is sampled once over each stroke's footprint and scored
by how much of the target's residual its pattern explains, plus a share of the fine detail it adds, at its
best contrast, in closed form. A few Adam steps then refine the continuous parameters under the paper's
schedule: linear warm-up to the peak rate over the first 5 % of steps, constant for the next 70 %, cosine
decay to 0 over the last 25 %. Loss: L1 pixel + weighted gradient term, as in the paint phase, plus a detail
term (`detail_loss`): the local energy of the finest band should match the target's, so a texture that brings
back brushwork is not switched off merely because its streaks are out of phase. Each stroke's opacity is
fitted too (starting from the one that keeps its coverage under its texture's stencil); a medium with body
paint (`BODY_OPACITY`, oil) pulls it up toward the medium's.

A textured stroke shows mix · vertex color + (1 − mix) · texture, so a stroke keeping its fitted color
as vertex color would drift toward the texture's gray. The phase keeps the fitted color as what the
stroke shows on average: the vertex color is solved from it, the mix and the texture's mean
(`compensate`), and that is what the stroke file then carries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.fit.losses import gradient_loss, pixel_l1
from diffpaint.painting import Painting, PaintStep, Run, render_runs
from diffpaint.render import Fragments, RasterSettings, TileGrid, canvas_grid, composite, rasterize_strokes
from diffpaint.strokes import Strokes
from diffpaint.style.reference import BrushworkStatistics
from diffpaint.style.render import run_style
from diffpaint.style.shader import level_of_detail, mip_chain, sample_texture, soft_edge, texture, textured_raster
from diffpaint.style.stroke_style import StrokeStyle
from diffpaint.style.textures import BODY_OPACITY, INITIAL_MIX, generate_textures, medium_textures
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear

MIX_LEVELS = 16  # mixes are snapped to k / MIX_LEVELS: Blender needs one material per (texture, mix)


@dataclass(frozen=True)
class StyleSettings:
    iterations: int = 10  # gradient steps after `choose_textures`
    lr: float = 0.01  # the paper's peak rate
    gradient_weight: float = 0.1
    max_softness: float = 0.9
    # Weight of `detail_loss` (0: pixel and gradient terms only). At 1 the detail ratio rose further but SSIM fell
    # below the plain strokes' on oil, watercolor and ink (256 px, bench/RESULTS.md issue 15); 0.5 keeps it above.
    detail_weight: float = 0.5
    choose: bool = True  # choose each stroke's texture, shift and contrast (`choose_textures`); False keeps the drawn
    shifts: int = 4  # u-translations tried per texture by `choose_textures`
    detail_credit: float = 0.7  # share of a pattern's fine-band energy `choose_textures` credits
    choice_passes: int = 2  # of `choose_textures`, each around the previous one's choice
    body_weight: float = 0.05  # pull of the medium's body opacity (`BODY_OPACITY`) on each stroke's opacity
    reference: BrushworkStatistics | None = None  # a reference painting's brushwork to match (style.reference)
    reference_weight: float = 0.3  # measured on the astronaut: 0.1 moves its brushwork 9 % of the way, 0.3 15 %


def learning_rate_factor(step: int, total: int) -> float:
    """The paper's schedule at 0-based `step` of `total`: warm-up 5 %, constant 70 %, cosine decay 25 %."""
    warmup, decay_start = max(1, round(0.05 * total)), round(0.75 * total)
    if step < warmup:
        return (step + 1) / warmup
    if step < decay_start:
        return 1.0
    return 0.5 * (1.0 + math.cos(math.pi * (step - decay_start) / max(1, total - decay_start)))


def initial_style(name: str, count: int, seed: int = 0, device: torch.device | None = None,
                  procedural: bool = False) -> StrokeStyle:
    """A medium's textures (its real-media bank, or the `procedural` variants), a seeded random variant per
    stroke, the texture spanning each stroke once."""
    textures, sources = (generate_textures(name, seed=seed), ()) if procedural else medium_textures(name, seed)
    textures = textures.to(device)
    gen = torch.Generator().manual_seed(seed)
    ones = torch.ones(count, device=device)
    return StrokeStyle(
        name=name,
        textures=textures,
        variant=torch.randint(len(textures), (count,), generator=gen).to(device),
        u_scale=ones.clone(),
        u_translation=torch.zeros(count, device=device),
        softness=torch.zeros(count, device=device),
        mix=ones * INITIAL_MIX[name],
        sources=sources,
    )


def finest_band(gray: Tensor) -> Tensor:
    """Gray images (B, 1, H, W) minus their 3 × 3 means (edges replicated): a high-pass whose gain is 2/3–4/3
    over the band the detail ratio measures (0.5–1 of Nyquist) and 0.2–0.35 at a quarter of Nyquist."""
    return gray - F.avg_pool2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def fine_band(values: Tensor, tile: int) -> Tensor:
    """`finest_band` of the gray of fragment values (P, T², 3), tile by tile: (P, T², 1), times √3 so that
    its energy compares with a three-channel change's."""
    high = finest_band(values.mean(-1).view(-1, 1, tile, tile))
    return high.view(values.shape[0], -1, 1) * math.sqrt(3.0)


def detail_energy(image: Tensor, cell: int = 8) -> Tensor:
    """Per `cell` × `cell` block the RMS of an (H, W, 3) image's `finest_band`."""
    high = finest_band(image.mean(-1)[None, None])
    return F.avg_pool2d(high.square(), cell, cell, ceil_mode=True).clamp(min=1e-10).sqrt()[0, 0]


def detail_loss(image: Tensor, target: Tensor) -> Tensor:
    """How far the image's local fine-detail energy is from the target's (mean absolute difference)."""
    return (detail_energy(image) - detail_energy(target)).abs().mean()


def vertex_color(shown: Tensor, mix: Tensor, mean: Tensor) -> Tensor:
    """The linear vertex color V with mix · V + (1 − mix) · mean = shown (clamped to [0, 1]); all
    arguments broadcast."""
    return ((shown - (1.0 - mix) * mean) / mix.clamp(min=0.05)).clamp(0.0, 1.0)


def texture_means(style: StrokeStyle) -> Tensor:
    """Alpha-weighted mean color of each texture variant, (V, 3)."""
    rgb, alpha = style.textures[..., :3], style.textures[..., 3:]
    return (rgb * alpha).sum((1, 2)) / alpha.sum((1, 2)).clamp(min=1e-6)


def compensate(color: Tensor, style: StrokeStyle) -> Tensor:
    """Vertex colors (N, 2, 3) sRGB whose textured strokes show `color` (sRGB) on average."""
    mean = texture_means(style)[style.variant][:, None]
    return linear_to_srgb(vertex_color(srgb_to_linear(color), style.mix[:, None, None], mean))


def snap_mix(style: StrokeStyle) -> StrokeStyle:
    """Mixes rounded to the levels the Blender materials carry."""
    return replace(style, mix=(style.mix * MIX_LEVELS).round() / MIX_LEVELS)


def styled_strokes(strokes: Strokes, style: StrokeStyle) -> Strokes:
    """`strokes` with the vertex colors that show their fitted colors under `style` (see `compensate`)."""
    return replace(strokes, color=compensate(strokes.color, style))


def styled_painting(painting: Painting, style: StrokeStyle) -> Painting:
    """`painting` with its paint strokes' vertex colors for `style` (see `compensate`)."""
    return replace(painting, paint=styled_strokes(painting.paint, style))


class FrozenGeometry:
    """Each paint run's fragments, rasterized once: in the style phase geometry is frozen, so per step only the
    shader runs. Keyed by the run's first stroke."""

    def __init__(self, raster: RasterSettings | None = None):
        self.raster = textured_raster(raster)
        self.fragments: dict[int, tuple[Fragments, TileGrid]] = {}

    def __call__(self, run: Run, canvas: Tensor) -> tuple[Fragments, TileGrid]:
        if run.first_paint not in self.fragments:
            grid = canvas_grid(canvas, self.raster)
            with torch.no_grad():
                self.fragments[run.first_paint] = rasterize_strokes(run.paint, grid, self.raster), grid
        return self.fragments[run.first_paint]


def _stroke_sums(values: list[Tensor], stroke_index: Tensor, count: int) -> Tensor:
    """Per stroke (count, len(values)) the sums of fragment values (P, T², 3) over their pixels and channels."""
    per_fragment = torch.stack([v.sum((1, 2)) for v in values], dim=-1)
    return per_fragment.new_zeros(count, len(values)).index_add_(0, stroke_index, per_fragment)


def opacity_factors(style: StrokeStyle, opacity: Tensor) -> Tensor:
    """Per stroke and texture (N, V) the factor on the stroke's opacity that keeps its mean coverage under the
    texture's alpha stencil what it was without it (as far as opacity 1 allows)."""
    alpha_mean = style.textures[..., 3].mean((1, 2)).clamp(min=0.05)
    return torch.minimum(1.0 / alpha_mean[None], 1.0 / opacity.clamp(min=1e-3)[:, None])


def contrast_limits(color: Tensor, means: Tensor) -> Tensor:
    """Per stroke and texture (N, V) the highest contrast 1 − mix at which a vertex color in [0, 1] still shows
    the stroke's color (N, 2, 3) sRGB on average: mix · V + (1 − mix) · mean = color needs (1 − mix) · mean
    ≤ color and (1 − mix) · (1 − mean) ≤ 1 − color (linear light), else the vertex color clamps and a dark
    stroke is lifted toward the texture's gray."""
    linear = srgb_to_linear(color)[:, None]  # (N, 1, 2, 3)
    mean = means[None, :, None]  # (1, V, 1, 3)
    limit = torch.minimum(linear / mean.clamp(min=1e-6), (1.0 - linear) / (1.0 - mean).clamp(min=1e-6))
    return limit.amin((2, 3)).clamp(0.0, 1.0)


def lookups(textures: Tensor) -> list[tuple[int, int | None]]:
    """The texture lookups `choose_textures` makes: each texture that has a stencil, with its solid partner
    (the same light and shade at alpha 1, see `textures.solid`) scored from the same lookup, or None; and
    each solid texture without such a partner alone."""
    opaque = (textures[..., 3] == 1.0).flatten(1).all(1).tolist()
    partner: dict[int, int] = {}
    for v in range(len(textures)):
        for w in range(len(textures)):
            if (opaque[w] and not opaque[v] and v not in partner and w not in partner.values()
                    and torch.equal(textures[v, ..., :3], textures[w, ..., :3])):
                partner[v] = w
    return [(v, partner.get(v)) for v in range(len(textures)) if v in partner or v not in partner.values()]


def _choose_once(painting: Painting, style: StrokeStyle, base: StrokeStyle | None, target: Tensor,
                 background: Tensor, geometry: FrozenGeometry, settings: StyleSettings) -> StrokeStyle:
    """One pass of `choose_textures`, its linear model taken around the plain strokes (`base` None) or around
    the strokes textured by `base`."""
    chain, means = mip_chain(style.textures), texture_means(style)
    pairs = lookups(style.textures)
    factors = opacity_factors(style, painting.paint.opacity.detach())
    limits = contrast_limits(painting.paint.color.detach(), means)

    def footprint(frags: Fragments, own: StrokeStyle, variant: Tensor, shift: Tensor, lod: Tensor,
                  first: int) -> tuple[Tensor, Tensor]:
        """A texture's coverage factor (P, T², 1) and its gray pattern around its mean (P, T², 3)."""
        texel, edge = sample(frags, own, variant, shift, lod)
        return shape(texel, edge, frags.stroke_index, variant, first, texel[..., 3])

    def sample(frags: Fragments, own: StrokeStyle, variant: Tensor, shift: Tensor,
               lod: Tensor) -> tuple[Tensor, Tensor]:
        """The texels (P, T², 4) under the fragments and the strokes' soft edge (P, T²)."""
        assert frags.uv is not None and frags.axis_distance is not None
        s = frags.stroke_index
        uv = torch.stack([frags.uv[..., 0] * own.u_scale[s, None] + shift, frags.uv[..., 1]], dim=-1)
        return sample_texture(chain, variant, uv, lod), soft_edge(frags.axis_distance, own.softness[s, None])

    def shape(texel: Tensor, edge: Tensor, s: Tensor, variant: Tensor, first: int,
              alpha: Tensor | float) -> tuple[Tensor, Tensor]:
        """Coverage factor and pattern (see `footprint`) of texels sampled with stencil `alpha`."""
        stencil = alpha * edge * factors[first + s, variant][:, None]
        return stencil[..., None], texel[..., :3] - means[variant][:, None]

    def level(run: Run, frags: Fragments) -> Tensor:
        return level_of_detail(run.paint, run_style(style, run), geometry.raster.samples)[frags.stroke_index]

    probes: list[tuple[Tensor, Tensor]] = []

    def probe(run: Run, canvas: Tensor) -> Tensor:
        frags, grid = geometry(run, canvas)
        if base is None:
            scale, offset = torch.ones_like(frags.coverage[..., None]), torch.zeros_like(frags.color)
        else:
            own, s = run_style(base, run), frags.stroke_index
            scale, pattern = footprint(frags, own, own.variant[s], own.u_translation[s, None], level(run, frags),
                                       run.first_paint)
            offset = (1.0 - own.mix[s, None, None]) * pattern
        scale, offset = scale.requires_grad_(), offset.requires_grad_()
        probes.append((scale, offset))
        shaded = replace(frags, coverage=frags.coverage * scale[..., 0], color=frags.color + offset)
        return composite(shaded, run.paint.opacity.detach(), canvas, grid).image

    with torch.enable_grad():
        image = render_runs(painting, background, probe)
        leaves = [leaf for pair in probes for leaf in pair]
        slopes = [torch.autograd.grad(image[..., c].sum(), leaves, retain_graph=c < 2) for c in range(3)]
    residual = (target - image).detach()
    credit = settings.detail_credit
    variant, shift, mix = style.variant.clone(), style.u_translation.clone(), style.mix.clone()
    runs = [run for run in painting.runs() if len(run.paint)]
    for i, run in enumerate(runs):
        frags, grid = geometry.fragments[run.first_paint]
        by_coverage = torch.stack([slope[2 * i][..., 0] for slope in slopes], dim=-1)  # (P, T², 3)
        by_color = torch.stack([slope[2 * i + 1][..., c] for c, slope in enumerate(slopes)], dim=-1)
        scale, offset = probes[i]
        left = grid.to_tiles(residual)[frags.tile_index]
        own, s, count = run_style(style, run), frags.stroke_index, len(run.paint)
        lod = level(run, frags)
        # What the base shows beyond plain strokes, subtracted from every candidate's change.
        shown = by_coverage * (scale.detach() - 1.0) + by_color * offset.detach()
        best = torch.full((count,), -math.inf, device=target.device)
        at = slice(run.first_paint, run.first_paint + count)
        fine_color = fine_band(by_color, grid.tile)
        for v, partner in pairs:
            for k in range(settings.shifts):
                texel, edge = sample(frags, own, torch.full_like(s, v), torch.tensor(k / settings.shifts), lod)
                fine_texel = fine_band(by_color * texel[..., :3], grid.tile)
                for u in (v,) if partner is None else (v, partner):
                    candidate, pattern = shape(texel, edge, s, torch.full_like(s, u), run.first_paint,
                                               texel[..., 3] if u == v else 1.0)
                    fixed = by_coverage * (candidate - 1.0) - shown
                    pattern = by_color * pattern
                    # The pattern's fine band: `fine_band` is linear and the textures gray.
                    fine = fine_texel - means[u].mean() * fine_color
                    ra, rp, ff, pp, fp, hpp = _stroke_sums(
                        [left * fixed, left * pattern, fixed.square(), pattern.square(), fixed * pattern,
                         fine.square()], s, count).unbind(-1)
                    # Squared error removed plus `credit` times the pattern's fine-band energy: a quadratic in the
                    # contrast (a pattern near Nyquist can outweigh its cost: then it takes its cap).
                    curvature = (pp - credit * hpp).clamp(min=1e-12)
                    contrast = torch.minimum(((rp - fp) / curvature).clamp(min=0.0), limits[at, u])
                    score = 2.0 * (ra + contrast * (rp - fp)) - ff - contrast.square() * curvature
                    better = score > best
                    best = torch.where(better, score, best)
                    variant[at] = torch.where(better, u, variant[at])
                    shift[at] = torch.where(better, k / settings.shifts, shift[at])
                    mix[at] = torch.where(better, 1.0 - contrast, mix[at])
    return replace(style, variant=variant, u_translation=shift, mix=mix)


def choose_textures(painting: Painting, style: StrokeStyle, target: Tensor, background: Tensor,
                    geometry: FrozenGeometry, settings: StyleSettings = StyleSettings()) -> tuple[StrokeStyle, Tensor]:
    """Each paint stroke's texture, u-translation and contrast chosen before any gradient step, by how much
    the texture's pattern under the stroke explains what the plain strokes leave of the target; returns the
    style and the strokes' opacities, raised so that each keeps its mean coverage under its texture's alpha
    stencil (see `opacity_factors`).

    One render of the painting and three backward passes give, at every fragment pixel, how the image moves
    with the fragment's coverage and its color (a linear model of the painting). A candidate (texture, shift)
    changes coverage by its alpha stencil and color by its gray pattern, scaled by the stroke's contrast
    1 − mix; each candidate is sampled once per stroke footprint, and per stroke the squared-error reduction,
    at the contrast that maximizes it (in [0, 1]), is summed in closed form. `settings.detail_credit` counts
    that share of the pattern's fine-band energy (`fine_band`, the band the detail ratio measures) as a gain
    rather than a cost: a fine pattern that explains part of the target keeps more contrast than the error
    alone asks for, a smooth one (which brings back no brushwork) only that. A texture's solid partner (see
    `lookups`) is scored from the same lookup at alpha 1. The best candidate wins; strokes keep their u_scale
    and softness. Overlapping strokes and large stencils make the model rough: each of
    `settings.choice_passes` passes takes it again around the previous pass's choice."""
    chosen: StrokeStyle | None = None
    for _ in range(settings.choice_passes):
        chosen = _choose_once(painting, style, chosen, target, background, geometry, settings)
    assert chosen is not None
    opacity = painting.paint.opacity.detach()
    factors = opacity_factors(chosen, opacity)
    return chosen, opacity * factors.gather(1, chosen.variant[:, None])[:, 0]


def optimize_style(painting: Painting, style: StrokeStyle, target: Tensor, background: Tensor,
                   settings: StyleSettings = StyleSettings(), raster: RasterSettings | None = None,
                   on_step: Callable[[int, Tensor, Tensor], None] | None = None) -> tuple[Painting, StrokeStyle]:
    """Fit `style`'s per-stroke parameters (for the paint strokes, in order) to `target` (H, W, 3) with
    the painting painted over `background`: with `settings.choose` each stroke's texture, shift and contrast
    by `choose_textures`, then `settings.iterations` gradient steps on the continuous parameters. Returns the
    painting with its paint strokes' vertex colors (see `compensate`) and fitted opacities, and the fitted
    style, its mixes snapped to Blender's levels.
    `on_step(step, loss, image)` is called after every optimizer step (0-based step, this step's render)."""
    painting = painting.to(target.device)
    geometry = FrozenGeometry(raster)
    body = BODY_OPACITY.get(style.name, 0.0) if settings.body_weight > 0 else 0.0
    if settings.choose and len(painting.paint):
        style, opacity = choose_textures(painting, style, target, background, geometry, settings)
        painting = replace(painting, paint=replace(painting.paint, opacity=opacity))

    def paint(style: StrokeStyle, opacity: Tensor) -> PaintStep:
        def run_paint(run: Run, canvas: Tensor) -> Tensor:
            frags, grid = geometry(run, canvas)
            own = run_style(style, run)
            s = frags.stroke_index
            means = texture_means(own)
            # Each fragment's vertex color solved from its fitted color (`compensate` per pixel).
            color = vertex_color(frags.color, own.mix[s, None, None], means[own.variant[s]][:, None])
            shaded = texture(replace(frags, color=color), run.paint, own, geometry.raster.samples)
            return composite(shaded, opacity[run.first_paint:run.first_paint + len(run.paint)], canvas, grid).image

        return run_paint

    continuous = ("u_scale", "u_translation", "softness", "mix")
    params = {k: getattr(style, k).detach().clone().requires_grad_() for k in continuous}
    params["opacity"] = painting.paint.opacity.detach().clone().requires_grad_()
    optimizer = torch.optim.Adam(list(params.values()), lr=settings.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, settings.iterations))
    for step in range(settings.iterations):
        current = replace(style, **{k: params[k] for k in continuous})
        image = render_runs(painting, background, paint(current, params["opacity"]))
        loss = pixel_l1(image, target) + settings.gradient_weight * gradient_loss(image, target)
        if settings.detail_weight:
            loss = loss + settings.detail_weight * detail_loss(image, target)
        if settings.reference is not None:
            loss = loss + settings.reference_weight * settings.reference.distance(image)
        if body:
            loss = loss + settings.body_weight * (body - params["opacity"]).clamp(min=0.0).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            params["u_scale"].clamp_(min=0.25)
            params["softness"].clamp_(0.0, settings.max_softness)
            params["mix"].clamp_(0.0, 1.0)
            params["opacity"].clamp_(0.0, 1.0)
        if on_step:
            on_step(step, loss.detach(), image.detach())
    fitted = snap_mix(replace(style, **{k: params[k].detach() for k in continuous}))
    painting = replace(painting, paint=replace(painting.paint, opacity=params["opacity"].detach()))
    return styled_painting(painting, fitted), fitted


def style_phase(painting: Painting, name: str, target: Tensor, background: Tensor, iterations: int,
                seed: int = 0, raster: RasterSettings | None = None) -> tuple[Painting, StrokeStyle]:
    """Texture a finished painting's paint strokes in medium `name` and fit their style to `target`."""
    style = initial_style(name, len(painting.paint), seed, target.device)
    return optimize_style(painting, style, target, background, StyleSettings(iterations=iterations), raster)


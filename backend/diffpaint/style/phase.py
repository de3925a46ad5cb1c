"""The style phase (paper §3.3.2): with stroke geometry and color frozen, fit each stroke's texture
parameters to the target.

What is optimized is what Grease Pencil can show: per stroke u_scale, u_translation, softness, the
color/texture mix, and which of the medium's textures it uses: a soft selection (softmax of per-stroke
logits over the bank, its temperature annealed toward a hard choice) that is hardened (argmax) at the
end. A medium with body paint (`BODY_OPACITY`, oil) also fits each stroke's opacity, pulled up toward
the medium's. Adam under the paper's
schedule: linear warm-up to the peak rate over the first 5 % of steps, constant for the next 70 %,
cosine decay to 0 over the last 25 %. Loss: L1 pixel + weighted gradient term, as in the paint phase,
plus a detail term (`detail_loss`): the local energy of the finest band should match the target's, so
a texture that brings back brushwork is not switched off merely because its streaks are out of phase.

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
from diffpaint.style.shader import texture, textured_raster
from diffpaint.style.stroke_style import StrokeStyle
from diffpaint.style.textures import BODY_OPACITY, INITIAL_MIX, generate_textures, medium_textures
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear

LOGIT_RATE = 10.0  # the texture choice's learning rate over the continuous parameters
MIX_LEVELS = 16  # mixes are snapped to k / MIX_LEVELS: Blender needs one material per (texture, mix)


@dataclass(frozen=True)
class StyleSettings:
    iterations: int = 60
    lr: float = 0.01  # the paper's peak rate
    gradient_weight: float = 0.1
    max_softness: float = 0.9
    detail_weight: float = 1.0  # weight of `detail_loss` (0: pixel and gradient terms only)
    choose: bool = True  # fit each stroke's texture (soft selection over the bank); False keeps the drawn one
    temperature: tuple[float, float] = (1.0, 0.05)  # of the soft selection, first and last step (geometric)
    body_weight: float = 0.05  # pull of the medium's body opacity (`BODY_OPACITY`) on each stroke's opacity
    reference: BrushworkStatistics | None = None  # a reference painting's brushwork to match (style.reference)
    reference_weight: float = 0.1


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


def detail_energy(image: Tensor, cell: int = 8) -> Tensor:
    """Per `cell` × `cell` block the RMS of an (H, W, 3) image's finest band (gray minus its 3 × 3 mean)."""
    gray = image.mean(-1)[None, None]
    high = gray - F.avg_pool2d(F.pad(gray, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    return F.avg_pool2d(high.square(), cell, cell, ceil_mode=True).clamp(min=1e-10).sqrt()[0, 0]


def detail_loss(image: Tensor, target: Tensor) -> Tensor:
    """How far the image's local fine-detail energy is from the target's (mean absolute difference)."""
    return (detail_energy(image) - detail_energy(target)).abs().mean()


def temperature_at(step: int, total: int, settings: StyleSettings) -> float:
    """The soft selection's temperature at 0-based `step` of `total`: geometric from first to last."""
    first, last = settings.temperature
    return first * (last / first) ** (step / max(1, total - 1))


def soft_choice(style: StrokeStyle, logits: Tensor, temperature: float) -> StrokeStyle:
    """`style` with each stroke's texture the softmax(logits / temperature) blend of the bank, (N, H, W, 4)."""
    weights = (logits / temperature).softmax(-1)
    blended = torch.einsum("nv,vhwc->nhwc", weights, style.textures)
    return replace(style, textures=blended, variant=torch.arange(len(logits), device=logits.device))


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


def optimize_style(painting: Painting, style: StrokeStyle, target: Tensor, background: Tensor,
                   settings: StyleSettings = StyleSettings(), raster: RasterSettings | None = None,
                   on_step: Callable[[int, Tensor, Tensor], None] | None = None) -> tuple[Painting, StrokeStyle]:
    """Fit `style`'s per-stroke parameters (for the paint strokes, in order) to `target` (H, W, 3) with
    the painting painted over `background`. Returns the painting with its paint strokes' vertex
    colors (see `compensate`) and, for a medium with body paint, fitted opacities, and the fitted style,
    its texture choice hardened and its mixes snapped to Blender's levels.
    `on_step(step, loss, image)` is called after every optimizer step (0-based step, this step's render)."""
    painting = painting.to(target.device)
    textured = textured_raster(raster)
    body = BODY_OPACITY.get(style.name, 0.0) if settings.body_weight > 0 else 0.0
    choose = settings.choose and len(style.textures) > 1
    # Geometry is frozen, so each run's fragments are rasterized once (keyed by the run's first stroke);
    # per step only the shader runs, each fragment's vertex color solved from its fitted color
    # (`compensate` per pixel).
    geometry: dict[int, tuple[Fragments, TileGrid]] = {}

    def paint(style: StrokeStyle, logits: Tensor | None, temperature: float, opacity: Tensor) -> PaintStep:
        def run_paint(run: Run, canvas: Tensor) -> Tensor:
            if run.first_paint not in geometry:
                grid = canvas_grid(canvas, textured)
                with torch.no_grad():
                    geometry[run.first_paint] = rasterize_strokes(run.paint, grid, textured), grid
            frags, grid = geometry[run.first_paint]
            own = run_style(style, run)
            if logits is not None:
                own = soft_choice(own, logits[run.first_paint:run.first_paint + len(run.paint)], temperature)
            s = frags.stroke_index
            means = texture_means(own)
            color = vertex_color(frags.color, own.mix[s, None, None], means[own.variant[s]][:, None])
            shaded = texture(replace(frags, color=color), run.paint, own, textured.samples)
            return composite(shaded, opacity[run.first_paint:run.first_paint + len(run.paint)], canvas, grid).image

        return run_paint

    params = {k: getattr(style, k).detach().clone().requires_grad_() for k in ("u_scale", "u_translation",
                                                                              "softness", "mix")}
    if choose:  # start near each stroke's drawn variant, so an unfitted stroke keeps a real texture
        start = F.one_hot(style.variant, len(style.textures)).float()
        params["logits"] = start.requires_grad_()
    if body:
        params["opacity"] = painting.paint.opacity.detach().clone().requires_grad_()
    # Logits move in units, not in the paper's small steps for parameters bounded to [0, 1].
    groups: list[dict] = [{"params": [p for k, p in params.items() if k != "logits"]}]
    if choose:
        groups.append({"params": [params["logits"]], "lr": settings.lr * LOGIT_RATE})
    optimizer = torch.optim.Adam(groups, lr=settings.lr)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: learning_rate_factor(step, settings.iterations))
    continuous = ("u_scale", "u_translation", "softness", "mix")
    for step in range(settings.iterations):
        temperature = temperature_at(step, settings.iterations, settings)
        current = replace(style, **{k: params[k] for k in continuous})
        image = render_runs(painting, background, paint(current, params.get("logits"), temperature,
                                                        params.get("opacity", painting.paint.opacity)))
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
            if body:
                params["opacity"].clamp_(0.0, 1.0)
        if on_step:
            on_step(step, loss.detach(), image.detach())
    fitted = replace(style, **{k: params[k].detach() for k in continuous})
    if choose:
        fitted = replace(fitted, variant=params["logits"].detach().argmax(-1))
    fitted = snap_mix(fitted)
    if body:
        painting = replace(painting, paint=replace(painting.paint, opacity=params["opacity"].detach()))
    return styled_painting(painting, fitted), fitted


def style_phase(painting: Painting, name: str, target: Tensor, background: Tensor, iterations: int,
                seed: int = 0, raster: RasterSettings | None = None) -> tuple[Painting, StrokeStyle]:
    """Texture a finished painting's paint strokes in medium `name` and fit their style to `target`."""
    style = initial_style(name, len(painting.paint), seed, target.device)
    return optimize_style(painting, style, target, background, StyleSettings(iterations=iterations), raster)


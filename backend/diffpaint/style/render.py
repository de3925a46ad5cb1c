"""Textured strokes, rendered by Grease Pencil's own rule so the backend and Blender agree by construction.

Grease Pencil v3 draws a stroke of a TEXTURE material by sampling the image (bilinear, repeating) at
stroke-space coordinates: u = u_scale · (length along the stroke) + u_translation, v across the
stroke from 0 to 1; in linear light the pixel's colour is f · texture + (1 − f) · vertex colour,
f = 1 − the material's mix factor, and its alpha is texture alpha × opacity × the soft edge
mask (`softness`). Here the stroke's length is normalised, so u_scale = 1 spans the texture once
(the importer divides by each stroke's length in Blender units). Everything else, coverage,
linear-light "over" compositing, is the plain renderer's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.painting import Painting
from diffpaint.render import Fragments, RasterSettings, Rendered, TileGrid
from diffpaint.render.bezier import curve_parameters, quadratic_bezier
from diffpaint.render.color import linear_to_srgb, srgb_to_linear
from diffpaint.render.composite import composite_over
from diffpaint.render.raster import rasterize
from diffpaint.render.smudge import smudge
from diffpaint.strokes import Strokes


@dataclass
class StrokeStyle:
    """Per-stroke texture parameters of N strokes painted in one medium with V texture variants."""

    name: str
    textures: Tensor  # (V, H, W, 4) linear RGBA in [0, 1], row 0 the image's top row (v = 1)
    variant: Tensor  # (N,) long, which texture each stroke uses
    u_scale: Tensor  # (N,) > 0, texture repeats along the stroke
    u_translation: Tensor  # (N,) texture shift along the stroke, in texture widths
    softness: Tensor  # (N,) in [0, 1): Grease Pencil's soft edge (0 = hard)
    mix: Tensor  # (N,) in [0, 1]: weight of the stroke's own colour against the texture's

    def select(self, index: Tensor) -> StrokeStyle:
        return replace(self, **{k: getattr(self, k)[index] for k in self._per_stroke()})

    def cat(self, other: StrokeStyle) -> StrokeStyle:
        """This style's strokes, then `other`'s (same medium and textures)."""
        joined: dict[str, Any] = {k: torch.cat([getattr(self, k), getattr(other, k)]) for k in self._per_stroke()}
        return replace(self, **joined)

    def detach(self) -> StrokeStyle:
        return replace(self, textures=self.textures.detach(),
                       **{k: getattr(self, k).detach() for k in self._per_stroke()})

    @staticmethod
    def _per_stroke() -> tuple[str, ...]:
        return ("variant", "u_scale", "u_translation", "softness", "mix")


def mip_chain(textures: Tensor) -> list[Tensor]:
    """Textures (V, H, W, C) and their box-filtered halvings down to 1 × 1, as the GPU builds mipmaps."""
    levels = [textures]
    while max(levels[-1].shape[1:3]) > 1:
        h, w = (max(1, n // 2) for n in levels[-1].shape[1:3])
        chw = levels[-1].permute(0, 3, 1, 2)
        levels.append(F.interpolate(chw, size=(h, w), mode="area").permute(0, 2, 3, 1))
    return levels


def _bilinear(chain: Sequence[Tensor], variant: Tensor, uv: Tensor, level: Tensor) -> Tensor:
    """GL_LINEAR + GL_REPEAT lookup at uv (P, K, 2) in mip level `level` (P,) long of the chain, the
    texture of each row from variant (P,); differentiable in uv. All levels share one flat buffer."""
    channels = chain[0].shape[-1]
    sizes = torch.tensor([lvl.shape[1:3] for lvl in chain], device=uv.device)  # (L, 2) height, width
    texels = sizes.prod(1)
    offsets = torch.cumsum(texels, 0) - texels
    flat = torch.cat([lvl.reshape(lvl.shape[0], -1, channels) for lvl in chain], dim=1)  # (V, Σ texels, C)
    height, width = sizes[level, 0, None], sizes[level, 1, None]
    x = uv[..., 0] * width - 0.5
    y = (1.0 - uv[..., 1]) * height - 0.5  # v = 0 is the bottom row, image rows run top-down
    x0, y0 = x.detach().floor(), y.detach().floor()
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    xi = [(x0 + d).long().remainder(width) for d in (0, 1)]
    yi = [(y0 + d).long().remainder(height) for d in (0, 1)]
    base = variant[:, None] * flat.shape[1] + offsets[level, None]
    flat = flat.reshape(-1, channels)

    def tap(i: int, j: int) -> Tensor:
        return flat[base + yi[j] * width + xi[i]]

    top = tap(0, 0) * (1 - wx) + tap(1, 0) * wx
    bottom = tap(0, 1) * (1 - wx) + tap(1, 1) * wx
    return top * (1 - wy) + bottom * wy


def sample_texture(chain: Sequence[Tensor], variant: Tensor, uv: Tensor, lod: Tensor) -> Tensor:
    """Trilinear (GL_LINEAR_MIPMAP_LINEAR), repeating lookup in a mip chain (see `mip_chain`) at uv
    (P, K, 2) and level of detail lod (P,), texture per row from variant (P,); returns (P, K, C)."""
    lod = lod.clamp(0.0, len(chain) - 1.0)
    below = lod.floor().long()
    above = (below + 1).clamp(max=len(chain) - 1)
    frac = (lod - below)[:, None, None]
    return (1.0 - frac) * _bilinear(chain, variant, uv, below) + frac * _bilinear(chain, variant, uv, above)


def level_of_detail(strokes: Strokes, style: StrokeStyle, samples: int, anisotropy: float = 1.0) -> Tensor:
    """Per stroke the mip level (N,) a GPU picks for its texture: log2 of the texel footprint of a
    pixel, from the texel rates along (width · u_scale / length) and across (height / width of the
    stroke) projected on the screen axes, reduced by up to `anisotropy`. Isotropic (1) matches
    Blender's renders best (measured against 2 and 4, Blender's default preference being 2)."""
    textures = style.textures
    centres = quadratic_bezier(strokes.points, curve_parameters(samples, strokes.points))
    length = (centres[:, 1:] - centres[:, :-1]).norm(dim=-1).sum(1).clamp(min=1e-3)
    along = textures.shape[2] * style.u_scale / length
    across = textures.shape[1] / (strokes.radius.sum(1)).clamp(min=1e-3)
    chord = strokes.points[:, 2] - strokes.points[:, 0]
    cos, sin = (chord / chord.norm(dim=-1, keepdim=True).clamp(min=1e-6)).unbind(-1)
    rho_x = torch.sqrt((along * cos) ** 2 + (across * sin) ** 2)
    rho_y = torch.sqrt((along * sin) ** 2 + (across * cos) ** 2)
    major, minor = torch.maximum(rho_x, rho_y), torch.minimum(rho_x, rho_y).clamp(min=1e-6)
    return torch.log2(major / (major / minor).clamp(max=anisotropy)).clamp(min=0.0).detach()


def soft_edge(axis_distance: Tensor, softness: Tensor) -> Tensor:
    """Grease Pencil's soft stroke edge: smoothstep((1 − d)^(0.01 + 9.99 · softness)), d the distance
    from the centre line over the radius (softness 0 is a hard edge)."""
    inside = (1.0 - axis_distance).clamp(1e-6, 1.0)
    t = inside ** (0.01 + 9.99 * softness)
    return t * t * (3.0 - 2.0 * t)


def textured_fragments(strokes: Strokes, size: tuple[int, int],
                       settings: RasterSettings | None = None) -> tuple[Fragments, TileGrid]:
    """The geometry of textured strokes on an (H, W) canvas: coverage, colour (linear light) and
    stroke-space (u, v) per fragment. It depends on the strokes only, not on their style."""
    settings = replace(settings or RasterSettings(), stroke_uv=True, sweep=True)
    grid = TileGrid(*size, settings.tile)
    return rasterize(strokes.points, strokes.radius, strokes.color, grid, settings, blend_space=srgb_to_linear), grid


def shade(frags: Fragments, grid: TileGrid, strokes: Strokes, style: StrokeStyle, background: Tensor,
          samples: int = RasterSettings.samples) -> Rendered:
    """Texture fragments of `strokes` (see `textured_fragments`) by `style` and composite them over a
    background (H, W, 3); sRGB in and out. Grease Pencil's rule: see the module docstring."""
    assert frags.uv is not None and frags.axis_distance is not None, "fragments need stroke_uv"
    s = frags.stroke_index
    uv = torch.stack([frags.uv[..., 0] * style.u_scale[s, None] + style.u_translation[s, None],
                      frags.uv[..., 1]], dim=-1)
    lod = level_of_detail(strokes, style, samples)
    texel = sample_texture(mip_chain(style.textures), style.variant[s], uv, lod[s])
    mix = style.mix[s, None, None]
    color = mix * frags.color + (1.0 - mix) * texel[..., :3]
    coverage = frags.coverage * texel[..., 3] * soft_edge(frags.axis_distance, style.softness[s, None])
    styled = replace(frags, coverage=coverage, color=color)
    image, alpha = composite_over(styled, strokes.opacity, srgb_to_linear(background), grid)
    return Rendered(linear_to_srgb(image), alpha, styled, grid)


def render_styled(strokes: Strokes, style: StrokeStyle, background: Tensor,
                  settings: RasterSettings | None = None) -> Rendered:
    """Paint textured strokes in order over a background (H, W, 3); colours in and out are sRGB."""
    frags, grid = textured_fragments(strokes, (background.shape[0], background.shape[1]), settings)
    return shade(frags, grid, strokes, style, background, (settings or RasterSettings()).samples)


def paint_runs(painting: Painting, background: Tensor, paint: Callable[[int, Strokes, Tensor], Tensor]) -> Tensor:
    """Render a painting run by run as `render_painting` does, its paint strokes by `paint(first, strokes,
    canvas)` (`first`: the run's first paint stroke's index), its smudges by `smudge`."""
    canvas, first = background, 0
    for strokes, smudges in painting.runs():
        if len(strokes):
            canvas = paint(first, strokes, canvas)
            first += len(strokes)
        canvas = smudge(canvas, smudges, painting.smudge_settings)
    return canvas


def render_styled_painting(painting: Painting, style: StrokeStyle, background: Tensor,
                           raster: RasterSettings | None = None) -> Tensor:
    """A painting whose paint strokes (in order) are textured by `style`: sRGB (H, W, 3), differentiable."""
    def paint(first: int, strokes: Strokes, canvas: Tensor) -> Tensor:
        run = style.select(torch.arange(first, first + len(strokes), device=style.variant.device))
        return render_styled(strokes, run, canvas, raster).image

    return paint_runs(painting, background, paint)

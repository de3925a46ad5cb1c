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

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.painting import Painting
from diffpaint.render import RasterSettings, Rendered, TileGrid
from diffpaint.render.bezier import curve_parameters, quadratic_bezier
from diffpaint.render.color import linear_to_srgb, srgb_to_linear
from diffpaint.render.composite import composite_over
from diffpaint.render.raster import rasterize
from diffpaint.smudge import smudge
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


def _bilinear(level: Tensor, variant: Tensor, uv: Tensor) -> Tensor:
    """GL_LINEAR + GL_REPEAT lookup of one mip level (V, H, W, C) at uv (P, K, 2), texture per row from
    variant (P,); differentiable in uv."""
    _, height, width, channels = level.shape
    x = uv[..., 0] * width - 0.5
    y = (1.0 - uv[..., 1]) * height - 0.5  # v = 0 is the bottom row, image rows run top-down
    x0, y0 = x.detach().floor(), y.detach().floor()
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    xi = torch.stack([x0, x0 + 1]).long().remainder(width)
    yi = torch.stack([y0, y0 + 1]).long().remainder(height)
    flat = level.reshape(-1, channels)
    base = variant[:, None] * (height * width)

    def tap(i: int, j: int) -> Tensor:
        return flat[base + yi[j] * width + xi[i]]

    top = tap(0, 0) * (1 - wx) + tap(1, 0) * wx
    bottom = tap(0, 1) * (1 - wx) + tap(1, 1) * wx
    return top * (1 - wy) + bottom * wy


def sample_texture(chain: Sequence[Tensor], variant: Tensor, uv: Tensor, lod: Tensor) -> Tensor:
    """Trilinear (GL_LINEAR_MIPMAP_LINEAR), repeating lookup in a mip chain (see `mip_chain`) at uv
    (P, K, 2) and level of detail lod (P,), texture per row from variant (P,); returns (P, K, C)."""
    lod = lod.clamp(0.0, len(chain) - 1.0)
    out = torch.zeros(*uv.shape[:-1], chain[0].shape[-1], dtype=uv.dtype, device=uv.device)
    for index, level in enumerate(chain):
        weight = (1.0 - (lod - index).abs()).clamp(min=0.0)  # the two levels around lod, linearly
        rows = (weight > 0).nonzero()[:, 0]
        if len(rows):
            out = out.index_add(0, rows, weight[rows, None, None] * _bilinear(level, variant[rows], uv[rows]))
    return out


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


def render_styled(strokes: Strokes, style: StrokeStyle, background: Tensor,
                  settings: RasterSettings | None = None) -> Rendered:
    """Paint textured strokes in order over a background (H, W, 3); colours in and out are sRGB."""
    settings = replace(settings or RasterSettings(), stroke_uv=True, sweep=True)
    height, width = background.shape[:2]
    grid = TileGrid(height, width, settings.tile)
    frags = rasterize(strokes.points, strokes.radius, strokes.color, grid, settings, blend_space=srgb_to_linear)
    assert frags.uv is not None and frags.axis_distance is not None  # stroke_uv asked for them
    s = frags.stroke_index
    uv = torch.stack([frags.uv[..., 0] * style.u_scale[s, None] + style.u_translation[s, None],
                      frags.uv[..., 1]], dim=-1)
    lod = level_of_detail(strokes, style, settings.samples)
    texel = sample_texture(mip_chain(style.textures), style.variant[s], uv, lod[s])
    mix = style.mix[s, None, None]
    color = mix * frags.color + (1.0 - mix) * texel[..., :3]
    coverage = frags.coverage * texel[..., 3] * soft_edge(frags.axis_distance, style.softness[s, None])
    styled = replace(frags, coverage=coverage, color=color)
    image, alpha = composite_over(styled, strokes.opacity, srgb_to_linear(background), grid)
    return Rendered(linear_to_srgb(image), alpha, styled, grid)


def render_styled_painting(painting: Painting, style: StrokeStyle, background: Tensor,
                           raster: RasterSettings | None = None) -> Tensor:
    """A painting whose paint strokes (in order) are textured by `style`, smudges as `render_painting`
    applies them: sRGB (H, W, 3), differentiable."""
    canvas, first = background, 0
    for paint, smudges in painting.runs():
        if len(paint):
            run = style.select(torch.arange(first, first + len(paint), device=style.variant.device))
            canvas = render_styled(paint, run, canvas, raster).image
            first += len(paint)
        canvas = smudge(canvas, smudges, painting.smudge_settings)
    return canvas

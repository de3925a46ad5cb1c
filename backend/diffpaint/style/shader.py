"""Grease Pencil's texture rule as a shader, so the backend and Blender agree by construction.

Grease Pencil v3 draws a stroke of a TEXTURE material by sampling the image (bilinear, repeating) at
stroke-space coordinates: u = u_scale · (length along the stroke) + u_translation, v across the
stroke from 0 to 1; in linear light the pixel's color is f · texture + (1 − f) · vertex color,
f = 1 − the material's mix factor, and its alpha is texture alpha × opacity × the soft edge
mask (`softness`). Here the stroke's length is normalized, so u_scale = 1 spans the texture once
(the importer divides by each stroke's length in Blender units). Everything else, coverage,
linear-light "over" compositing, is the plain renderer's (`diffpaint.render.renderer`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.render import Fragments, RasterSettings, Shader
from diffpaint.render.bezier import curve_parameters, quadratic_bezier
from diffpaint.strokes import Strokes
from diffpaint.style.stroke_style import StrokeStyle


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
    centers = quadratic_bezier(strokes.points, curve_parameters(samples, strokes.points))
    length = (centers[:, 1:] - centers[:, :-1]).norm(dim=-1).sum(1).clamp(min=1e-3)
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
    from the center line over the radius (softness 0 is a hard edge)."""
    inside = (1.0 - axis_distance).clamp(1e-6, 1.0)
    t = inside ** (0.01 + 9.99 * softness)
    return t * t * (3.0 - 2.0 * t)


def textured_raster(settings: RasterSettings | None = None) -> RasterSettings:
    """Raster settings whose fragments carry what the texture rule needs: stroke-space (u, v), swept stamps."""
    return replace(settings or RasterSettings(), stroke_uv=True, sweep=True)


def texture(frags: Fragments, strokes: Strokes, style: StrokeStyle, samples: int = RasterSettings.samples) -> Fragments:
    """Fragments of `strokes` (rasterized with `textured_raster`, colors in linear light) textured by
    `style`: Grease Pencil's rule, see the module docstring."""
    assert frags.uv is not None and frags.axis_distance is not None, "fragments need stroke_uv"
    s = frags.stroke_index
    uv = torch.stack([frags.uv[..., 0] * style.u_scale[s, None] + style.u_translation[s, None],
                      frags.uv[..., 1]], dim=-1)
    lod = level_of_detail(strokes, style, samples)
    texel = sample_texture(mip_chain(style.textures), style.variant[s], uv, lod[s])
    mix = style.mix[s, None, None]
    color = mix * frags.color + (1.0 - mix) * texel[..., :3]
    coverage = frags.coverage * texel[..., 3] * soft_edge(frags.axis_distance, style.softness[s, None])
    return replace(frags, coverage=coverage, color=color)


def texture_shader(strokes: Strokes, style: StrokeStyle, samples: int = RasterSettings.samples) -> Shader:
    """The shader that textures `strokes`' fragments by `style` (see `texture`)."""
    return lambda frags: texture(frags, strokes, style, samples)

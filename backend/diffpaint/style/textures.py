"""Stroke textures per painting medium: a bank derived from real media, and the procedural variants before it.

`medium_textures` is what a medium paints with: the committed bank (`bank/<medium>-<i>.png`, Krita's
CC-0 brush tips stamped along a line by scripts/make_textures.py, sources in bank/SOURCES.md) where
the medium has one, else the procedural variants of `generate_textures`.

A texture is an RGBA image in stroke space, as Grease Pencil lays a stroke texture: x runs along the
stroke (u, 0 → 1 from start to end when the texture spans the stroke once), y across it (v, 0 at the
image's bottom row → 1 at its top row). Values are linear light; the Blender importer loads the
PNGs as Non-Color data so they reach the shader unchanged. The medium's look is baked in: whatever
depends on where a pixel lies along or across the stroke (streaks along u, taper, paint running
out toward the end, pigment pooling at the edges) is a function of (u, v) here.

Color is gray: a stroke shows mix · color + (1 − mix) · texture, so the texture's gray lightens
or darkens the stroke's own color (impasto light and shade, pooled pigment); alpha is the stencil
(gaps, granulation, transparency).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import Tensor

from diffpaint_shared.jobschema import STYLES  # the media, named once for every front end

BANK = Path(__file__).resolve().parent / "bank"
TEXTURE_SIZE = (32, 64)  # (height across the stroke, width along it): small, so strokes magnify it
VARIANTS = 4


def _noise(gen: torch.Generator, cells: tuple[int, int], size: tuple[int, int] = TEXTURE_SIZE) -> Tensor:
    """Smooth value noise in [0, 1]: random values on a (rows, cols) lattice, bicubic-upsampled to size."""
    lattice = torch.rand(1, 1, *cells, generator=gen)
    up = F.interpolate(lattice, size=size, mode="bicubic", align_corners=True)[0, 0]
    return (up - up.min()) / (up.max() - up.min() + 1e-8)


def _grid(size: tuple[int, int] = TEXTURE_SIZE) -> tuple[Tensor, Tensor]:
    """Texel-center (u, v) of an image whose row 0 is the top (v near 1), each (H, W)."""
    h, w = size
    u = (torch.arange(w) + 0.5) / w
    v = 1.0 - (torch.arange(h) + 0.5) / h
    return u[None, :].expand(h, w), v[:, None].expand(h, w)


def _smoothstep(lo: float | Tensor, hi: float | Tensor, x: Tensor) -> Tensor:
    t = ((x - lo) / (hi - lo)).clamp(0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _rgba(gray: Tensor, alpha: Tensor) -> Tensor:
    return torch.stack([gray, gray, gray, alpha], dim=-1).clamp(0.0, 1.0)


def _oil(gen: torch.Generator) -> Tensor:
    """Bristle streaks along u, impasto light and shade from a height field, paint thinning at the end."""
    u, v = _grid()
    streaks = _noise(gen, (14, 3))  # many bristles across, each long along the stroke
    height = 0.7 * streaks + 0.3 * _noise(gen, (5, 9))
    # Light from the upper left of the stroke: Lambert shading of the height field's normal.
    dv, du = torch.gradient(height * 6.0)
    shade = (0.5 * du - 0.7 * dv + 0.6) / torch.sqrt(du * du + dv * dv + 1.0)
    gray = 0.5 + 0.9 * (shade - shade.mean())
    running_out = _smoothstep(0.65, 1.0, u) * (1.1 - streaks)
    alpha = 1.0 - _smoothstep(0.35, 0.75, running_out)
    return _rgba(gray, alpha)


def _watercolor(gen: torch.Generator) -> Tensor:
    """Transparent wash, darker pigment pooled at the edges, granulation, a softly bleeding rim."""
    _, v = _grid()
    edge = (2.0 * v - 1.0).abs()
    granules = _noise(gen, (16, 32))
    bloom = _noise(gen, (3, 5))
    gray = 0.55 - 0.4 * edge**4 - 0.15 * (granules - 0.5)
    alpha = (0.55 + 0.35 * edge**3 + 0.15 * (bloom - 0.5)) * (1.0 - _smoothstep(0.9, 1.0, edge) * 0.5)
    return _rgba(gray, alpha)


def _ink(gen: torch.Generator) -> Tensor:
    """Dense black core, tapering at both ends (pressure), dry-brush gaps opening toward the end."""
    u, v = _grid()
    edge = (2.0 * v - 1.0).abs()
    width = 0.45 + 0.55 * torch.sin(torch.pi * u).clamp(min=0.0) ** 0.6
    core = 1.0 - _smoothstep(width - 0.15, width, edge)
    hairs = _noise(gen, (20, 4))
    gaps = _smoothstep(0.15 + 0.5 * u**2, 0.25 + 0.5 * u**2, hairs)
    return _rgba(torch.full_like(u, 0.02), core * gaps)


def _digital(gen: torch.Generator) -> Tensor:
    """A clean round brush, optionally airbrushed: opaque, neutral, a slight falloff at the rim."""
    _, v = _grid()
    edge = (2.0 * v - 1.0).abs()
    falloff = 0.25 * torch.rand((), generator=gen)
    return _rgba(torch.full_like(v, 0.5), 1.0 - falloff * edge**2)


def _pencil(gen: torch.Generator) -> Tensor:
    """Graphite catching on paper grain: fine isotropic grain decides where the lead deposits."""
    _, v = _grid()
    edge = (2.0 * v - 1.0).abs()
    grain = 0.6 * _noise(gen, (16, 32)) + 0.4 * _noise(gen, (32, 64))
    pressure = 0.75 - 0.35 * edge**2
    alpha = _smoothstep(0.25, 0.6, grain * pressure + 0.2)
    return _rgba(0.3 + 0.2 * grain, alpha)


_GENERATORS = {"digital": _digital, "oil": _oil, "watercolor": _watercolor, "ink": _ink, "pencil": _pencil}

# How much of the stroke's own color a stroke of each medium starts with (the rest is the texture's gray).
INITIAL_MIX = {"digital": 1.0, "oil": 0.75, "watercolor": 0.8, "ink": 0.7, "pencil": 0.7}
# Body paint: the opacity a medium's strokes are pulled up to (oil is laid on opaque; the others may glaze).
BODY_OPACITY = {"digital": 0.0, "oil": 0.9, "watercolor": 0.0, "ink": 0.0, "pencil": 0.0}


def generate_textures(style: str, variants: int = VARIANTS, seed: int = 0) -> Tensor:
    """`variants` RGBA textures of a medium, (V, H, W, 4) in [0, 1], quantized to 8 bits as their PNGs
    store them (so the backend renders exactly what Blender loads)."""
    if style not in _GENERATORS:
        raise ValueError(f"unknown style {style!r}; available: {', '.join(STYLES)}")
    gen = torch.Generator().manual_seed(seed * 1009 + STYLES.index(style))
    images = torch.stack([_GENERATORS[style](gen) for _ in range(variants)])
    return (images * 255.0).round() / 255.0


def bank_textures(style: str) -> Tensor | None:
    """The medium's real-media bank (V, H, W, 4) in [0, 1], in index order, or None when it has none."""
    if style not in _GENERATORS:
        raise ValueError(f"unknown style {style!r}; available: {', '.join(STYLES)}")
    paths = sorted(BANK.glob(f"{style}-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return torch.stack([texture_from_png(p.read_bytes()) for p in paths]) if paths else None


def bank_sources(style: str) -> tuple[str, ...]:
    """Where each of the medium's bank textures comes from, and its licence (bank/sources.json), in index order."""
    sources = json.loads((BANK / "sources.json").read_text(encoding="utf-8"))
    bank = bank_textures(style)
    return tuple(sources[f"{style}-{i}"] for i in range(0 if bank is None else len(bank)))


def full_strength(textures: Tensor) -> Tensor:
    """Textures whose alpha stencils peak at 1 (each one's alpha over its maximum, 8-bit as PNGs store it).
    The bank bakes a medium's transparency into its stencils (watercolor's wash peaks near 0.6), so an
    opaque stroke could not stay opaque under them and washed out; how transparent a stroke is belongs to
    its opacity, which the paint phase fits to the painting, and the stencil keeps only the pattern."""
    alpha = textures[..., 3:]
    alpha = (alpha / alpha.amax((1, 2), keepdim=True).clamp(min=1e-6) * 255.0).round() / 255.0
    return torch.cat([textures[..., :3], alpha], dim=-1)


def solid(textures: Tensor) -> Tensor:
    """The textures with alpha 1: their light and shade without their stencil's gaps."""
    return torch.cat([textures[..., :3], torch.ones_like(textures[..., 3:])], dim=-1)


def medium_textures(style: str, seed: int = 0) -> tuple[Tensor, tuple[str, ...]]:
    """The textures a medium paints with and their sources: where it has a bank, each bank texture at full
    strength (`full_strength`) followed by all of them `solid` (a stroke whose stencil's gaps would cost
    more than its pattern brings keeps its coverage whole), else its procedural variants (made here, no
    source to record)."""
    bank = bank_textures(style)
    if bank is None:
        return generate_textures(style, seed=seed), ()
    sources = bank_sources(style)
    full = full_strength(bank)
    return torch.cat([full, solid(full)]), sources + tuple(f"{s}; alpha set to 1" for s in sources)


def texture_png(texture: Tensor) -> bytes:
    """One (H, W, 4) texture as an 8-bit RGBA PNG, its row 0 the top row."""
    buf = io.BytesIO()
    pixels = (texture.detach().cpu().numpy() * 255.0).round().astype(np.uint8)
    Image.fromarray(pixels, "RGBA").save(buf, format="PNG")
    return buf.getvalue()


def texture_from_png(png: bytes) -> Tensor:
    """Inverse of texture_png: (H, W, 4) in [0, 1]; an RGB PNG gets alpha 1."""
    image = Image.open(io.BytesIO(png)).convert("RGBA")
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)

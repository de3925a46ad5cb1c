"""Canvas grain on the backend: the bare canvas a grain (`textures`) makes, and fitting a grain's
scale and strength to the target once the strokes are painted.

The shading itself is `diffpaint_shared.grain`'s, which Blender's canvas uses too. Fitting: the renderer
blends in linear light, so the finished painting over any bare canvas B is, per pixel and channel,
shown · linear(B) + covered, where ``shown`` is how much of the canvas the strokes leave showing and
``covered`` what they paint (one render over black gives ``covered``, one over white adds ``shown``;
smudges, which drag canvas color, make this nearly rather than exactly so). Every scale of
`GRAIN_SCALES` and strength on a grid is then scored by the image's squared error without rendering
again, and the best pair kept: least squares of the same pixel loss the strokes were fitted with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor

from diffpaint.grain.textures import grain_texture, gray_texels
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear
from diffpaint_shared.grain import canvas_linear, grain_field
from diffpaint_shared.strokefile import Canvas, CanvasGrain

# Canvas pixels per texel the fit tries: a 128-texel tile spans 256 … 1024 canvas pixels. No finer: Blender's
# render filter blurs grain of one texel per pixel (a bare canvas at strength 0.1 came out at 34 dB against
# this renderer's; at 2 px per texel 46 dB).
GRAIN_SCALES = (2.0, 4.0, 8.0)
COARSE_STRENGTHS = np.linspace(0.0, 1.0, 51)
FINE_STEP = 0.002


def canvas_image(background: tuple[float, float, float], grain: CanvasGrain | None, width: int, height: int,
                 device: torch.device | None = None) -> Tensor:
    """The bare canvas (height, width, 3), sRGB: the background color, shaded by ``grain`` when given."""
    if grain is None:
        return torch.tensor(background, dtype=torch.float32, device=device).expand(height, width, 3).contiguous()
    linear = canvas_linear(background, gray_texels(grain.png), grain.scale, grain.strength, width, height)
    return linear_to_srgb(torch.from_numpy(linear).to(device=device, dtype=torch.float32))


def file_canvas(canvas: Canvas, scale: float = 1.0, device: torch.device | None = None) -> Tensor:
    """A stroke file's bare canvas, its grain included, resized by ``scale`` (its pixels and the grain's)."""
    width, height = round(canvas.width * scale), round(canvas.height * scale)
    grain = None if canvas.grain is None else replace(canvas.grain, scale=canvas.grain.scale * scale)
    return canvas_image(canvas.background, grain, width, height, device)


def fit_grain(name: str, target: Tensor, background: tuple[float, float, float],
              render: Callable[[Tensor], Tensor]) -> CanvasGrain:
    """Grain ``name`` at the scale and strength that bring ``render`` (the finished painting over a bare
    canvas, sRGB in and out) closest to ``target`` (H, W, 3) in squared error; strength 0 if none helps."""
    height, width = target.shape[:2]
    device = target.device
    with torch.no_grad():
        covered = srgb_to_linear(render(torch.zeros(height, width, 3, device=device)))
        shown = srgb_to_linear(render(torch.ones(height, width, 3, device=device))) - covered
    base = srgb_to_linear(torch.tensor(background, dtype=torch.float32, device=device))
    texture = grain_texture(name)
    gray = gray_texels(texture.png)

    def error(z: Tensor, strength: float) -> float:
        bare = (base * (1.0 + strength * z)).clamp(0.0, 1.0)
        return float(((linear_to_srgb(shown * bare + covered) - target) ** 2).mean())

    best = (error(torch.zeros(height, width, 1, device=device), 0.0), GRAIN_SCALES[0], 0.0)
    for scale in GRAIN_SCALES:
        z = torch.from_numpy(grain_field(gray, scale, width, height)).to(device=device, dtype=torch.float32)[..., None]
        coarse = min(COARSE_STRENGTHS, key=lambda s: error(z, float(s)))
        fine = np.clip(coarse + FINE_STEP * np.arange(-10, 11), 0.0, 1.0)
        scored = min((error(z, float(s)), scale, float(s)) for s in fine)
        best = min(best, scored)
    _, scale, strength = best
    return CanvasGrain(name=name, png=texture.png, scale=scale, strength=round(strength, 4), source=texture.source)

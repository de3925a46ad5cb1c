"""The canvas grain's shading (``strokefile.CanvasGrain``), one definition for the backend's renderer and
Blender's canvas, so both show the very same bare canvas. docs/stroke-format.md states the rule:

    linear canvas(x, y) = linear(background) × (1 + strength · z(x, y)), clipped to [0, 1]

with z the texture's gray standardized over its texels, tiled from the top-left corner at ``scale``
canvas pixels per texel and read bilinearly (wrapping) at pixel centers. Each side decodes the PNG its
own way (PIL, Blender's image loader) into the 8-bit gray this module takes. numpy only.
"""

from __future__ import annotations

import numpy as np

from diffpaint_shared.color import srgb_to_linear


def standardized(gray: np.ndarray) -> np.ndarray:
    """An (h, w) texture's gray with zero mean and unit standard deviation (all zeros when flat)."""
    g = np.asarray(gray, dtype=np.float64)
    std = g.std()
    return (g - g.mean()) / std if std > 0 else np.zeros_like(g)


def grain_field(gray: np.ndarray, scale: float, width: int, height: int) -> np.ndarray:
    """z at every canvas pixel (height, width): the standardized texture tiled at ``scale`` canvas pixels
    per texel, read bilinearly with wrap-around at the pixel centers."""
    z = standardized(gray)
    th, tw = z.shape

    def taps(n: int, period: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = (np.arange(n) + 0.5) / scale - 0.5
        lo = np.floor(t)
        return lo.astype(np.int64) % period, (lo.astype(np.int64) + 1) % period, t - lo

    y0, y1, fy = taps(height, th)
    x0, x1, fx = taps(width, tw)
    fx, fy = fx[None, :], fy[:, None]
    top = z[y0][:, x0] * (1 - fx) + z[y0][:, x1] * fx
    bottom = z[y1][:, x0] * (1 - fx) + z[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def canvas_linear(background: tuple[float, float, float], gray: np.ndarray, scale: float, strength: float,
                  width: int, height: int) -> np.ndarray:
    """The bare canvas in linear light (height, width, 3): the sRGB ``background`` shaded by the grain."""
    base = srgb_to_linear(np.asarray(background, dtype=np.float64))
    shade = 1.0 + strength * grain_field(gray, scale, width, height)
    return np.clip(base[None, None, :] * shade[..., None], 0.0, 1.0)

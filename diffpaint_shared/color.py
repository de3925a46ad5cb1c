"""The sRGB transfer functions (IEC 61966-2-1), for numpy arrays and torch tensors alike.

Stroke files and images hold display sRGB; paint is blended in linear light, as Blender's Grease
Pencil does, so the backend's renderer and Blender agree where translucent strokes overlap
(50 % white over black is sRGB 188 in both, not 128). Both functions use only operations numpy
arrays and torch tensors share (``clip``, comparisons, arithmetic), so the renderer's gradients
flow through the very code the add-on runs; give them arrays, not Python floats.
"""

from __future__ import annotations

from typing import Any


def srgb_to_linear(c: Any) -> Any:
    """sRGB in [0, 1] (clamped) to linear light."""
    c = c.clip(0.0, 1.0)
    low = c <= 0.04045
    return low * (c / 12.92) + ~low * ((c + 0.055) / 1.055) ** 2.4


def linear_to_srgb(c: Any) -> Any:
    """Linear light in [0, 1] (clamped) to sRGB."""
    c = c.clip(0.0, 1.0)
    low = c <= 0.0031308
    # The clip inside the power keeps its gradient finite where the low branch is taken.
    return low * (12.92 * c) + ~low * (1.055 * c.clip(0.0031308, None) ** (1.0 / 2.4) - 0.055)

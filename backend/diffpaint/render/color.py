"""sRGB transfer functions.

Strokes and images are stored as display sRGB, but paint is blended in linear light, as
Blender's Grease Pencil does, so the two renderers agree where translucent strokes overlap
(measured: 50 % white over black renders as sRGB 188 in both, not 128).
"""

from __future__ import annotations

import torch
from torch import Tensor


def srgb_to_linear(c: Tensor) -> Tensor:
    c = c.clamp(0.0, 1.0)
    return torch.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c: Tensor) -> Tensor:
    c = c.clamp(0.0, 1.0)
    # The clamp inside the power keeps its gradient finite on the branch `where` discards.
    return torch.where(c <= 0.0031308, 12.92 * c, 1.055 * c.clamp(min=0.0031308) ** (1.0 / 2.4) - 0.055)

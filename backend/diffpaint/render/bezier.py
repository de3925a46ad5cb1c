"""Strokes' quadratic Béziers sampled into chains of stamps, batched over strokes (the curve itself
is `diffpaint_shared.curves`, the code the add-on and the SVG export evaluate too)."""

from __future__ import annotations

import torch
from torch import Tensor

from diffpaint_shared import curves


def curve_parameters(num_samples: int, like: Tensor) -> Tensor:
    """Evenly spaced curve parameters t in [0, 1], shape (K,), on `like`'s device and dtype."""
    return torch.linspace(0.0, 1.0, num_samples, device=like.device, dtype=like.dtype)


def quadratic_bezier(points: Tensor, t: Tensor) -> Tensor:
    """Points at parameters t of N strokes' Béziers. points: (N, 3, 2) start, control, end.  t: (K,).
    Returns (N, K, 2)."""
    t = t[None, :, None]
    return curves.quadratic_bezier(points[:, None, 0], points[:, None, 1], points[:, None, 2], t)


def lerp_along(ends: Tensor, t: Tensor) -> Tensor:
    """Per-stroke values linear along t. ends: (N, 2, ...) values at t=0 and t=1.  t: (K,).
    Returns (N, K, ...)."""
    shape = (1, -1) + (1,) * (ends.dim() - 2)
    return curves.lerp(ends[:, :1], ends[:, 1:2], t.view(shape))

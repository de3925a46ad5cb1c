"""Quadratic Bézier strokes sampled into chains of stamps."""

from __future__ import annotations

import torch
from torch import Tensor


def curve_parameters(num_samples: int, like: Tensor) -> Tensor:
    """Evenly spaced curve parameters t in [0, 1], shape (K,), on `like`'s device and dtype."""
    return torch.linspace(0.0, 1.0, num_samples, device=like.device, dtype=like.dtype)


def quadratic_bezier(points: Tensor, t: Tensor) -> Tensor:
    """Evaluate quadratic Béziers at parameters t.

    points: (N, 3, 2) start, control, end.  t: (K,).  Returns (N, K, 2).
    """
    t = t[None, :, None]
    p0, p1, p2 = points[:, None, 0], points[:, None, 1], points[:, None, 2]
    s = 1.0 - t
    return s * s * p0 + 2.0 * s * t * p1 + t * t * p2


def lerp_along(ends: Tensor, t: Tensor) -> Tensor:
    """Linear interpolation of per-stroke end values along t.

    ends: (N, 2, ...) values at t=0 and t=1.  t: (K,).  Returns (N, K, ...).
    """
    shape = (1, -1) + (1,) * (ends.dim() - 2)
    t = t.view(shape)
    return ends[:, :1] * (1.0 - t) + ends[:, 1:2] * t


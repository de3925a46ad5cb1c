"""Image quality measures."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def psnr(a: Tensor, b: Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1]."""
    mse = torch.mean((a.detach().float() - b.detach().float()) ** 2).item()
    return float("inf") if mse == 0 else 10.0 * math.log10(1.0 / mse)


def ssim(a: Tensor, b: Tensor) -> float:
    """Structural similarity of two (H, W, 3) images in [0, 1] (scikit-image, Gaussian-weighted)."""
    from skimage.metrics import structural_similarity

    x, y = (t.detach().float().cpu().numpy() for t in (a, b))
    return float(structural_similarity(x, y, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5))

"""Image quality measures."""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Identical images have an infinite PSNR, which JSON (the stroke file, report.json, the progress
# events) cannot hold. 100 dB is an RMS error of 1e-5, far below one 8-bit level (1/255), so a
# measure capped there still tells every real difference apart.
MAX_PSNR = 100.0


def psnr(a: Tensor, b: Tensor) -> float:
    """Peak signal-to-noise ratio in dB of two images in [0, 1], at most MAX_PSNR (identical images)."""
    mse = torch.mean((a.detach().float() - b.detach().float()) ** 2).item()
    return MAX_PSNR if mse == 0 else min(MAX_PSNR, 10.0 * math.log10(1.0 / mse))


def ssim(a: Tensor, b: Tensor) -> float:
    """Structural similarity of two (H, W, 3) images in [0, 1] (scikit-image, Gaussian-weighted)."""
    from skimage.metrics import structural_similarity

    x, y = (t.detach().float().cpu().numpy() for t in (a, b))
    return float(structural_similarity(x, y, channel_axis=-1, data_range=1.0, gaussian_weights=True, sigma=1.5))

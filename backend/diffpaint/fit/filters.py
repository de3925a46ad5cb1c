"""Small image filters over (H, W) or (H, W, C) tensors (edges padded by `render.deterministic.pad_edges`,
so `--deterministic` runs on CUDA)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.render.deterministic import pad_edges


def gaussian_blur(image: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur with reflected borders."""
    if sigma <= 0:
        return image
    squeeze = image.dim() == 2
    x = (image[..., None] if squeeze else image).permute(2, 0, 1)[None]  # (1, C, H, W)
    channels = x.shape[1]
    radius = min(int(math.ceil(3 * sigma)), max(x.shape[-2:]) - 1)
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = (kernel / kernel.sum()).repeat(channels, 1)
    x = pad_edges(x, radius, "reflect")
    x = F.conv2d(x, kernel[:, None, None, :], groups=channels)
    x = F.conv2d(x, kernel[:, None, :, None], groups=channels)
    out = x[0].permute(1, 2, 0)
    return out[..., 0] if squeeze else out


def sobel(gray: Tensor) -> tuple[Tensor, Tensor]:
    """Horizontal and vertical derivatives of an (H, W) image (y down)."""
    k = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], device=gray.device) / 8.0
    x = pad_edges(gray[None, None], 1)
    gx = F.conv2d(x, k[None, None])[0, 0]
    gy = F.conv2d(x, k.T[None, None])[0, 0]
    return gx, gy


def luminance(image: Tensor) -> Tensor:
    return image @ torch.tensor([0.2126, 0.7152, 0.0722], device=image.device, dtype=image.dtype)


def gradient_magnitude(image: Tensor) -> Tensor:
    """Sobel gradient magnitude of an (H, W, 3) image's luminance, per px. (H, W)."""
    gx, gy = sobel(luminance(image))
    return torch.sqrt(gx * gx + gy * gy)


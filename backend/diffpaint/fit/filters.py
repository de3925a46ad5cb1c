"""Small image filters over (H, W) or (H, W, C) tensors (edges padded by `render.deterministic.pad_edges`,
so `--deterministic` runs on CUDA)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.render.deterministic import pad_edges

FFT_RADIUS = 256  # kernel radius (px) above which `gaussian_blur` convolves through the FFT: canvases over
# about 680 px (σ = cell / 8 at level 0), so smaller ones keep the exact results of the direct convolution


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
    if radius > FFT_RADIUS:
        x = _convolve_fft(_convolve_fft(x, kernel[0], -1), kernel[0], -2)
    else:
        x = F.conv2d(x, kernel[:, None, None, :], groups=channels)
        x = F.conv2d(x, kernel[:, None, :, None], groups=channels)
    out = x[0].permute(1, 2, 0)
    return out[..., 0] if squeeze else out


def _convolve_fft(x: Tensor, kernel: Tensor, dim: int) -> Tensor:
    """The valid part of `x` convolved with the symmetric 1-D `kernel` along `dim`, through the FFT: a
    coarse level's blur on a large canvas has hundreds of taps (σ = cell / 8), which direct convolution
    pays per pixel."""
    n, taps = x.shape[dim], kernel.numel()
    length = n + taps - 1
    shape = [1] * x.dim()
    shape[dim] = length // 2 + 1
    product = torch.fft.rfft(x, length, dim=dim) * torch.fft.rfft(kernel, length).reshape(shape)
    return torch.fft.irfft(product, length, dim=dim).narrow(dim, taps - 1, n - taps + 1)


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


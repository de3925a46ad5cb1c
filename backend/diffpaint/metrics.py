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


def detail_ratio(image: Tensor, target: Tensor) -> float:
    """How much of the target's fine detail an image keeps: `high_frequency_share` of the image over the
    target's (1 = as much, below 1 = smoother, above 1 = noisier)."""
    return high_frequency_share(image) / high_frequency_share(target)


def high_frequency_share(image: Tensor) -> float:
    """Share of an (H, W, 3) image's spectral power at 0.5–1.0 of Nyquist among all of it up to Nyquist.

    The gray image minus its mean, times a 2-D Hann window (so the image's borders add no spurious
    high frequencies), Fourier-transformed; radius is normalized per axis (1 = Nyquist), the corners
    beyond 1 left out.
    """
    spectrum, radius = _windowed_spectrum(image)
    power = spectrum.abs() ** 2
    total = power[radius <= 1.0].sum()
    high = power[(radius >= 0.5) & (radius <= 1.0)].sum()
    return float(high / total) if total > 0 else 0.0


def fine_band_correlation(image: Tensor, target: Tensor) -> float:
    """Correlation in [−1, 1] of two (H, W, 3) images' fine detail: their spectra (as `high_frequency_share`
    takes them) at 0.5–1.0 of Nyquist. Detail that adds power without it (a texture's grain where the
    target has other grain) raises `detail_ratio` and the pixel error alike: a fine band of d times the
    target's power at correlation ρ costs d − 2ρ√d of that power in squared error, against 0 for none."""
    (a, radius), (b, _) = _windowed_spectrum(image), _windowed_spectrum(target)
    band = (radius >= 0.5) & (radius <= 1.0)
    a, b = a[band], b[band]
    norm = torch.sqrt((a.abs() ** 2).sum() * (b.abs() ** 2).sum())
    return float((a * b.conj()).real.sum() / norm) if norm > 0 else 0.0


def _windowed_spectrum(image: Tensor) -> tuple[Tensor, Tensor]:
    """The 2-D Fourier transform of an (H, W, 3) image's gray, minus its mean, times a Hann window, and each
    frequency's radius (1 = Nyquist on each axis)."""
    gray = image.detach().double().cpu().mean(dim=-1)
    gray = gray - gray.mean()
    height, width = gray.shape
    window = torch.outer(torch.hann_window(height, periodic=False, dtype=torch.float64),
                         torch.hann_window(width, periodic=False, dtype=torch.float64))
    fy = torch.fft.fftfreq(height, dtype=torch.float64) * 2.0  # cycles per pixel over Nyquist's 0.5
    fx = torch.fft.fftfreq(width, dtype=torch.float64) * 2.0
    return torch.fft.fft2(gray * window), torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)

"""Image filters: the wide Gaussian blur through the FFT is the direct convolution's blur."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffpaint.fit import filters
from diffpaint.imageio import load_image


@pytest.mark.parametrize("sigma", [12.0, 40.0])
def test_a_wide_blur_through_the_fft_equals_the_direct_convolution(painting_path: Path, monkeypatch, sigma) -> None:
    painting = load_image(painting_path, 160)[0]  # not square: both axes' padding and cropping count
    gray = painting.mean(-1)
    monkeypatch.setattr(filters, "FFT_RADIUS", 10**6)
    direct = filters.gaussian_blur(painting, sigma), filters.gaussian_blur(gray, sigma)
    monkeypatch.setattr(filters, "FFT_RADIUS", 0)
    through_fft = filters.gaussian_blur(painting, sigma), filters.gaussian_blur(gray, sigma)
    for a, b in zip(direct, through_fft, strict=True):
        assert a.shape == b.shape
        assert torch.allclose(a, b, atol=1e-5)
    assert (direct[0] - painting).abs().mean() > 0.01  # a real blur, not the image handed back

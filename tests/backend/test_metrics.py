"""Detail measures on a real painting: the detail ratio and the fine band's correlation."""

import torch
import torch.nn.functional as F

from diffpaint.imageio import load_image
from diffpaint.metrics import detail_ratio, fine_band_correlation


def _blurred(image: torch.Tensor) -> torch.Tensor:
    """A 5×5 box blur (replicated borders): most power at 0.5–1 Nyquist removed, the rest kept."""
    chw = F.pad(image.permute(2, 0, 1)[None], (2, 2, 2, 2), mode="replicate")
    return F.avg_pool2d(chw, 5, stride=1)[0].permute(1, 2, 0)


def test_detail_ratio_is_1_for_the_target_and_falls_when_blurred(painting_path):
    target, _ = load_image(painting_path, 256)
    assert abs(detail_ratio(target, target) - 1.0) < 1e-9
    assert detail_ratio(_blurred(target), target) < 0.2


def test_fine_band_correlation_tells_matching_detail_from_other_detail(painting_path):
    target, _ = load_image(painting_path, 256)
    smooth = _blurred(target)
    detail = target - smooth
    noise = torch.randn(target.shape[:2], generator=torch.Generator().manual_seed(0))[..., None] * detail.std()
    assert abs(fine_band_correlation(target, target) - 1.0) < 1e-9
    assert fine_band_correlation(smooth - detail, target) < -0.8  # the same detail, inverted
    assert abs(fine_band_correlation(smooth + noise, target)) < 0.1  # more detail, unrelated
    assert detail_ratio(smooth + noise, target) > 1.0  # which the detail ratio alone rewards

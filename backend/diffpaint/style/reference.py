"""Brushwork statistics of a reference painting (paper §4.4, style from a reference), which the style phase
matches so a photo can be painted in the brushwork of a chosen painting while its geometry and color
follow the photo.

The statistics describe brushwork, not content, and need nothing but the image (no network, no weights):
the gray image's Laplacian pyramid, and per band (1) its share of the energy of all bands (how coarse or fine
the marks are) and (2) how that band's gradient energy spreads over `DIRECTIONS` orientations (steered
first derivatives: how strongly the marks run one way). Both are normalized, so they do not depend on the
painting's contrast or on what it shows, and they are differentiable, so the style phase descends their
distance. The reference is read at the fit's resolution, so a band means the same mark size in both.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.imageio import ImageInputError, read_image

BANDS = 4  # Laplacian bands, finest first: marks of about 1–2, 2–4, 4–8 and 8–16 px
DIRECTIONS = 4  # steered derivative directions over the half circle (0°, 45°, 90°, 135°)
ORIENTATION_WEIGHT = 4.0  # orientation shares are a few hundredths apart, band log-shares a few tenths


@dataclass(frozen=True)
class BrushworkStatistics:
    """A painting's brushwork: per band its log energy share (BANDS,) and its orientation shares (BANDS, DIRECTIONS)."""

    band_share: Tensor
    orientation: Tensor

    def to(self, device: torch.device) -> BrushworkStatistics:
        return BrushworkStatistics(self.band_share.to(device), self.orientation.to(device))

    def distance(self, image: Tensor) -> Tensor:
        """How far an (H, W, 3) image's brushwork is from these statistics (differentiable, 0 when equal)."""
        other = brushwork_statistics(image)
        mine = self.to(image.device)
        return ((other.band_share - mine.band_share).abs().mean()
                + ORIENTATION_WEIGHT * (other.orientation - mine.orientation).abs().mean())


def laplacian_bands(gray: Tensor, count: int = BANDS) -> list[Tensor]:
    """The finest `count` bands of a (1, 1, H, W) image's Laplacian pyramid (each level minus its blurred self)."""
    bands = []
    level = gray
    for _ in range(count):
        if min(level.shape[-2:]) < 4:
            break
        coarse = F.avg_pool2d(level, 2, ceil_mode=True)
        blurred = F.interpolate(coarse, size=level.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(level - blurred)
        level = coarse
    return bands


def brushwork_statistics(image: Tensor) -> BrushworkStatistics:
    """The brushwork statistics of an (H, W, 3) image in [0, 1]; differentiable."""
    gray = image.float().mean(-1)[None, None]
    angles = torch.arange(DIRECTIONS, device=image.device, dtype=torch.float32) * (math.pi / DIRECTIONS)
    energies, orientations = [], []
    for band in laplacian_bands(gray):
        energies.append(band.square().mean())
        dx = band[..., :, 1:] - band[..., :, :-1]
        dy = band[..., 1:, :] - band[..., :-1, :]
        dx, dy = dx[..., :-1, :], dy[..., :, :-1]  # both on the same (H − 1, W − 1) grid
        steered = torch.cos(angles)[:, None, None] * dx[0] + torch.sin(angles)[:, None, None] * dy[0]
        energy = steered.square().mean((-2, -1))
        orientations.append(energy / energy.sum().clamp(min=1e-12))
    band_energy = torch.stack(energies).clamp(min=1e-12)
    missing = BANDS - len(energies)  # a tiny image has fewer bands: pad as if they held nothing
    share = F.pad((band_energy / band_energy.sum()).log(), (0, missing), value=math.log(1e-12))
    orientation = torch.cat([torch.stack(orientations),
                             torch.full((missing, DIRECTIONS), 1.0 / DIRECTIONS, device=image.device)])
    return BrushworkStatistics(share, orientation)


def read_reference(path: str | os.PathLike[str], size: int) -> BrushworkStatistics:
    """The brushwork statistics of the painting at `path`, read with its long side at `size` px (the fit's
    resolution, so its bands mean the mark sizes they mean in the fitted image); ImageInputError naming the
    file as the style reference when it cannot be read."""
    try:
        reference = read_image(path, size)
    except ImageInputError as e:
        raise ImageInputError(f"style reference: {e}") from None
    with torch.no_grad():
        return brushwork_statistics(reference.over(reference.mean_color()))

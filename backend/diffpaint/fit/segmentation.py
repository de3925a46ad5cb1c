"""Region segmentation of the target, for the loss that keeps each stroke inside one region.

A segmenter is any callable image (H, W, 3) in [0, 1] → labels (H, W) long in 0..R−1, so a learned
one can replace these later. The two here are classical (scikit-image), deterministic, and take a
region count as a target, not an exact number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from skimage.segmentation import felzenszwalb, relabel_sequential, slic
from torch import Tensor

Method = Literal["slic", "felzenszwalb"]


class Segmenter(Protocol):
    def __call__(self, image: Tensor) -> Tensor:
        """(H, W, 3) sRGB in [0, 1] → (H, W) long labels 0..R−1, on the image's device."""
        ...


@dataclass(frozen=True)
class SlicSegmenter:
    """SLIC superpixels: k-means in (Lab color, position) from a regular grid of `regions` seeds.

    compactness trades color against position in Lab units. Paintings want a low value (5, against
    skimage's usual 10): region edges then follow color boundaries (a cypress against the sky)
    instead of the seed grid, yet regions stay in one piece. sigma = 1 px of pre-blur keeps brush
    texture and canvas grain from fraying the boundaries. Yields about 0.2–0.8 × `regions` (sample
    paintings at 256 px; a flat painting gets fewer).
    """

    regions: int = 32
    compactness: float = 5.0
    sigma: float = 1.0

    def __call__(self, image: Tensor) -> Tensor:
        labels = slic(_to_numpy(image), n_segments=self.regions, compactness=self.compactness, sigma=self.sigma,
                      start_label=0, channel_axis=-1, enforce_connectivity=True)
        return _to_labels(labels, image)


@dataclass(frozen=True)
class FelzenszwalbSegmenter:
    """Felzenszwalb–Huttenlocher graph merging: regions of any shape, sized by content.

    It has no region count; merging regions smaller than H·W / (4 × `regions`) px makes the count
    land near `regions` (0.5–1.2 × on the sample paintings at 256 px).
    """

    regions: int = 32
    scale: float = 100.0
    sigma: float = 0.8

    def __call__(self, image: Tensor) -> Tensor:
        array = _to_numpy(image)
        min_size = max(1, array.shape[0] * array.shape[1] // (4 * self.regions))
        labels = felzenszwalb(array, scale=self.scale, sigma=self.sigma, min_size=min_size, channel_axis=-1)
        return _to_labels(labels, image)


def segmenter(method: Method = "slic", regions: int = 32) -> Segmenter:
    """A segmenter by name, aiming at about `regions` regions."""
    if regions < 1:
        raise ValueError(f"regions must be at least 1, not {regions}")
    if method == "slic":
        return SlicSegmenter(regions)
    if method == "felzenszwalb":
        return FelzenszwalbSegmenter(regions)
    raise ValueError(f"unknown segmentation method {method!r}; use 'slic' or 'felzenszwalb'")


def segment(target: Tensor, method: Method = "slic", regions: int = 32) -> Tensor:
    """Region labels (H, W) long, 0..R−1, of a (H, W, 3) image in [0, 1]. Deterministic.

    Regions should be no smaller than the strokes that must stay inside them: ~32 on a painting
    suits the finest strokes of the default 3 levels.
    """
    if target.dim() != 3 or target.shape[-1] != 3:
        raise ValueError(f"segment needs an (H, W, 3) image, not {tuple(target.shape)}")
    return segmenter(method, regions)(target)


def resize_labels(labels: Tensor, height: int, width: int) -> Tensor:
    """Nearest-neighbor resize of (H, W) labels, e.g. for a level fitted on a downscaled canvas.

    Labels stay those of the full-size segmentation (a region too small to survive leaves a gap in
    0..R−1, which the segmentation loss tolerates), so pass the same region count.
    """
    if labels.shape == (height, width):
        return labels
    resized = F.interpolate(labels[None, None].float(), size=(height, width), mode="nearest-exact")
    return resized[0, 0].round().long()


def _to_numpy(image: Tensor) -> np.ndarray:
    return image.detach().clamp(0.0, 1.0).cpu().double().numpy()


def _to_labels(labels: np.ndarray, like: Tensor) -> Tensor:
    """Consecutive labels from 0, as a long tensor on `like`'s device."""
    consecutive = relabel_sequential(labels.astype(np.int64) + 1)[0] - 1
    return torch.from_numpy(consecutive).to(like.device)

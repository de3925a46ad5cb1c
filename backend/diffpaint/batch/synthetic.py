"""A camera pan over a still image, as frames: material for tests, benchmarks and demos of sequences."""

from __future__ import annotations

from torch import Tensor

from diffpaint.imageio import resize


def pan(image: Tensor, side: int, count: int, step: tuple[int, int] = (2, 1)) -> list[Tensor]:
    """`count` square frames of `side` px cut from `image` (H, W, 3) at a window that moves `step`
    (dx, dy) pixels a frame, the image first scaled so the whole pan fits inside it."""
    height, width = image.shape[:2]
    need_w, need_h = side + step[0] * (count - 1), side + step[1] * (count - 1)
    scale = max(need_w / width, need_h / height)
    image = resize(image, max(need_w, round(width * scale)), max(need_h, round(height * scale)))
    return [image[i * step[1]: i * step[1] + side, i * step[0]: i * step[0] + side].contiguous() for i in range(count)]

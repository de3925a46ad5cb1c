"""Reading target images and writing results, with errors a user can act on."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

MIN_SIDE = 8


class ImageInputError(ValueError):
    """The input image cannot be used; the message says why."""


def load_image(path: str | os.PathLike[str], max_side: int) -> tuple[Tensor, str | None]:
    """Load an image as an sRGB float tensor (H, W, 3) in [0, 1], downscaled so its long side ≤ max_side.

    Returns the tensor and a notice when the image was resized (None otherwise). Transparent areas
    are flattened onto white.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageInputError(f"image not found: {p}")
    try:
        with Image.open(p) as im:
            im.load()
            rgb = _to_rgb(im)
    except UnidentifiedImageError:
        raise ImageInputError(f"{p.name} is not an image format DiffPaint can read (PNG, JPEG, TIFF, WebP…)") from None
    except (OSError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageInputError(f"{p.name} could not be decoded: {e}") from None
    if min(rgb.size) < MIN_SIDE:
        raise ImageInputError(f"{p.name} is {rgb.width}×{rgb.height} px; DiffPaint needs at least {MIN_SIDE} px a side")
    notice = None
    if max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        notice = f"{p.name}: working at {size[0]}×{size[1]} px (downscaled from {rgb.width}×{rgb.height})"
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(rgb, dtype=np.float32) / 255.0), notice


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        im = Image.fromarray((np.asarray(im, dtype=np.float64) / 257.0).clip(0, 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def to_pil(image: Tensor) -> Image.Image:
    array = (image.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
    return Image.fromarray(array, "RGB")


def save_png(image: Tensor, path: str | os.PathLike[str]) -> None:
    to_pil(image).save(path)

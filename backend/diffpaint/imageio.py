"""Reading target images and writing results, with errors a user can act on.

`read_image` is the one place that decides whether an image can be used: the CLI, the server's
upload check and its worker all go through it. It reads PNG, JPEG, TIFF and WebP (no other format:
every decoder Pillow has is attack surface, some run external programs); 8- and 16-bit;
color or grayscale; with or without alpha (kept, so transparent areas can stay unpainted);
honors a JPEG's EXIF orientation; and downscales an image whose long side exceeds the working
size, with a notice saying so.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch import Tensor

MIN_SIDE = 8
FORMATS = "PNG, JPEG, TIFF or WebP"
PILLOW_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP")
# A huge image is box-reduced (on its integer pixels) to no less than this long side, and twice the
# working size, before the float copy the antialiased resize needs: that copy stays small, and the
# resize still has at least two source pixels per output pixel to average.
REDUCE_ABOVE_SIDE = 2048


class ImageInputError(ValueError):
    """The input image cannot be used; the message says why."""


class ImageTooLargeError(ImageInputError):
    """The image has more pixels than the caller accepts."""


@dataclass(frozen=True)
class LoadedImage:
    rgb: Tensor  # (H, W, 3) sRGB in [0, 1]; transparent areas flattened onto white
    alpha: Tensor | None  # (H, W) in [0, 1]; None for an opaque image
    notice: str | None  # what was done to the image (downscaling), for the user; None if nothing

    def mean_color(self) -> tuple[float, float, float]:
        """Mean color of the image's visible part (alpha-weighted)."""
        if self.alpha is None:
            r, g, b = self.rgb.mean(dim=(0, 1)).clamp(0, 1).tolist()
            return (r, g, b)
        a = self.alpha[..., None]
        # a·c = flat − (1 − a)·white
        r, g, b = ((self.rgb - (1.0 - a)).sum(dim=(0, 1)) / a.sum().clamp(min=1e-6)).clamp(0, 1).tolist()
        return (r, g, b)

    def over(self, background: tuple[float, float, float]) -> Tensor:
        """The image composited over a flat color instead of white: transparent areas become bare canvas."""
        if self.alpha is None:
            return self.rgb
        # flat = a·c + (1 − a)·white, so a·c + (1 − a)·bg = flat + (1 − a)·(bg − 1).
        shift = torch.tensor(background, dtype=self.rgb.dtype, device=self.rgb.device) - 1.0
        return (self.rgb + (1.0 - self.alpha[..., None]) * shift).clamp(0, 1)


def read_image(path: str | os.PathLike[str], max_side: int, max_pixels: int | None = None) -> LoadedImage:
    """Load an image, downscaled so its long side ≤ max_side; ImageInputError says why one cannot be used.

    max_pixels refuses (ImageTooLargeError) images with more pixels before any is decoded.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageInputError(f"image not found: {p}")
    try:
        with Image.open(p, formats=PILLOW_FORMATS) as im:
            w, h = im.size
            if max_pixels is not None and w * h > max_pixels:
                raise ImageTooLargeError(f"{p.name} is {w}×{h} px ({w * h / 1e6:.0f} MP); the limit here is at most "
                                         f"{max_pixels / 1e6:.0f} MP: downscale it first")
            reduced = _reduced_size(w, h, max_side)
            if im.format == "JPEG" and max(w, h) >= 2 * max(reduced):  # it can decode at 1/2…1/8 scale
                im.draft(im.mode, reduced)
            im.load()
            rgb, alpha = _to_float(_reduce(ImageOps.exif_transpose(im), max_side))
    except ImageInputError:
        raise
    except UnidentifiedImageError:
        raise ImageInputError(f"{p.name} is not an image format DiffPaint can read; send a {FORMATS} file") from None
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"{p.name} has too many pixels to decode safely; downscale it first") from None
    except MemoryError:
        raise
    except Exception as e:  # Pillow's decoders raise many kinds of error on damaged data
        raise ImageInputError(f"{p.name} could not be decoded ({type(e).__name__}: {e}); it may be truncated or "
                              "corrupt") from None
    height, width = rgb.shape[:2]
    if min(width, height) < MIN_SIDE:
        raise ImageInputError(f"{p.name} is {width}×{height} px; DiffPaint needs at least {MIN_SIDE} px a side")
    notice = None
    if max(width, height) > max_side:
        scale = max_side / max(width, height)
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        if min(size) < MIN_SIDE:
            raise ImageInputError(f"{p.name} is {width}×{height} px: at {max_side} px on its long side its short "
                                  f"side would be {min(size)} px, under {MIN_SIDE}; crop it or work at a larger size")
        notice = f"{p.name}: working at {size[0]}×{size[1]} px (downscaled from {width}×{height})"
        rgb = resize(rgb, *size)
        alpha = None if alpha is None else resize(alpha[..., None], *size)[..., 0]
    return LoadedImage(rgb, alpha, notice)


def _reduced_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The smallest size an image may be box-reduced to before the final resize (REDUCE_ABOVE_SIDE)."""
    scale = min(1.0, max(REDUCE_ABOVE_SIDE, 2 * max_side) / max(width, height))
    return math.ceil(width * scale), math.ceil(height * scale)


def _reduce(im: Image.Image, max_side: int) -> Image.Image:
    """`im` shrunk by a whole factor, on its integer pixels, while its long side stays at least
    REDUCE_ABOVE_SIDE and twice max_side; `im` itself when no such factor is there."""
    factor = max(im.size) // max(_reduced_size(*im.size, max_side))
    if factor < 2:
        return im
    if im.mode.startswith("I;16"):
        im = im.convert("I")  # 32-bit integer keeps the 16-bit levels; reduce() has no 16-bit mode
    elif im.mode == "1":
        im = im.convert("L")
    elif im.mode not in ("L", "LA", "RGB", "RGBA", "I"):  # e.g. a palette, which reduce() cannot average
        im = im.convert("RGBA" if _has_alpha(im) else "RGB")
    return im.reduce(factor)


def _has_alpha(im: Image.Image) -> bool:
    return im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info)


def load_image(path: str | os.PathLike[str], max_side: int) -> tuple[Tensor, str | None]:
    """`read_image`'s color (transparency flattened onto white) and notice."""
    image = read_image(path, max_side)
    return image.rgb, image.notice


def resize(image: Tensor, width: int, height: int) -> Tensor:
    """Resample an (H, W, C) image to width × height: antialiased bicubic, clamped to [0, 1]."""
    if image.shape[:2] == (height, width):
        return image
    chw = image.permute(2, 0, 1)[None]
    out = F.interpolate(chw, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return out[0].permute(1, 2, 0).clamp(0, 1).contiguous()


def _to_float(im: Image.Image) -> tuple[Tensor, Tensor | None]:
    """sRGB (H, W, 3) flattened onto white and alpha (H, W) or None, in [0, 1], keeping 16-bit precision."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):  # 16-bit grayscale: PIL has no 16-bit RGB mode
        gray = np.asarray(im, dtype=np.float32) / 65535.0
        return torch.from_numpy(np.repeat(gray.clip(0, 1)[..., None], 3, axis=-1)), None
    if im.mode == "F":
        raise ImageInputError("floating-point images are not supported; export the image as 8- or 16-bit")
    has_alpha = _has_alpha(im)
    rgba = np.asarray(im.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32)
    rgba /= 255.0  # in place: no second full-size float copy
    if not has_alpha or rgba[..., 3].min() == 1.0:
        return torch.from_numpy(np.ascontiguousarray(rgba[..., :3])), None
    alpha = rgba[..., 3:]
    flat = rgba[..., :3] * alpha + (1.0 - alpha)
    return torch.from_numpy(flat), torch.from_numpy(np.ascontiguousarray(alpha[..., 0]))


def to_pil(image: Tensor) -> Image.Image:
    array = (image.detach().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
    return Image.fromarray(array, "RGB")


def save_png(image: Tensor, path: str | os.PathLike[str]) -> None:
    to_pil(image).save(path)

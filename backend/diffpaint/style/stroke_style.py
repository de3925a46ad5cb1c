"""A stroke style: per-stroke texture parameters of strokes painted in one medium."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from torch import Tensor

from diffpaint.strokes import StrokeBatch


@dataclass
class StrokeStyle(StrokeBatch):
    """Per-stroke texture parameters of N strokes painted in one medium with V texture variants
    (Grease Pencil's TEXTURE material settings, see `shader`)."""

    name: str
    textures: Tensor  # (V, H, W, 4) linear RGBA in [0, 1], row 0 the image's top row (v = 1)
    variant: Tensor  # (N,) long, which texture each stroke uses
    u_scale: Tensor  # (N,) > 0, texture repeats along the stroke
    u_translation: Tensor  # (N,) texture shift along the stroke, in texture widths
    softness: Tensor  # (N,) in [0, 1): Grease Pencil's soft edge (0 = hard)
    mix: Tensor  # (N,) in [0, 1]: weight of the stroke's own color against the texture's
    sources: tuple[str, ...] = ()  # per texture, where it comes from and its licence ("" or none: unknown)

    shared: ClassVar[tuple[str, ...]] = ("textures",)

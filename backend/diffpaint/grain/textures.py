"""The paper and canvas textures the backend ships (bank/, derived from Krita's CC-0 patterns by
scripts/make_grain.py: bank/SOURCES.md). Free of torch, so Blender-side tests and tools can read them."""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from diffpaint_shared.jobschema import GRAINS
from diffpaint_shared.strokefile import CanvasGrain

BANK = Path(__file__).resolve().parent / "bank"


@cache
def grain_texture(name: str) -> CanvasGrain:
    """The shipped grain ``name`` (one of jobschema.GRAINS) at scale 1 and strength 0."""
    if name not in GRAINS:
        raise ValueError(f"grain must be one of {', '.join(GRAINS)}, not {name!r}")
    sources = json.loads((BANK / "sources.json").read_text(encoding="utf-8"))
    return CanvasGrain(name=name, png=(BANK / f"{name}.png").read_bytes(), source=sources[name])


def gray_texels(png: bytes) -> np.ndarray:
    """A grain PNG's gray (its first channel), 8-bit (h, w), as Blender's loader reads it too."""
    with Image.open(io.BytesIO(png)) as image:
        pixels = np.asarray(image.convert("RGBA") if image.mode not in ("L", "RGB", "RGBA") else image)
    return pixels if pixels.ndim == 2 else pixels[..., 0]

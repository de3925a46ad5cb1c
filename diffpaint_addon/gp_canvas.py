# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every RNA pointer as Optional; inside Blender they are set.)
"""The canvas under a painting in Grease Pencil: a fill of the background color, or, with a canvas grain
(docs/stroke-format.md), a TEXTURE fill showing the bare canvas the grain makes, baked once into an
image of one pixel per canvas pixel by `diffpaint_shared.grain` (the backend's renderer shades its canvas
with the same code).

The canvas is one cyclic rectangle whose first point is the canvas's top-left corner and whose first
edge runs along the top. Grease Pencil v3 lays a fill texture in the stroke's own frame (origin at the
first point, u along the first edge, v across it, in drawing units divided by the curve's ``uv_scale``)
and shifts it by the material's ``texture_offset`` after a built-in half-tile shift: ``uv_scale`` = the
canvas's size in drawing units (negative across, as v grows up the image and canvas y down) and an
offset of (½, ½) put the baked image on the canvas, to a fraction of a pixel (measured with ramps).

bpy, numpy and the standard library only: this module runs inside Blender.
"""

from __future__ import annotations

import hashlib

import bpy
import numpy as np

from diffpaint_shared.color import linear_to_srgb, srgb_to_linear
from diffpaint_shared.grain import canvas_linear
from diffpaint_shared.strokefile import Canvas, CanvasGrain

from .gp_textures import encode_png, packed_image
from .sampling import CanvasMapping

CANVAS_MATERIAL = "DiffPaint Canvas"
GRAIN_OFFSET = (0.5, 0.5)  # cancels Grease Pencil's half-tile shift of fill textures (see the module's doc)


def _hex(srgb: tuple[float, float, float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in srgb)


def canvas_key(canvas: Canvas) -> str:
    """What tells canvas materials apart: the background color, and the grain and canvas size it is baked at."""
    key = _hex(canvas.background)
    if canvas.grain is None:
        return key
    g = canvas.grain
    digest = hashlib.sha256(g.png).hexdigest()[:8]
    return f"{key} {g.name} {digest} {g.scale:g}x {g.strength:g} {canvas.width}x{canvas.height}"


def canvas_material(canvas: Canvas, created: list[bpy.types.ID]) -> bpy.types.Material:
    """The canvas fill of ``canvas``, named by canvas_key: paintings on the same canvas share it."""
    name = f"{CANVAS_MATERIAL} {canvas_key(canvas)}"
    mat = bpy.data.materials.get(name)
    if mat is not None and mat.grease_pencil is not None:
        return mat
    mat = bpy.data.materials.new(name)
    created.append(mat)
    bpy.data.materials.create_gpencil_data(mat)
    gp = mat.grease_pencil
    gp.show_stroke, gp.show_fill = False, True
    gp.fill_color = (*srgb_to_linear(np.asarray(canvas.background, dtype=np.float64)), 1.0)
    if canvas.grain is not None:
        gp.fill_style = "TEXTURE"
        gp.fill_image = _grain_image(canvas, name, created)
        gp.mix_factor = 0.0  # the image alone: it holds the background color already
        gp.texture_offset = GRAIN_OFFSET
        gp.texture_scale = (1.0, 1.0)
        gp.texture_angle = 0.0
    return mat


def _grain_image(canvas: Canvas, name: str, created: list[bpy.types.ID]) -> bpy.types.Image:
    """The bare canvas ``canvas``'s grain makes, as a packed sRGB image (Blender decodes it to linear light
    when it samples, so the render shows the stored sRGB colors)."""
    grain = canvas.grain
    assert grain is not None
    linear = canvas_linear(canvas.background, grain_gray(grain), grain.scale, grain.strength,
                           canvas.width, canvas.height)
    srgb = np.round(linear_to_srgb(linear) * 255.0).astype(np.uint8)
    rgba = np.concatenate([srgb, np.full((*srgb.shape[:2], 1), 255, dtype=np.uint8)], axis=-1)
    image = packed_image(encode_png(rgba), name)
    created.append(image)
    image.colorspace_settings.name = "sRGB"
    image["diffpaint_source"] = grain.source
    return image


def grain_gray(grain: CanvasGrain) -> np.ndarray:
    """A grain PNG's first channel as 8-bit gray (h, w), row 0 the top, as the backend decodes it."""
    image = packed_image(grain.png, "DiffPaint grain texture")
    try:
        image.colorspace_settings.name = "Non-Color"  # the stored values, undecoded
        width, height = (int(n) for n in image.size)  # type: ignore[attr-defined]
        pixels = np.empty(width * height * image.channels, dtype=np.float32)
        image.pixels.foreach_get(pixels)
        return np.round(pixels.reshape(height, width, image.channels)[::-1, :, 0] * 255.0).astype(np.uint8)
    finally:
        bpy.data.images.remove(image)


def grain_uv_scale(canvas: Canvas, mapping: CanvasMapping) -> tuple[float, float] | None:
    """The canvas stroke's ``uv_scale``: the canvas's size in drawing units, so the baked grain image spans
    it once; None for a flat canvas."""
    if canvas.grain is None:
        return None
    return (canvas.width * mapping.scale, -canvas.height * mapping.scale)

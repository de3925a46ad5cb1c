# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every RNA pointer as Optional; inside Blender they are set.)
"""Textured strokes in Grease Pencil: the stroke file's texture images as packed images, a TEXTURE
material per (texture, mix) pair, and the per-stroke u_scale/u_translation attributes (the importer
writes the mapping's softness with the other per-stroke attributes).

Grease Pencil samples a stroke texture at u = (u_scale · length so far + u_translation) ·
500 / pixel_size, with the length in the drawing's units, and v across the stroke. Materials here
use pixel_size 500, and each stroke's u_scale is the file's divided by the stroke's length, so u runs
over the file's normalized arc length as docs/stroke-format.md defines it (and the backend renders).

bpy, numpy and the standard library only: this module runs inside Blender.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence

import bpy
import numpy as np

from diffpaint_shared.strokefile import Stroke, StrokeFile

PIXEL_SIZE = 500.0  # Grease Pencil's stroke u scale is 500 / pixel_size: 1 keeps u as the attributes give it


def texture_material_name(texture: str, mix: float) -> str:
    return f"DiffPaint {texture} mix {mix:.4f}"


def material_key(s: Stroke) -> str:
    """The material a stroke is drawn with: its kind's, or its texture's at its mix."""
    if s.texture is None or s.mapping is None:
        return s.kind
    return texture_material_name(s.texture, s.mapping.mix)


def _load_png(name: str, png: bytes, source: str) -> bpy.types.Image:
    """A packed image from PNG bytes (Blender reads images from files only), its pixels as stored:
    the texture values are linear already; where it comes from (and its licence) as a custom property."""
    fd, path = tempfile.mkstemp(suffix=".png")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        image = bpy.data.images.load(path)
        image.pack()
    finally:
        os.remove(path)
    image.name = name
    image.colorspace_settings.name = "Non-Color"
    image.alpha_mode = "STRAIGHT"
    image["diffpaint_source"] = source
    return image


def add_texture_materials(gp_data: bpy.types.GreasePencil, docs: Sequence[StrokeFile],
                          created: list[bpy.types.ID]) -> dict[str, int]:
    """Append a TEXTURE material for every (texture, mix) the strokes of ``docs`` use to ``gp_data``
    (one material however many files use it: a sequence's frames share them); returns each one's slot
    by material_key. Everything made is appended to ``created``. Files that give one texture name
    different images raise ValueError."""
    images: dict[str, tuple[bytes, bpy.types.Image]] = {}
    slots: dict[str, int] = {}
    for doc in docs:
        for s in sorted(doc.strokes, key=lambda s: s.order):
            if s.texture is None or s.mapping is None:
                continue
            texture = doc.textures[s.texture]
            png = texture.png
            if s.texture not in images:
                image = _load_png(f"DiffPaint {s.texture}", png, texture.source)
                created.append(image)
                images[s.texture] = (png, image)
            elif images[s.texture][0] != png:
                raise ValueError(f"the files give texture {s.texture!r} different images")
            key = material_key(s)
            if key not in slots:
                slots[key] = _add_texture_material(gp_data, key, images[s.texture][1], s.mapping.mix, created)
    return slots


def _add_texture_material(gp_data: bpy.types.GreasePencil, name: str, image: bpy.types.Image, mix: float,
                          created: list[bpy.types.ID]) -> int:
    """A new TEXTURE material drawing ``image`` mixed by ``mix``, appended to ``gp_data``; returns its slot."""
    mat = bpy.data.materials.new(name)
    created.append(mat)
    bpy.data.materials.create_gpencil_data(mat)
    gp = mat.grease_pencil
    gp.show_stroke, gp.show_fill = True, False
    gp.stroke_style = "TEXTURE"
    gp.stroke_image = image
    gp.mix_stroke_factor = mix
    gp.pixel_size = PIXEL_SIZE
    gp.color = (1.0, 1.0, 1.0, 1.0)  # vertex colors (alpha 1) replace it entirely
    gp_data.materials.append(mat)
    return len(gp_data.materials) - 1


def texture_attributes(strokes: Sequence[Stroke], points: np.ndarray) -> dict[str, np.ndarray]:
    """Curve-domain u_scale and u_translation placing each stroke's texture, for ``strokes`` drawn as
    polylines ``points`` (k, n, 2 or 3) in drawing units; empty when none is textured."""
    if not any(s.mapping for s in strokes):
        return {}
    lengths = np.linalg.norm(np.diff(points, axis=1), axis=-1).sum(axis=1)
    return {
        "u_scale": np.array([s.mapping.u_scale / max(float(length), 1e-9) if s.mapping else 1.0
                             for s, length in zip(strokes, lengths, strict=True)]),
        "u_translation": np.array([s.mapping.u_translation if s.mapping else 0.0 for s in strokes]),
    }

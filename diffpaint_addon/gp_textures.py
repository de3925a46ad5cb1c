# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every RNA pointer as Optional; inside Blender they are set.)
"""Textured strokes in Grease Pencil: the stroke file's texture images as packed images, a TEXTURE
material per (texture, mix) pair, and the per-stroke u_scale/u_translation attributes (the importer
writes the mapping's softness with the other per-stroke attributes).

Grease Pencil samples a stroke texture at u = (u_scale · length so far + u_translation) ·
500 / pixel_size, with the length in the drawing's units, and v across the stroke. Materials here
use pixel_size 500, and each stroke's u_scale is the file's divided by the stroke's length, so u runs
over the file's normalized arc length as docs/stroke-format.md defines it (and the backend renders).

The export reads textures back from the materials (`ExportTextures`): an image the import made and
nobody edited is the file's texture as it was, anything else (an image painted on, replaced, or a
material of the artist's) becomes a texture of its own.

bpy, numpy and the standard library only: this module runs inside Blender.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Mapping, Sequence

import bpy
import numpy as np

from diffpaint_shared.color import srgb_to_linear
from diffpaint_shared.strokefile import Stroke, StrokeFile, Texture

PIXEL_SIZE = 500.0  # Grease Pencil's stroke u scale is 500 / pixel_size: 1 keeps u as the attributes give it
# Custom properties of an imported texture image: its key in the file, and fingerprints of the PNG it
# was made from and of its pixels then.
TEXTURE_KEY_PROPERTY = "diffpaint_texture"
PNG_PROPERTY = "diffpaint_png"
PIXELS_PROPERTY = "diffpaint_pixels"


def texture_material_name(texture: str, mix: float) -> str:
    return f"DiffPaint {texture} mix {mix:.4f}"


def material_key(s: Stroke) -> str:
    """The material a stroke is drawn with: its kind's, or its texture's at its mix."""
    if s.texture is None or s.mapping is None:
        return s.kind
    return texture_material_name(s.texture, s.mapping.mix)


def packed_image(png: bytes, name: str) -> bpy.types.Image:
    """A packed image ``name`` from PNG bytes (Blender reads images from files only)."""
    fd, path = tempfile.mkstemp(suffix=".png")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(png)
        image = bpy.data.images.load(path)
        image.pack()
    finally:
        os.remove(path)
    image.name = name
    return image


def _load_png(key: str, png: bytes, source: str) -> bpy.types.Image:
    """A packed image from PNG bytes, its pixels as stored: the texture values are linear already. As custom
    properties: where it comes from (and its licence), its texture key and fingerprints of the PNG and of its
    pixels, so the export knows it unless it is edited."""
    image = packed_image(png, f"DiffPaint {key}")
    image.colorspace_settings.name = "Non-Color"
    image.alpha_mode = "STRAIGHT"
    image["diffpaint_source"] = source
    image[TEXTURE_KEY_PROPERTY] = key
    image[PNG_PROPERTY] = hashlib.sha256(png).hexdigest()
    image[PIXELS_PROPERTY] = _fingerprint(image_texels(image))
    return image


def image_texels(image: bpy.types.Image) -> np.ndarray:
    """An image's pixels as a texture: (H, W, 4) 8-bit, row 0 the top, linear (an sRGB byte image's
    colors are decoded, as Grease Pencil decodes them when it samples)."""
    width, height = (int(n) for n in image.size)  # type: ignore[attr-defined]
    pixels = np.empty(width * height * image.channels, dtype=np.float32)
    image.pixels.foreach_get(pixels)
    pixels = pixels.reshape(height, width, image.channels)[::-1]
    if image.channels < 4:  # gray or RGB: opaque
        gray = np.repeat(pixels[..., :1], 3, axis=-1) if image.channels < 3 else pixels[..., :3]
        pixels = np.concatenate([gray, np.ones((height, width, 1), dtype=np.float32)], axis=-1)
    if image.colorspace_settings.name == "sRGB" and not image.is_float:
        pixels[..., :3] = srgb_to_linear(pixels[..., :3])
    return np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


def _fingerprint(texels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(texels).tobytes() + str(texels.shape).encode()).hexdigest()


def encode_png(texels: np.ndarray) -> bytes:
    """An (H, W, 4) 8-bit image as an RGBA PNG (no PNG library in Blender's Python: zlib and struct)."""
    height, width = texels.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), texels.reshape(height, width * 4)], axis=1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + chunk(b"IEND", b""))


class ExportTextures:
    """The textures an export writes: the stored file's, and one for each texture image that is not
    one of them (edited, replaced, or the artist's own), under a key of its own."""

    def __init__(self, stored: Mapping[str, Texture]) -> None:
        self.textures: dict[str, Texture] = dict(stored)
        self._keys: dict[str, str] = {}  # by image name

    def key(self, image: bpy.types.Image) -> str:
        """The key of the texture ``image`` shows, added to ``textures`` if it is new."""
        if image.name not in self._keys:
            self._keys[image.name] = self._add(image)
        return self._keys[image.name]

    def _add(self, image: bpy.types.Image) -> str:
        texels = image_texels(image)
        imported = image.get(TEXTURE_KEY_PROPERTY)
        stored = self.textures.get(str(imported)) if imported is not None else None
        if (stored is not None and image.get(PNG_PROPERTY) == hashlib.sha256(stored.png).hexdigest()
                and image.get(PIXELS_PROPERTY) == _fingerprint(texels)):
            return str(imported)  # the very texture of this file, unedited
        style = stored.style if stored else next((t.style for t in self.textures.values()), "custom")
        texture = Texture(style=style, png=encode_png(texels), source=str(image.get("diffpaint_source", "")))
        base = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(imported or image.name)).strip("-") or "texture"
        key, n = base, 1
        while key in self.textures and self.textures[key].png != texture.png:
            n += 1
            key = f"{base}-{n}"
        self.textures[key] = texture
        return key


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
                image = _load_png(s.texture, png, texture.source)
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

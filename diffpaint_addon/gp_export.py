# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Read a DiffPaint Grease Pencil painting back into a stroke file, after any edits made in Blender.

The inverse of gp_import: each Grease Pencil stroke is fitted with a quadratic Bézier and a radius and
color linear in t, by least squares over its points taken at t = j / (n - 1), which is exact for
the importer's own samples and the closest such stroke after edits (moved, recolored, resized,
strokes deleted). What geometry cannot tell comes from the import (see gp_import's FILE_PROPERTY):

- canvas, textures and metadata: the stored file;
- level: the layer ("Level N", "Level N Smudge" is the file's N-th level); on other layers the level
  of the stroke it came from, else 0;
- kind: the stroke's material (the importer tags its smudge material);
- painting order: layers bottom to top, strokes in layer order, which is how Blender draws them;
- texture: the stroke's material, when it draws a texture image (gp_textures.ExportTextures: the
  file's texture, or a new one when the image was edited or replaced); its mix from the material;
  its u_scale, u_translation and softness from the stroke's attributes, as Blender draws them;
- style, the mapping's rotation (and a smudge's opacity and stamp count): the stroke it came from.

A painting is exported as it is when finished (each layer's last keyframe); an imported sequence
(gp_sequence.py) at a given frame: each layer's drawing shown then, with that frame's stored file.

bpy, numpy and the standard library only: this module runs inside Blender.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

import bpy
import numpy as np

from diffpaint_shared.color import linear_to_srgb
from diffpaint_shared.curves import lerp
from diffpaint_shared.strokefile import Stroke, StrokeFile, StrokeFileError, TextureMapping, from_dict

from .gp_import import CANVAS_LAYER, FILE_PROPERTY, KIND_PROPERTY, LEVEL_LAYER, SEQUENCE_PROPERTY, SOURCE_ATTRIBUTE
from .gp_textures import ExportTextures
from .sampling import CanvasMapping, bezier_basis

MAX_SOFTNESS = 0.999  # the file's softness lies in [0, 1); Grease Pencil's goes up to 1


class ExportError(ValueError):
    """The object cannot be written as a stroke file; the message says why."""


def export_strokes(obj: bpy.types.Object, frame: int | None = None) -> StrokeFile:
    """The stroke file ``obj`` (a painting imported by DiffPaint, possibly edited) shows when finished,
    or (a sequence) at ``frame``."""
    if obj.type != "GREASEPENCIL":
        raise ExportError(f"'{obj.name}' is not a Grease Pencil object")
    stored = stored_file(obj, frame)
    mapping = CanvasMapping(stored.canvas.width, stored.canvas.height)
    textures = ExportTextures(stored.textures)
    try:
        materials = [_material(m, textures) for m in obj.data.materials]
    except ValueError as e:  # an image Blender cannot read (missing file, no pixels)
        raise ExportError(f"'{obj.name}' draws a texture that cannot be exported: {e}") from None
    strokes: list[Stroke] = []
    for layer in obj.data.layers:
        if layer.name == CANVAS_LAYER:
            continue
        key = shown_key([f.frame_number for f in layer.frames], frame)
        if key is None:
            continue  # nothing on this layer yet at that frame
        drawing = next(f for f in layer.frames if f.frame_number == key).drawing
        if drawing is None:
            continue  # a frame that only references another drawing: nothing of its own
        strokes.extend(_layer_strokes(drawing, np.array(layer.matrix_local), layer.name, stored, mapping,
                                      materials, first_order=len(strokes)))
    return replace(stored, strokes=tuple(strokes), textures=textures.textures)


@dataclass(frozen=True)
class MaterialRecord:
    """What a material slot tells about the strokes drawn with it."""

    kind: str  # the stroke kind the import tagged it with, else paint
    color: np.ndarray  # (3,) linear stroke color
    texture: str | None = None  # the key of the texture image it draws, if any
    mix: float = 1.0  # of a texture: the weight of the stroke's own color


PLAIN = MaterialRecord("paint", np.ones(3))


def _material(mat: bpy.types.Material | None, textures: ExportTextures) -> MaterialRecord:
    if mat is None or mat.grease_pencil is None:
        return PLAIN
    gp = mat.grease_pencil
    kind, color = str(mat.get(KIND_PROPERTY, "paint")), np.array(gp.color, dtype=np.float64)[:3]
    if gp.stroke_style != "TEXTURE" or gp.stroke_image is None or kind != "paint":
        return MaterialRecord(kind, color)
    return MaterialRecord(kind, color, textures.key(gp.stroke_image), float(np.clip(gp.mix_stroke_factor, 0.0, 1.0)))


def shown_key(keys: list[int], frame: int | None) -> int | None:
    """Of keyframes ``keys``, the one shown at ``frame`` (the last one at or before it; with None, the
    last of all); None when there is none yet."""
    shown = [k for k in keys if frame is None or k <= frame]
    return max(shown) if shown else None


def is_sequence(obj: bpy.types.Object) -> bool:
    """Whether ``obj`` is an imported sequence, one stroke file per keyframe."""
    return obj.get(SEQUENCE_PROPERTY) is not None


def stored_file(obj: bpy.types.Object, frame: int | None = None) -> StrokeFile:
    """The stroke file the import stored on ``obj``; for a sequence, that of the frame shown at ``frame``
    (the first before the sequence starts, the last with None)."""
    records = obj.get(SEQUENCE_PROPERTY)
    if records is not None:
        try:
            keys = [int(k) for k in records.keys()]
        except (AttributeError, ValueError):
            raise ExportError(f"'{obj.name}' holds a damaged DiffPaint record (its frames)") from None
        if not keys:
            raise ExportError(f"'{obj.name}' holds a damaged DiffPaint record (no frames)")
        key = shown_key(keys, frame)
        text = records[str(min(keys) if key is None else key)]
    else:
        text = obj.get(FILE_PROPERTY)
    if not isinstance(text, str):
        raise ExportError(f"'{obj.name}' was not imported by DiffPaint: it has no stored canvas to export to")
    try:
        return from_dict(json.loads(text))
    except (ValueError, StrokeFileError) as e:
        raise ExportError(f"'{obj.name}' holds a damaged DiffPaint record ({e})") from None


def _read(drawing: bpy.types.GreasePencilDrawing, name: str, width: int, default: float, count: int,
          dtype: type = np.float64) -> np.ndarray:
    """A whole attribute as an array (count, width), or ``default`` where the drawing lacks it."""
    attr = drawing.attributes.get(name)
    if attr is None:
        return np.full((count, width), default, dtype=dtype)
    prop = {"FLOAT_VECTOR": "vector", "FLOAT_COLOR": "color"}.get(attr.data_type, "value")
    out = np.empty(count * width, dtype=np.int32 if dtype is int else np.float32)
    attr.data.foreach_get(prop, out)
    return out.reshape(count, width).astype(dtype)


def _layer_strokes(
    drawing: bpy.types.GreasePencilDrawing,
    layer_matrix: np.ndarray,  # (4, 4) layer space -> object space
    layer_name: str,
    stored: StrokeFile,
    mapping: CanvasMapping,
    materials: list[MaterialRecord],  # per material slot
    first_order: int,
) -> list[Stroke]:
    """One layer's strokes, in the drawing's order, numbered from ``first_order``: whole attributes are
    read at once, then the strokes are fitted in batches of equal point count."""
    if len(drawing.curve_offsets) < 2:
        return []  # no strokes (an empty drawing has no offsets at all)
    offsets = np.empty(len(drawing.curve_offsets), dtype=np.int32)
    drawing.curve_offsets.foreach_get("value", offsets)
    points, curves = int(offsets[-1]), len(offsets) - 1
    position = _read(drawing, "position", 3, 0.0, points)  # drawing space, where textures are laid out
    material = _read(drawing, "material_index", 1, 0, curves, int)[:, 0]
    records = [materials[m] if 0 <= m < len(materials) else PLAIN for m in material]
    texture_mappings = _texture_mappings(drawing, position, offsets, records)
    xy = mapping.to_canvas(position @ layer_matrix[:3, :3].T + layer_matrix[:3, 3])
    radius = _read(drawing, "radius", 1, 0.01, points)[:, 0] / mapping.scale
    opacity = _read(drawing, "opacity", 1, 1.0, points)[:, 0]
    vertex = _read(drawing, "vertex_color", 4, 0.0, points)
    source = _read(drawing, SOURCE_ATTRIBUTE, 1, -1, curves, int)[:, 0]
    match = LEVEL_LAYER.fullmatch(layer_name)
    layer_level = _layer_level(int(match.group(1)) - 1, stored.levels) if match else None

    # Grease Pencil mixes the vertex color over the material color by the vertex color's alpha.
    kinds = [r.kind for r in records]
    base = np.array([r.color for r in records])
    base = np.repeat(base, np.diff(offsets), axis=0)  # per point
    srgb = np.clip(linear_to_srgb(base * (1 - vertex[:, 3:]) + vertex[:, :3] * vertex[:, 3:]), 0.0, 1.0)

    counts = np.diff(offsets)
    kept = np.flatnonzero(counts >= 2)  # a lone point has no direction to fit: skipped
    order = dict(zip(kept.tolist(), range(first_order, first_order + len(kept)), strict=True))
    out: dict[int, Stroke] = {}
    for n in np.unique(counts[kept]):
        curve = np.flatnonzero(counts == n)
        at = offsets[curve][:, None] + np.arange(n)  # (k, n) point indices
        ctrl = fit_quadratic(xy[at]).tolist()  # (k, 3, 2)
        ends = fit_linear(np.concatenate([radius[at][..., None], srgb[at]], axis=-1))  # (k, 2, 1 + 3)
        ends[..., 0] = np.maximum(ends[..., 0], 0.0)
        ends[..., 1:] = np.clip(ends[..., 1:], 0.0, 1.0)
        mean_opacity = np.clip(opacity[at].mean(axis=1), 0.0, 1.0).tolist()
        for j, i in enumerate(curve.tolist()):
            src = stored.strokes[source[i]] if 0 <= source[i] < len(stored.strokes) else None
            (r0, *c0), (r1, *c1) = ends[j].tolist()
            fields: dict[str, Any] = {
                "points": tuple(map(tuple, ctrl[j])), "radius": (r0, r1), "color": (tuple(c0), tuple(c1)),
                "opacity": mean_opacity[j], "kind": kinds[i], "order": order[i],
                "level": layer_level if layer_level is not None else src.level if src is not None else 0}
            if src is not None:
                fields["style"] = src.style
            if records[i].texture is not None:
                stored_mapping = src.mapping if src is not None else None
                fields["mapping"] = _texture_mapping(texture_mappings[i], stored_mapping)
                fields["texture"] = records[i].texture
            if kinds[i] == "smudge":
                fields |= _deposits(srgb[at[j]], opacity[at[j]], src)
            out[i] = Stroke(**fields)
    return [out[i] for i in sorted(out)]


def _texture_mappings(drawing: bpy.types.GreasePencilDrawing, position: np.ndarray, offsets: np.ndarray,
                      records: list[MaterialRecord]) -> list[tuple[float, float, float, float]]:
    """Per curve (u_scale, u_translation, softness, mix) as Grease Pencil draws its texture: u_scale is
    per drawing unit of its length (see gp_textures), so times its length; an unset or non-positive
    one is Blender's default 1. Empty when no curve is textured."""
    if all(r.texture is None for r in records):
        return []
    curves = len(records)
    u_scale = _read(drawing, "u_scale", 1, 1.0, curves)[:, 0]
    u_translation = _read(drawing, "u_translation", 1, 0.0, curves)[:, 0]
    softness = np.clip(_read(drawing, "softness", 1, 0.0, curves)[:, 0], 0.0, MAX_SOFTNESS)
    steps = np.linalg.norm(np.diff(position, axis=0), axis=-1)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    lengths = np.maximum(along[offsets[1:] - 1] - along[offsets[:-1]], 1e-9)  # each curve's polyline length
    u_scale = np.where(u_scale > 0, u_scale, 1.0) * lengths
    return list(zip(u_scale.tolist(), u_translation.tolist(), softness.tolist(), [r.mix for r in records],
                    strict=True))


def _texture_mapping(read: tuple[float, float, float, float], stored: TextureMapping | None) -> TextureMapping:
    """The mapping read from Blender; the stored one itself where its values did not change (beyond
    Blender's single precision), so an unedited stroke exports exactly as imported. The rotation (not
    shown by the import) is the stored one's."""
    if stored is None:
        return TextureMapping(*read[:2], softness=read[2], mix=read[3])
    was = (stored.u_scale, stored.u_translation, stored.softness, stored.mix)
    if all(abs(now - old) <= 1e-5 * max(1.0, abs(old)) for now, old in zip(read, was, strict=True)):
        return stored
    return TextureMapping(*read[:2], rotation=stored.rotation, softness=read[2], mix=read[3])


def _layer_level(rank: int, levels: list[int]) -> int:
    """A level layer's level: its rank among the stored file's levels (ranks past them count on)."""
    return levels[rank] if rank < len(levels) else rank


def _fit(basis: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Least-squares coefficients (..., b, d) of ``basis`` (n, b) for ``values`` (..., n, d)."""
    return np.einsum("bn,...nd->...bd", np.linalg.pinv(basis), values)


def fit_quadratic(values: np.ndarray) -> np.ndarray:
    """Quadratic Bézier control points (..., 3, d) best fitting ``values`` (..., n, d) at t = j / (n - 1)."""
    return _fit(bezier_basis(np.linspace(0.0, 1.0, values.shape[-2])), values)


def fit_linear(values: np.ndarray) -> np.ndarray:
    """End values (..., 2, d) of the function linear in t best fitting ``values`` (..., n, d) at t = j / (n - 1)."""
    t = np.linspace(0.0, 1.0, values.shape[-2])[:, None]
    start, end = np.eye(2)
    return _fit(lerp(start, end, t), values)


def _deposits(srgb: np.ndarray, opacity: np.ndarray, src: Stroke | None) -> dict[str, Any]:
    """A smudge's fields from its points' colors (n, 3) and opacities (n,): the deposits at its
    stamps (as many as the stroke it came from had, else one per point), and the stored opacity."""
    stamps = len(src.deposit_strength) if src is not None and src.kind == "smudge" else len(opacity)
    t, stamps_t = np.linspace(0.0, 1.0, len(opacity)), np.linspace(0.0, 1.0, stamps)
    deposit = np.stack([np.interp(stamps_t, t, srgb[:, c]) for c in range(3)], axis=-1)
    return {"deposit_color": tuple(_rgb(c) for c in deposit),
            "deposit_strength": tuple(np.clip(np.interp(stamps_t, t, opacity), 0.0, 1.0).tolist()),
            "color": (_rgb(deposit[0]), _rgb(deposit[-1])), "opacity": src.opacity if src is not None else 1.0}


def _rgb(c: np.ndarray) -> tuple[float, float, float]:
    return (float(c[0]), float(c[1]), float(c[2]))

# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Turn a DiffPaint stroke file into an animated Grease Pencil v3 object (the world mapping and the
sampling along each stroke are in sampling.py).

bpy, numpy and the standard library only: this module runs inside Blender.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import bpy
import numpy as np
import numpy.typing as npt

from diffpaint_shared.color import srgb_to_linear
from diffpaint_shared.strokefile import Canvas, Stroke, StrokeFile, to_dict

from .gp_canvas import canvas_key, canvas_material, grain_uv_scale
from .gp_textures import add_texture_materials, material_key, texture_attributes
from .sampling import CanvasMapping, points_per_stroke, sample_strokes

CANVAS_LAYER = "Canvas"
SINGLE_LAYER = "Strokes"  # the one stroke layer when levels are not split into layers
STROKE_MATERIAL = "DiffPaint Stroke"
SMUDGE_MATERIAL = "DiffPaint Smudge"
DEFAULT_DURATION = 250  # frames from the blank canvas to the finished painting
DEFAULT_STROKES_PER_SECOND = 10.0
PLANE_OFFSET = 1e-3  # the painting floats this far (relative to the plane's size) in front of an image plane
# Grease Pencil's per-stroke edge softness for smudges, which soften rather than outline. Its falloff
# reaches far in (at 0.1 a 10-px smudge keeps a full-strength core only ~2 px wide), and the backend's
# smudges have crisp edges: against its render (bench/smudge_blender.py, bench/RESULTS.md) 0.02 costs
# 0.02 dB over hard edges, 0.05 costs 0.13 dB and 0.5 nearly all the smudges' gain.
SMUDGE_SOFTNESS = 0.02

# What the exporter (gp_export.py) reads back besides the geometry: the imported file on the object
# (canvas, levels, textures, metadata, and each stroke's non-geometric fields), each stroke's index
# in that file as a curve attribute (it travels with the stroke through edits), and each material's
# stroke kind.
FILE_PROPERTY = "diffpaint_file"
SOURCE_ATTRIBUTE = "diffpaint_stroke"
KIND_PROPERTY = "diffpaint_kind"
# A sequence (gp_sequence.py) stores each reconstructed frame's file instead, by its keyframe number.
SEQUENCE_PROPERTY = "diffpaint_sequence"
# A sequence's brush mark a stroke draws (curve domain): the same number on every frame the mark is on,
# so an artist can select one mark across frames. Marks are numbered in order of first appearance.
MARK_ATTRIBUTE = "diffpaint_stroke_id"
LEVEL_LAYER = re.compile(r"Level (\d+)( Smudge)?")

# Build modifier timing: an even pace in frames, or Grease Pencil's recorded drawing speed, from
# per-stroke start times ('init_time', curve domain) and per-point times since the stroke's start
# ('delta_time', point domain), in seconds, which the import synthesises: a brush moving at a
# constant speed, each stroke taking time in proportion to its length.
BUILD_TIMINGS = ("FRAMES", "DRAWSPEED")


def level_layer_name(rank: int, kind: str = "paint") -> str:
    """Layers are named by the level's rank among the file's levels, counting from 1; a level's
    smudges go on their own layer just above its paint."""
    return f"Level {rank + 1}" + (" Smudge" if kind == "smudge" else "")


def layer_sort_key(name: str) -> tuple[int, int]:
    """Where a stroke layer goes, bottom to top: by level rank, a level's smudges above its paint (the one
    layer of strokes without levels sorts first)."""
    match = LEVEL_LAYER.fullmatch(name)
    return (int(match.group(1)), 1 if match.group(2) else 0) if match else (0, 0)


def grease_pencil_datablocks() -> bpy.types.BlendDataGreasePencilsV3:
    """The Grease Pencil v3 datablock collection: ``grease_pencils_v3`` in 4.5 (where ``grease_pencils``
    holds legacy v2 data), renamed ``grease_pencils`` in 5.0."""
    if hasattr(bpy.data, "grease_pencils_v3"):
        return bpy.data.grease_pencils_v3
    return bpy.data.grease_pencils


# --- Grease Pencil writing ----------------------------------------------------------------------


def _attribute(drawing: bpy.types.GreasePencilDrawing, name: str, type_: str, domain: str) -> Any:
    """The named attribute, created if absent; typed Any as its RNA class depends on ``type_``."""
    attr = drawing.attributes.get(name)
    if attr is None:
        attr = drawing.attributes.new(name, type_, domain)  # type: ignore[arg-type]
    return attr


def _set(drawing: bpy.types.GreasePencilDrawing, name: str, type_: str, domain: str, values: npt.ArrayLike) -> None:
    prop = {"FLOAT_VECTOR": "vector", "FLOAT_COLOR": "color", "FLOAT": "value", "INT": "value"}[type_]
    dtype = np.int32 if type_ == "INT" else np.float32
    flat = np.ascontiguousarray(values, dtype=dtype).ravel()
    _attribute(drawing, name, type_, domain).data.foreach_set(prop, flat)


def _write_strokes(
    drawing: bpy.types.GreasePencilDrawing,
    positions: np.ndarray,  # (k, n, 3) world
    radius: np.ndarray,  # (k, n) world
    material_index: np.ndarray,  # (k,)
    *,
    rgba: np.ndarray | None = None,  # (k, n, 4) linear
    opacity: np.ndarray | None = None,  # (k, n)
    cyclic: bool = False,
) -> None:
    """Append k strokes of n points each, writing whole attributes at once (no per-point Python)."""
    k, n = radius.shape
    drawing.add_strokes([n] * k)
    _set(drawing, "position", "FLOAT_VECTOR", "POINT", positions)
    _set(drawing, "radius", "FLOAT", "POINT", radius)
    _set(drawing, "material_index", "INT", "CURVE", material_index)
    if opacity is not None:
        _set(drawing, "opacity", "FLOAT", "POINT", opacity)
    if rgba is not None:
        _set(drawing, "vertex_color", "FLOAT_COLOR", "POINT", rgba)
    if cyclic:
        _attribute(drawing, "cyclic", "BOOLEAN", "CURVE").data.foreach_set("value", [True] * k)
    drawing.tag_positions_changed()


def scene_fps(scene: bpy.types.Scene) -> float:
    return scene.render.fps / scene.render.fps_base


def fit_to_plane(obj: bpy.types.Object, mapping: CanvasMapping, plane: bpy.types.Object) -> None:
    """Place ``obj`` (a painting at import scale, in its XZ plane facing -Y) on ``plane``'s largest
    face: centered on the plane's bounds, turned with it, uniformly scaled to fit inside them (the
    painting keeps its aspect ratio), a hair in front of the plane's front (its local normal axis
    positive side, which is what an image plane shows)."""
    from mathutils import Matrix, Vector

    loc, rot, scale = plane.matrix_world.decompose()
    corners = np.array([tuple(c) for c in plane.bound_box], dtype=np.float64)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    extent = (hi - lo) * np.abs(np.array([scale.x, scale.y, scale.z]))  # world size along the local axes
    center = plane.matrix_world @ Vector(tuple((lo + hi) / 2))
    thin = int(np.argmin(extent))
    # Painting axes (X right, Z up, -Y towards the viewer) to the plane's local axes (right, up, normal):
    # an image plane lies in its local XY facing +Z; a plane in XZ faces -Y like the painting.
    turn, right, up = {
        2: (Matrix.Rotation(-math.pi / 2, 4, "X"), 0, 1),
        1: (Matrix.Identity(4), 0, 2),
        0: (Matrix.Rotation(math.pi / 2, 4, "Z"), 1, 2),
    }[thin]
    width, height = mapping.world_size
    fit = min(extent[right] / width, extent[up] / height)
    if not fit > 0:
        raise ValueError(f"'{plane.name}' has no area to put the painting on")
    normal = rot.to_matrix() @ (turn.to_3x3() @ Vector((0.0, -1.0, 0.0)))
    offset = normal * (PLANE_OFFSET * max(extent[right], extent[up]) + extent[thin] / 2)
    obj.matrix_world = (Matrix.Translation(center + offset) @ rot.to_matrix().to_4x4() @ turn
                        @ Matrix.Scale(fit, 4))


def canvas_slot(canvas: Canvas) -> str:
    """The key of a canvas material in the slots add_materials returns."""
    return f"canvas {canvas_key(canvas)}"


def add_materials(gp_data: bpy.types.GreasePencil, docs: Sequence[StrokeFile],
                  created: list[bpy.types.ID]) -> dict[str, int]:
    """The materials the strokes of ``docs`` are drawn with, appended to ``gp_data`` once each (a
    sequence's frames share them): a canvas fill per canvas (background and grain), paint, smudge, and the
    textures'. Returns each one's slot: by canvas_slot(canvas), 'paint', 'smudge' and material_key."""
    materials: dict[str, bpy.types.Material] = {}
    for doc in docs:
        key = canvas_slot(doc.canvas)
        if key not in materials:
            materials[key] = canvas_material(doc.canvas, created)
    materials["paint"] = _stroke_material(STROKE_MATERIAL, "paint", created)
    materials["smudge"] = _stroke_material(SMUDGE_MATERIAL, "smudge", created)
    for mat in materials.values():
        gp_data.materials.append(mat)
    slot = {key: i for i, key in enumerate(materials)}
    slot.update(add_texture_materials(gp_data, docs, created))
    return slot


def _stroke_material(name: str, kind: str, created: list[bpy.types.ID]) -> bpy.types.Material:
    """The stroke material of ``kind``: the one an earlier import made, else a new one (in ``created``)."""
    mat = bpy.data.materials.get(name)
    if mat is not None and mat.grease_pencil is not None and mat.get(KIND_PROPERTY) == kind:
        return mat
    mat = bpy.data.materials.new(name)
    created.append(mat)
    bpy.data.materials.create_gpencil_data(mat)
    gp = mat.grease_pencil
    gp.show_stroke, gp.show_fill = True, False
    gp.color = (1.0, 1.0, 1.0, 1.0)  # white: vertex colors (alpha 1) replace it entirely
    mat[KIND_PROPERTY] = kind
    return mat


def add_layer(gp_data: bpy.types.GreasePencil, name: str) -> bpy.types.GreasePencilLayer:
    """The layer ``name``, made on top of the others if there is none yet."""
    layer = gp_data.layers.get(name)
    if layer is None:
        layer = gp_data.layers.new(name)
        layer.use_lights = False  # unlit: rendered colors must equal the file's colors
    return layer


def new_drawing(gp_data: bpy.types.GreasePencil, name: str, frame: int) -> bpy.types.GreasePencilDrawing:
    """A new, empty drawing keyed at ``frame`` on the layer ``name`` (made if need be)."""
    drawing = add_layer(gp_data, name).frames.new(frame).drawing
    assert drawing is not None  # a new frame always owns a new drawing
    return drawing


def new_painting(name: str, created: list[bpy.types.ID]) -> tuple[bpy.types.GreasePencil, bpy.types.Object]:
    """A new Grease Pencil datablock and an object showing it, not yet linked to a scene (in ``created``)."""
    gp_data = grease_pencil_datablocks().new(name)
    created.append(gp_data)
    obj = bpy.data.objects.new(name, gp_data)
    created.append(obj)
    return gp_data, obj


def cover_frames(scene: bpy.types.Scene, start: int, end: int, fit: bool) -> None:
    """Set the scene's frame range to ``start``–``end`` (``fit``), or widen it to cover them."""
    if fit:
        scene.frame_start, scene.frame_end = start, end
    else:
        scene.frame_start, scene.frame_end = min(scene.frame_start, start), max(scene.frame_end, end)


@contextmanager
def removed_on_error() -> Iterator[list[bpy.types.ID]]:
    """Collects the IDs an import creates and deletes them all if the import raises."""
    created: list[bpy.types.ID] = []
    try:
        yield created
    except BaseException:
        for idb in reversed(created):
            if isinstance(idb, bpy.types.Object):
                bpy.data.objects.remove(idb)
            elif isinstance(idb, bpy.types.Material):
                bpy.data.materials.remove(idb)
            elif isinstance(idb, bpy.types.Image):
                bpy.data.images.remove(idb)
            else:
                grease_pencil_datablocks().remove(idb)  # type: ignore[arg-type]
        raise


def import_strokes(
    doc: StrokeFile,
    scene: bpy.types.Scene,
    *,
    name: str = "DiffPaint",
    collection: bpy.types.Collection | None = None,
    frame_start: int = 1,
    duration: int = DEFAULT_DURATION,
    layer_per_level: bool = True,
    build_timing: str = "FRAMES",
    hold: int = 0,
    plane: bpy.types.Object | None = None,
    fit_frame_range: bool = False,
) -> bpy.types.Object:
    """Create a Grease Pencil object painting ``doc`` from ``frame_start`` (blank canvas) to
    ``frame_start + duration`` (finished painting), linked into ``collection`` (default: the
    scene's master collection). The scene's frame range is widened to cover the animation and
    ``hold`` frames of the finished painting after it (with ``fit_frame_range``, set to exactly that).
    With ``layer_per_level`` off, all strokes go to one layer. ``build_timing`` is 'FRAMES' (strokes at
    an even pace) or 'DRAWSPEED' (recorded
    drawing times, longer strokes taking longer; see BUILD_TIMINGS). With ``plane``, the painting is
    fitted onto that object's largest face (see fit_to_plane) instead of lying at the origin. On any
    error nothing of the import is left behind."""
    if duration < 1:
        raise ValueError("the animation must last at least one frame")
    if hold < 0:
        raise ValueError("the hold cannot be negative")
    if build_timing not in BUILD_TIMINGS:
        raise ValueError(f"build timing must be one of {', '.join(BUILD_TIMINGS)}, not {build_timing!r}")
    mapping = CanvasMapping(doc.canvas.width, doc.canvas.height)
    with removed_on_error() as created:
        gp_data, obj = new_painting(name, created)
        slot = add_materials(gp_data, [doc], created)
        add_canvas(gp_data, doc.canvas, mapping, frame_start, slot[canvas_slot(doc.canvas)])
        fps = scene_fps(scene) if build_timing == "DRAWSPEED" else None
        windows = add_levels(gp_data, doc, mapping, frame_start, slot, layer_per_level,
                             draw_speed=(duration, fps) if fps else None)
        add_build_modifiers(obj, windows, duration, build_timing)
        if plane is not None:
            fit_to_plane(obj, mapping, plane)

        obj[FILE_PROPERTY] = json.dumps(to_dict(doc), separators=(",", ":"))
        (collection or scene.collection).objects.link(obj)
        cover_frames(scene, frame_start, frame_start + duration + hold, fit_frame_range)
        return obj


def add_canvas(
    gp_data: bpy.types.GreasePencil, canvas: Canvas, mapping: CanvasMapping, frame: int, material: int
) -> None:
    """One filled, cyclic rectangle exactly covering the canvas, below every level, from its top-left corner
    along its top edge first (where a grain's fill texture starts: gp_canvas)."""
    corners = mapping.to_world(
        np.array([[0, 0], [canvas.width, 0], [canvas.width, canvas.height], [0, canvas.height]])
    )
    drawing = new_drawing(gp_data, CANVAS_LAYER, frame)
    _write_strokes(
        drawing,
        positions=corners[None],
        radius=np.full((1, 4), 1e-4),  # only the fill shows; keep the hidden outline hairline
        material_index=np.array([material]),
        opacity=np.ones((1, 4)),
        cyclic=True,
    )
    uv_scale = grain_uv_scale(canvas, mapping)
    if uv_scale is not None:
        _attribute(drawing, "uv_scale", "FLOAT2", "CURVE").data.foreach_set("vector", uv_scale)


@dataclass(frozen=True)
class LayerWindow:
    """When a level layer builds, as fractions of the whole animation."""

    layer: str
    start: float
    length: float


def layer_windows(counts: Sequence[tuple[str, int]]) -> list[LayerWindow]:
    """Layers (name, stroke count, bottom to top) build one after another, each for a share of the
    animation in proportion to its stroke count."""
    total = max(sum(k for _, k in counts), 1)
    windows, done = [], 0
    for name, k in counts:
        windows.append(LayerWindow(name, done / total, k / total))
        done += k
    return windows


def layer_groups(doc: StrokeFile, layer_per_level: bool) -> list[tuple[str, list[Stroke]]]:
    """Layers bottom to top with their strokes in painting order: per level its paint, then its
    smudges (or everything on one layer)."""
    by_order = sorted(doc.strokes, key=lambda s: s.order)
    if not layer_per_level:
        return [(SINGLE_LAYER, by_order)] if by_order else []
    groups = [(level_layer_name(rank, kind), [s for s in by_order if s.level == level and s.kind == kind])
              for rank, level in enumerate(doc.levels) for kind in ("paint", "smudge")]
    return [(name, strokes) for name, strokes in groups if strokes]


def add_levels(
    gp_data: bpy.types.GreasePencil,
    doc: StrokeFile,
    mapping: CanvasMapping,
    frame: int,
    slot: dict[str, int],
    layer_per_level: bool = True,
    draw_speed: tuple[int, float] | None = None,
    marks: Sequence[int] | None = None,
) -> list[LayerWindow]:
    """The stroke layers (see layer_groups), made where missing. Returns each layer's build window (see
    layer_windows), so the timeline shows a level's paint, then its smudges softening it, then the next
    level. With ``draw_speed`` = (duration in frames, fps), each layer's drawing starts at its window's
    first frame and carries drawing times that finish within the window. ``marks``, one per stroke in
    painting order, become the strokes' MARK_ATTRIBUTE."""
    source = {id(s): i for i, s in enumerate(doc.strokes)}
    painted = {id(s): i for i, s in enumerate(sorted(doc.strokes, key=lambda s: s.order))}
    groups = layer_groups(doc, layer_per_level)
    windows = layer_windows([(name, len(strokes)) for name, strokes in groups])
    for (name, strokes), window in zip(groups, windows, strict=True):
        sampled = sample_strokes(strokes, points_per_stroke(strokes))
        k, n = len(strokes), sampled.n
        rgba = np.concatenate([srgb_to_linear(sampled.srgb), np.ones((k, n, 1))], axis=-1)
        key = frame
        if draw_speed is not None:
            duration, fps = draw_speed
            key = frame + math.floor(window.start * duration)
        drawing = new_drawing(gp_data, name, key)
        _write_strokes(
            drawing,
            positions=mapping.to_world(sampled.xy),
            radius=sampled.radius * mapping.scale,
            material_index=np.array([slot[material_key(s)] for s in strokes]),
            rgba=rgba,
            opacity=sampled.opacity,
        )
        _write_stroke_attributes(drawing, strokes, np.array([source[id(s)] for s in strokes]))
        if marks is not None:
            _set(drawing, MARK_ATTRIBUTE, "INT", "CURVE", [marks[painted[id(s)]] for s in strokes])
        for attr, values in texture_attributes(strokes, mapping.to_world(sampled.xy)).items():
            _set(drawing, attr, "FLOAT", "CURVE", values)
        if draw_speed is not None:
            end = frame + (window.start + window.length) * duration  # frames; need not be whole
            _write_draw_times(drawing, sampled.xy, (end - key) / fps)
    return windows


def _write_stroke_attributes(drawing: bpy.types.GreasePencilDrawing, strokes: Sequence[Stroke],
                             source: np.ndarray) -> None:
    """The per-stroke (curve domain) attributes that come from the file, beyond geometry and color:
    soft edges for smudges, and each stroke's index in the file (``source``) for the exporter."""
    _set(drawing, "softness", "FLOAT", "CURVE", [s.mapping.softness if s.mapping else
                                                 SMUDGE_SOFTNESS if s.kind == "smudge" else 0.0 for s in strokes])
    _set(drawing, SOURCE_ATTRIBUTE, "INT", "CURVE", source)


def _write_draw_times(drawing: bpy.types.GreasePencilDrawing, xy: np.ndarray, seconds: float) -> None:
    """Recorded drawing times for strokes (k, n, 2) painted back to back in ``seconds``: a constant
    brush speed, plus a short lift between strokes (a tenth of the average stroke), so every stroke
    takes time. The last point lands just before the end, as Build shows a point once the clock
    has passed it."""
    k, n = xy.shape[:2]
    seg = np.linalg.norm(np.diff(xy, axis=1), axis=-1)  # (k, n-1) pixels
    along = np.concatenate([np.zeros((k, 1)), np.cumsum(seg, axis=1)], axis=1)  # (k, n) from the stroke start
    lengths = np.maximum(along[:, -1], 1e-6)
    lift = 0.1 * float(lengths.mean())
    per_stroke = lengths + lift  # each stroke and the lift after it
    scale = 0.999 * seconds / (float(per_stroke.sum()) - lift)  # seconds per pixel of brush travel
    starts = np.concatenate([[0.0], np.cumsum(per_stroke)[:-1]]) * scale
    _set(drawing, "init_time", "FLOAT", "CURVE", starts)
    _set(drawing, "delta_time", "FLOAT", "POINT", along * scale)


def add_build_modifiers(
    obj: bpy.types.Object, windows: Sequence[LayerWindow], duration: int, build_timing: str = "FRAMES"
) -> None:
    """Build is evaluated per layer, so each level gets its own modifier whose delay and length place
    the layer's strokes at their slot of the painting order. With equal point counts per stroke in a
    layer, SEQUENTIAL/GROW reveals the layer's strokes one after another at an even pace, and holds
    the finished layer afterwards. The Canvas layer has no modifier: it is there from the start.
    In DRAWSPEED mode the layer's keyframe places it in time (Build ignores the delay there) and the
    recorded times pace it, at speed 1 and with the gaps as recorded."""
    for w in windows:
        mod = obj.modifiers.new(f"Build {w.layer}", "GREASE_PENCIL_BUILD")
        mod.tree_node_filter = w.layer
        mod.mode = "SEQUENTIAL"
        mod.transition = "GROW"
        if build_timing == "DRAWSPEED":
            mod.time_mode = "DRAWSPEED"
            mod.speed_factor = 1.0
            mod.speed_maxgap = 100.0  # its maximum: gaps as recorded (the default clips them at 0.5 s)
        else:
            mod.time_mode = "FRAMES"
            mod.start_delay = w.start * duration
            mod.length = w.length * duration

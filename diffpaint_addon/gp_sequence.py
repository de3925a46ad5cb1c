# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Turn a DiffPaint sequence (a manifest and one stroke file per frame, docs/sequence-format.md) into one
Grease Pencil v3 object: a keyframe (drawing) per reconstructed frame on every layer, the layers and
materials shared by all frames. The drawing of each frame is made as gp_import makes a painting's.

Frame i of the sequence is keyed at ``frame_start + i * step`` and held until the next (``step`` > 1
holds each reconstructed frame for that many scene frames). A layer a frame has no strokes on gets an
empty keyframe there, so it never shows an earlier frame's strokes. Each frame's stroke file is stored
on the object by its keyframe (SEQUENCE_PROPERTY) for the exporter, and each stroke carries the brush
mark it draws (MARK_ATTRIBUTE), the same on every frame. The within-frame Build animation is optional:
each frame's drawing then builds over its hold.

bpy, numpy and the standard library only: this module runs inside Blender.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import bpy

from diffpaint_shared import sequence as manifest
from diffpaint_shared.strokefile import StrokeFile, StrokeFileError, loads

from .gp_import import (
    CANVAS_LAYER,
    SEQUENCE_PROPERTY,
    add_build_modifiers,
    add_canvas,
    add_layer,
    add_levels,
    add_materials,
    canvas_slot,
    cover_frames,
    fit_to_plane,
    layer_groups,
    layer_sort_key,
    layer_windows,
    new_drawing,
    new_painting,
    removed_on_error,
)
from .sampling import CanvasMapping


class SequenceImportError(ValueError):
    """A sequence cannot be imported (a malformed manifest, a missing or mismatched frame file); the
    message says which file and why."""


@dataclass(frozen=True)
class LoadedFrame:
    frame: manifest.Frame
    doc: StrokeFile
    text: str  # the stroke file as read, stored on the object for the exporter


@dataclass(frozen=True)
class LoadedSequence:
    path: str  # the manifest
    sequence: manifest.Sequence
    frames: tuple[LoadedFrame, ...]


def load_sequence(path: str | os.PathLike[str]) -> LoadedSequence:
    """Read and check a manifest and every frame's stroke file, before anything is made in Blender: each
    file must exist, be a valid stroke file on the manifest's canvas and have one stroke per listed id."""
    try:
        seq = manifest.load(path)
    except manifest.SequenceFileError as e:
        raise SequenceImportError(f"{os.fspath(path)}: {e}") from None
    if not seq.frames:
        raise SequenceImportError(f"{os.fspath(path)}: the sequence has no frames")
    frames = []
    for frame in seq.frames:
        file = manifest.resolve(path, frame.strokes)
        where = f"frame {frame.index} ({frame.strokes})"
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SequenceImportError(f"{where}: cannot read the stroke file ({getattr(e, 'strerror', None) or e})") \
                from None
        try:
            doc = loads(text)
        except StrokeFileError as e:
            raise SequenceImportError(f"{where}: {e}") from None
        if (doc.canvas.width, doc.canvas.height) != (seq.width, seq.height):
            raise SequenceImportError(f"{where}: its canvas is {doc.canvas.width}×{doc.canvas.height}, the "
                                      f"sequence's {seq.width}×{seq.height}")
        if len(doc.strokes) != len(frame.stroke_ids):
            raise SequenceImportError(f"{where}: {len(doc.strokes)} strokes, but the manifest lists "
                                      f"{len(frame.stroke_ids)} stroke ids")
        frames.append(LoadedFrame(frame, doc, text))
    return LoadedSequence(os.fspath(path), seq, tuple(frames))


def keyframes(count: int, frame_start: int, step: int) -> list[int]:
    """The scene frames the ``count`` reconstructed frames are keyed at."""
    return [frame_start + i * step for i in range(count)]


def frame_span(count: int, frame_start: int, step: int) -> tuple[int, int]:
    """The first and last scene frame of ``count`` reconstructed frames, the last one held as the others."""
    return frame_start, keyframes(count, frame_start, step)[-1] + step - 1


def mark_numbers(frames: Sequence[manifest.Frame]) -> list[list[int]]:
    """Per frame, per stroke (in painting order): the brush mark it draws, numbered from 0 in order of
    first appearance. A manifest's ids can pass a 32-bit attribute's range (they start at a chunk's
    first frame × 2^20); the numbers keep who is who and always fit."""
    numbers: dict[int, int] = {}
    return [[numbers.setdefault(i, len(numbers)) for i in f.stroke_ids] for f in frames]


def import_sequence(
    loaded: LoadedSequence,
    scene: bpy.types.Scene,
    *,
    name: str = "DiffPaint Sequence",
    collection: bpy.types.Collection | None = None,
    frame_start: int = 1,
    step: int = 1,
    layer_per_level: bool = True,
    build: bool = False,
    plane: bpy.types.Object | None = None,
    fit_frame_range: bool = True,
) -> bpy.types.Object:
    """One Grease Pencil object animating ``loaded`` from ``frame_start``, each reconstructed frame held
    ``step`` frames, linked into ``collection`` (default: the scene's master collection). The scene's
    frame range is set to the sequence (``fit_frame_range``) or widened to cover it. ``build`` adds the
    Build animation within each frame's hold; ``plane`` places the painting as gp_import.fit_to_plane
    does. On any error nothing of the import is left behind."""
    if step < 1:
        raise ValueError("each reconstructed frame must be held at least one frame")
    docs = [f.doc for f in loaded.frames]
    keys = keyframes(len(docs), frame_start, step)
    mapping = CanvasMapping(loaded.sequence.width, loaded.sequence.height)
    groups = [layer_groups(doc, layer_per_level) for doc in docs]
    strokes_per_layer: dict[str, int] = {}
    for frame_groups in groups:
        for layer, strokes in frame_groups:
            strokes_per_layer[layer] = strokes_per_layer.get(layer, 0) + len(strokes)
    layers = sorted(strokes_per_layer, key=layer_sort_key)
    with removed_on_error() as created:
        gp_data, obj = new_painting(name, created)
        try:
            slot = add_materials(gp_data, docs, created)
        except ValueError as e:
            raise SequenceImportError(f"{loaded.path}: {e}") from None
        for layer in [CANVAS_LAYER, *layers]:  # bottom to top, whichever frame first has strokes on one
            add_layer(gp_data, layer)
        canvas = None
        for key, doc, frame_groups, marks in zip(keys, docs, groups, mark_numbers(loaded.sequence.frames),
                                                  strict=True):
            if doc.canvas != canvas:  # the canvas (its color and grain) is held until it changes
                canvas = doc.canvas
                add_canvas(gp_data, canvas, mapping, key, slot[canvas_slot(canvas)])
            add_levels(gp_data, doc, mapping, key, slot, layer_per_level, marks=marks)
            drawn = {layer for layer, _ in frame_groups}
            for layer in layers:
                if layer not in drawn:
                    new_drawing(gp_data, layer, key)  # empty: the previous frame's strokes end here
        if build:
            add_build_modifiers(obj, layer_windows([(layer, strokes_per_layer[layer]) for layer in layers]), step)
        if plane is not None:
            fit_to_plane(obj, mapping, plane)
        obj[SEQUENCE_PROPERTY] = {str(key): f.text for key, f in zip(keys, loaded.frames, strict=True)}
        (collection or scene.collection).objects.link(obj)
        cover_frames(scene, *frame_span(len(keys), frame_start, step), fit_frame_range)
        return obj


def set_scene_fps(scene: bpy.types.Scene, fps: float) -> None:
    """Play the scene at ``fps`` (e.g. a video's 29.97: Blender's 30 / 1.001)."""
    whole = max(1, round(fps))
    scene.render.fps, scene.render.fps_base = whole, whole / fps

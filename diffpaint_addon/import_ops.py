# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Import and export a stroke file, and import a sequence: the operators (File > Import/Export, the panel)
and the one way to import a stroke file with a set of ImportOptions (a sequence: and SequenceOptions)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from diffpaint_shared.strokefile import StrokeFileError, load, save

from .gp_export import ExportError, export_strokes, is_sequence
from .gp_import import import_strokes, scene_fps
from .gp_sequence import SequenceImportError, frame_span, import_sequence, load_sequence, set_scene_fps
from .op_base import Status
from .properties import ImportOptions, SequenceOptions
from .sampling import duration_for_rate
from .scene_setup import setup_scene_for_canvas


class ImportOptionError(ValueError):
    pass


@dataclass(frozen=True)
class Imported:
    """What an import made, for the report."""

    obj: bpy.types.Object
    strokes: int
    levels: int
    frames: tuple[int, int]  # blank canvas, finished painting

    @property
    def message(self) -> str:
        if not self.strokes:
            return "Imported 0 strokes: the file has only its canvas"
        levels = f"{self.levels} level{'s' if self.levels != 1 else ''}"
        return f"Imported {self.strokes} strokes, {levels}, frames {self.frames[0]}–{self.frames[1]}"

    def report(self, operator: bpy.types.Operator, suffix: str = "") -> None:
        operator.report({"INFO"} if self.strokes else {"WARNING"}, self.message + suffix)


def import_stroke_file(context: bpy.types.Context, path: str, options: ImportOptions, frame_start: int,
                       setup_scene: bool, plane: bpy.types.Object | None = None, name: str = "") -> Imported:
    """Load, import and select a stroke file as ``options`` say (see properties.ImportOptions), from
    ``frame_start``; ``plane`` is the mesh for Image Plane placement (default: the active object);
    the object is called ``name`` (default: after the file). Raises StrokeFileError for a bad file and
    ImportOptionError for options that cannot apply."""
    doc = load(path)
    scene = context.scene
    assert scene is not None
    plane = _placement_plane(context, options, plane)
    frames = options.frames
    if options.timing == "STROKES_PER_SECOND":
        frames = duration_for_rate(len(doc.strokes), options.strokes_per_second, scene_fps(scene))
    name = name or os.path.splitext(os.path.basename(path))[0] or "DiffPaint"
    obj = import_strokes(doc, scene, name=name, collection=context.collection,
                         frame_start=frame_start, duration=frames, layer_per_level=options.layer_per_level,
                         build_timing=options.build_timing, hold=options.hold, plane=plane,
                         fit_frame_range=options.fit_frame_range)
    if setup_scene and plane is None:
        setup_scene_for_canvas(scene, doc.canvas, obj)
    _select(context, obj)
    return Imported(obj, len(doc.strokes), len(doc.levels), (frame_start, frame_start + frames))


def _placement_plane(context: bpy.types.Context, options: ImportOptions,
                     plane: bpy.types.Object | None) -> bpy.types.Object | None:
    """The mesh the painting goes on (``plane``, else the active object) with Image Plane placement, else None."""
    if options.placement != "IMAGE_PLANE":
        return None
    plane = plane or context.view_layer.objects.active
    if plane is None or plane.type != "MESH":
        raise ImportOptionError("Image Plane placement needs a plane: choose one, or make a mesh "
                                "(e.g. an image imported as a plane) the active object")
    return plane


def _select(context: bpy.types.Context, obj: bpy.types.Object) -> None:
    """Make the imported object the only selected one, and the active one."""
    for other in context.view_layer.objects.selected:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj


def import_with_settings(context: bpy.types.Context, path: str, name: str = "") -> Imported:
    """Import with the panel's options (the scene's DiffPaint settings), from the scene's start frame."""
    settings = context.scene.diffpaint
    return import_stroke_file(context, path, settings, context.scene.frame_start, True, settings.plane, name)


@dataclass(frozen=True)
class ImportedSequence:
    """What a sequence import made, for the report."""

    obj: bpy.types.Object
    frames: int  # reconstructed frames, one keyframe each
    strokes: int  # over all frames
    span: tuple[int, int]  # first and last scene frame

    @property
    def message(self) -> str:
        return (f"Imported {self.frames} frame{'s' if self.frames != 1 else ''} ({self.strokes} strokes), "
                f"frames {self.span[0]}–{self.span[1]}")

    def report(self, operator: bpy.types.Operator, suffix: str = "") -> None:
        operator.report({"INFO"}, self.message + suffix)


class SequenceImportOptions(ImportOptions, SequenceOptions):
    """The options a sequence import reads: both mixins (the panel's settings and the operator have both)."""


def import_sequence_file(context: bpy.types.Context, path: str, options: SequenceImportOptions, frame_start: int,
                         setup_scene: bool, plane: bpy.types.Object | None = None, name: str = "") -> ImportedSequence:
    """Load, import and select a sequence manifest and its frames as ``options`` say, from ``frame_start``;
    ``plane`` and ``name`` as for import_stroke_file. Raises SequenceImportError for a bad manifest or
    frame file and ImportOptionError for options that cannot apply; either way nothing is imported."""
    loaded = load_sequence(path)
    scene = context.scene
    assert scene is not None
    plane = _placement_plane(context, options, plane)
    name = name or os.path.basename(os.path.dirname(os.path.abspath(path))) or "DiffPaint Sequence"
    obj = import_sequence(loaded, scene, name=name, collection=context.collection, frame_start=frame_start,
                          step=options.sequence_step, layer_per_level=options.layer_per_level,
                          build=options.sequence_build, plane=plane, fit_frame_range=options.fit_frame_range)
    if options.sequence_fps:
        set_scene_fps(scene, loaded.sequence.fps)
    if setup_scene and plane is None:
        setup_scene_for_canvas(scene, loaded.frames[0].doc.canvas, obj)
    _select(context, obj)
    return ImportedSequence(obj, len(loaded.frames), sum(len(f.doc.strokes) for f in loaded.frames),
                            frame_span(len(loaded.frames), frame_start, options.sequence_step))


def import_sequence_with_settings(context: bpy.types.Context, path: str, name: str = "") -> ImportedSequence:
    """Import a sequence with the panel's options, from the scene's start frame."""
    settings = context.scene.diffpaint
    return import_sequence_file(context, path, settings, context.scene.frame_start, True, settings.plane, name)


def _named_plane(operator: Any) -> bpy.types.Object | None:
    """The object an import operator's ``plane`` names, with Image Plane placement (None: the active one)."""
    if operator.placement != "IMAGE_PLANE" or not operator.plane:
        return None
    plane = bpy.data.objects.get(operator.plane)
    if plane is None:
        raise ImportOptionError(f"No object named '{operator.plane}' to fit the painting onto")
    return plane


def _draw_placement(operator: Any, layout: bpy.types.UILayout) -> None:
    """An import operator's first options: where the painting goes, and from which frame."""
    layout.use_property_split = True
    layout.prop(operator, "placement")
    if operator.placement == "IMAGE_PLANE":
        layout.prop_search(operator, "plane", bpy.data, "objects")
    else:
        layout.prop(operator, "setup_scene")
    layout.prop(operator, "frame_start")


class PlacementOptions:
    """Where an import goes: onto a plane, or into a scene set up for it (both import operators)."""

    setup_scene: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Set Up Camera and Render", default=True,
        description="Add an orthographic camera framing the canvas and match the render size and colors",
    )
    plane: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Plane", default="", description="Mesh object to fit the painting onto; when empty, the active object",
    )


class DIFFPAINT_OT_import_strokes(ImportOptions, PlacementOptions, bpy.types.Operator, ImportHelper):  # type: ignore[misc]
    bl_idname = "diffpaint.import_strokes"
    bl_label = "Import DiffPaint Strokes"
    bl_description = "Import a DiffPaint stroke file as an animated Grease Pencil painting"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]
    frame_start: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Start Frame", default=1, min=0, description="Frame showing the blank canvas",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        assert layout is not None  # set while Blender draws the operator
        _draw_placement(self, layout)
        self.draw_pacing(layout)

    def execute(self, context: bpy.types.Context) -> Status:
        try:
            plane = _named_plane(self)
            imported = import_stroke_file(context, self.filepath, self, self.frame_start,  # type: ignore[attr-defined]
                                          self.setup_scene, plane)
        except (StrokeFileError, ImportOptionError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        imported.report(self)
        return {"FINISHED"}


class DIFFPAINT_OT_import_sequence(SequenceImportOptions, PlacementOptions, bpy.types.Operator, ImportHelper):  # type: ignore[misc]
    bl_idname = "diffpaint.import_sequence"
    bl_label = "Import DiffPaint Sequence"
    bl_description = ("Import a reconstructed sequence (its sequence.json) as one Grease Pencil object with a "
                      "keyframe per frame")
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]
    frame_start: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Start Frame", default=1, min=0, description="Frame showing the sequence's first frame",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        assert layout is not None  # set while Blender draws the operator
        _draw_placement(self, layout)
        self.draw_sequence(layout)
        layout.prop(self, "fit_frame_range")
        layout.prop(self, "layer_per_level")

    def execute(self, context: bpy.types.Context) -> Status:
        try:
            plane = _named_plane(self)
            imported = import_sequence_file(context, self.filepath, self, self.frame_start,  # type: ignore[attr-defined]
                                            self.setup_scene, plane)
        except (SequenceImportError, ImportOptionError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        imported.report(self)
        return {"FINISHED"}


class DIFFPAINT_OT_export_strokes(bpy.types.Operator, ExportHelper):  # type: ignore[misc]
    bl_idname = "diffpaint.export_strokes"
    bl_label = "Export DiffPaint Strokes"
    bl_description = ("Write the active DiffPaint Grease Pencil painting, as edited, to a stroke file (a sequence: "
                      "the frame on screen)")
    bl_options = {"REGISTER"}  # reads the scene only: nothing to undo

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        obj = context.active_object
        if obj is None or obj.type != "GREASEPENCIL":
            cls.poll_message_set("Select a Grease Pencil painting imported by DiffPaint")
            return False
        return True

    def execute(self, context: bpy.types.Context) -> Status:
        obj = context.active_object
        assert obj is not None  # poll
        frame = context.scene.frame_current if is_sequence(obj) else None  # a sequence: the frame on screen
        try:
            doc = export_strokes(obj, frame)
            save(doc, self.filepath)  # type: ignore[attr-defined]  # validates first; writes atomically
        except (ExportError, StrokeFileError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, f"Cannot write {self.filepath}: {e.strerror}")  # type: ignore[attr-defined]
            return {"CANCELLED"}
        of_frame = "" if frame is None else f" of frame {frame}"
        self.report({"INFO"}, f"Exported {len(doc.strokes)} strokes{of_frame} to {self.filepath}")  # type: ignore[attr-defined]
        return {"FINISHED"}

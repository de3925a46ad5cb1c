# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Operators: import a stroke file, and run a reconstruction in the background then import it."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Literal

import bpy
from bpy_extras.io_utils import ImportHelper

from .backend_process import BackendJob, Event, describe_progress, progress_fraction, reconstruct_argv
from .gp_import import DEFAULT_DURATION, import_strokes
from .preferences import BackendNotConfigured, backend_python
from .scene_setup import setup_scene_for_canvas
from .strokefile import StrokeFileError, load

Status = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
BACKEND_FORMATS = {"PNG", "JPEG", "TIFF", "WEBP"}  # what `diffpaint reconstruct` reads
POLL_INTERVAL = 0.2  # seconds between checks on the backend: responsive, yet no busy UI


def import_stroke_file(
    context: bpy.types.Context, path: str, frame_start: int, frames: int, setup_scene: bool
) -> bpy.types.Object:
    """Load, import and select a stroke file; raises StrokeFileError for a bad file."""
    doc = load(path)
    scene = context.scene
    assert scene is not None
    name = os.path.splitext(os.path.basename(path))[0] or "DiffPaint"
    obj = import_strokes(doc, scene, name=name, collection=context.collection,
                         frame_start=frame_start, duration=frames)
    if setup_scene:
        setup_scene_for_canvas(scene, doc.canvas, obj)
    for other in context.view_layer.objects.selected:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


class DIFFPAINT_OT_import_strokes(bpy.types.Operator, ImportHelper):  # type: ignore[misc]
    """Import a DiffPaint stroke file as an animated Grease Pencil painting"""

    bl_idname = "diffpaint.import_strokes"
    bl_label = "Import DiffPaint Strokes"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]
    frame_start: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Start Frame", default=1, min=0, description="Frame showing the blank canvas",
    )
    frames: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Animation Length", default=DEFAULT_DURATION, min=1,
        description="Frames from the blank canvas to the finished painting",
    )
    setup_scene: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Set Up Camera and Render", default=True,
        description="Add an orthographic camera framing the canvas and match the render size and colours",
    )

    def execute(self, context: bpy.types.Context) -> Status:
        try:
            import_stroke_file(context, self.filepath, self.frame_start, self.frames,  # type: ignore[attr-defined]
                               self.setup_scene)
        except StrokeFileError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


def _image_from_context(context: bpy.types.Context) -> bpy.types.Image | None:
    """The panel's chosen image, else the image of the current (or any visible) Image Editor."""
    chosen = context.scene.diffpaint.image
    if chosen is not None:
        return chosen
    spaces = [context.space_data]
    if context.screen is not None:
        spaces += [area.spaces.active for area in context.screen.areas]
    for space in spaces:
        if space is not None and space.type == "IMAGE_EDITOR" and getattr(space, "image", None) is not None:
            return space.image  # type: ignore[attr-defined]  # a SpaceImageEditor
    return None


def image_file_for_backend(image: bpy.types.Image, tmp_dir: str) -> str:
    """A file the backend can read holding the image's current pixels: the image's own file when
    it is unmodified on disk in a format the backend reads, else a PNG copy (packed, generated,
    edited, or e.g. OpenEXR images)."""
    if (image.source == "FILE" and image.packed_file is None and not image.is_dirty
            and image.file_format in BACKEND_FORMATS):
        path = bpy.path.abspath(image.filepath, library=image.library)
        if os.path.isfile(path):
            return path
    path = os.path.join(tmp_dir, "input.png")
    file_format = image.file_format
    image.file_format = "PNG"  # the copy only; save_copy leaves the image's own path alone
    try:
        image.save(filepath=path, save_copy=True)
    finally:
        image.file_format = file_format
    return path


def _redraw_panels(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "VIEW_3D":
                area.tag_redraw()


class DIFFPAINT_OT_reconstruct(bpy.types.Operator):
    """Fit brush strokes to the image with the DiffPaint backend, then import them (Esc cancels)"""

    bl_idname = "diffpaint.reconstruct"
    bl_label = "Reconstruct Strokes"
    bl_options = {"REGISTER", "UNDO"}

    _job: BackendJob | None = None
    _timer: bpy.types.Timer | None = None
    _out_dir: str = ""

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.window_manager.diffpaint.running

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        if not self.start_job(context):
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(POLL_INTERVAL, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def start_job(self, context: bpy.types.Context) -> bool:
        """Launch the backend on the chosen image; False (with the reason reported) if it can't."""
        try:
            python = backend_python(context)
        except BackendNotConfigured as e:
            self.report({"ERROR"}, str(e))
            return False
        image = _image_from_context(context)
        if image is None:
            self.report({"ERROR"}, "Choose an image in the DiffPaint panel or open one in an Image Editor")
            return False
        self._out_dir = tempfile.mkdtemp(prefix="diffpaint-")
        try:
            image_path = image_file_for_backend(image, self._out_dir)
            self._job = BackendJob(reconstruct_argv(python, image_path, self._out_dir,
                                                    context.scene.diffpaint.strokes))
            self._job.start()
        except (OSError, RuntimeError) as e:  # RuntimeError: Blender could not save the image copy
            shutil.rmtree(self._out_dir, ignore_errors=True)
            self.report({"ERROR"}, f"Could not start the reconstruction: {e}")
            return False
        wm = context.window_manager
        wm.diffpaint.running, wm.diffpaint.cancel_requested = True, False
        wm.diffpaint.progress, wm.diffpaint.status = 0.0, "Starting the backend…"
        wm.progress_begin(0.0, 1.0)
        return True

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        if event.type == "ESC" or context.window_manager.diffpaint.cancel_requested:
            self.cancel(context)
            self.report({"WARNING"}, "Reconstruction cancelled")
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        assert self._job is not None
        for ev in self._job.poll():
            if ev["event"] == "progress":
                self._show_progress(context, ev)
            elif ev["event"] == "done":
                return self._import_result(context, str(ev["strokes"]))
            else:
                self._stop(context, keep_output=False)
                self.report({"ERROR"}, f"Reconstruction failed: {ev.get('message', 'unknown error')}")
                return {"CANCELLED"}
        return {"PASS_THROUGH"}

    def _show_progress(self, context: bpy.types.Context, ev: Event) -> None:
        wm = context.window_manager
        wm.diffpaint.progress = progress_fraction(ev)
        wm.diffpaint.status = describe_progress(ev)
        wm.progress_update(wm.diffpaint.progress)
        _redraw_panels(context)

    def _import_result(self, context: bpy.types.Context, strokes_path: str) -> Status:
        settings = context.scene.diffpaint
        self._stop(context, keep_output=True)
        try:
            obj = import_stroke_file(context, strokes_path, context.scene.frame_start, settings.frames, True)
        except StrokeFileError as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Imported {obj.name}; backend output kept in {self._out_dir}")
        return {"FINISHED"}

    def cancel(self, context: bpy.types.Context) -> None:
        """Esc, the Cancel button, or Blender tearing the operator down (file load, quit)."""
        if self._job is not None:
            self._job.cancel()
        self._stop(context, keep_output=False)

    def _stop(self, context: bpy.types.Context, keep_output: bool) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        wm.diffpaint.running = wm.diffpaint.cancel_requested = False
        wm.diffpaint.status = ""
        if not keep_output:
            shutil.rmtree(self._out_dir, ignore_errors=True)
        _redraw_panels(context)


class DIFFPAINT_OT_cancel_reconstruct(bpy.types.Operator):
    """Stop the running reconstruction; nothing is imported"""

    bl_idname = "diffpaint.cancel_reconstruct"
    bl_label = "Cancel Reconstruction"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.window_manager.diffpaint.running

    def execute(self, context: bpy.types.Context) -> Status:
        context.window_manager.diffpaint.cancel_requested = True  # the modal operator acts on it
        return {"FINISHED"}


classes = (DIFFPAINT_OT_import_strokes, DIFFPAINT_OT_reconstruct, DIFFPAINT_OT_cancel_reconstruct)

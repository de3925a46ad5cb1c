# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Operators: import and export a stroke file; run a reconstruction on the backend server without blocking
Blender, then import it; set up and test the backend."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from typing import Any, Literal

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from diffpaint_shared.backend_process import Event
from diffpaint_shared.progress import describe_progress, progress_fraction
from diffpaint_shared.strokefile import StrokeFileError, load, save

from . import backend_setup
from .client import BackendError, Client, HttpJob
from .gp_export import ExportError, export_strokes
from .gp_import import DEFAULT_STROKES_PER_SECOND, duration_for_rate, import_strokes, scene_fps
from .local_server import stop_local_server
from .preferences import (
    BackendNotConfigured,
    UiState,
    addon_preferences,
    backend_connection,
    describe_info,
)
from .presets import effort
from .properties import ImportOptions
from .scene_setup import setup_scene_for_canvas

Status = set[Literal["RUNNING_MODAL", "CANCELLED", "FINISHED", "PASS_THROUGH", "INTERFACE"]]
BACKEND_FORMATS = {"PNG", "JPEG", "TIFF", "WEBP"}  # what `diffpaint reconstruct` reads
POLL_INTERVAL = 0.2  # seconds between checks on the backend: responsive, yet no busy UI
PREVIEW_IMAGE = "DiffPaint Preview"


def import_stroke_file(
    context: bpy.types.Context, path: str, frame_start: int, frames: int, setup_scene: bool,
    layer_per_level: bool = True, *, placement: str = "CAMERA", plane: bpy.types.Object | None = None,
    timing: str = "FRAMES", strokes_per_second: float = DEFAULT_STROKES_PER_SECOND,
    build_timing: str = "FRAMES", hold: int = 0,
) -> bpy.types.Object:
    """Load, import and select a stroke file; raises StrokeFileError for a bad file and ImportOptionError
    for options that cannot apply (no plane to fit to). See properties.py for the options."""
    doc = load(path)
    scene = context.scene
    assert scene is not None
    if placement == "IMAGE_PLANE":
        plane = plane or context.view_layer.objects.active
        if plane is None or plane.type != "MESH":
            raise ImportOptionError("Image Plane placement needs a plane: choose one, or make a mesh "
                                    "(e.g. an image imported as a plane) the active object")
    else:
        plane = None
    if timing == "STROKES_PER_SECOND":
        frames = duration_for_rate(len(doc.strokes), strokes_per_second, scene_fps(scene))
    name = os.path.splitext(os.path.basename(path))[0] or "DiffPaint"
    obj = import_strokes(doc, scene, name=name, collection=context.collection,
                         frame_start=frame_start, duration=frames, layer_per_level=layer_per_level,
                         build_timing=build_timing, hold=hold, plane=plane)
    if setup_scene and plane is None:
        setup_scene_for_canvas(scene, doc.canvas, obj)
    for other in context.view_layer.objects.selected:
        other.select_set(False)
    obj.select_set(True)
    context.view_layer.objects.active = obj
    return obj


class ImportOptionError(ValueError):
    pass


def import_with_settings(context: bpy.types.Context, path: str) -> bpy.types.Object:
    """Import with the panel's options (the scene's DiffPaint settings), from the scene's start frame."""
    settings = context.scene.diffpaint
    return import_stroke_file(
        context, path, context.scene.frame_start, settings.frames, True, settings.layer_per_level,
        placement=settings.placement, plane=settings.plane, timing=settings.timing,
        strokes_per_second=settings.strokes_per_second, build_timing=settings.build_timing, hold=settings.hold)


class DIFFPAINT_OT_import_strokes(ImportOptions, bpy.types.Operator, ImportHelper):  # type: ignore[misc]
    """Import a DiffPaint stroke file as an animated Grease Pencil painting"""

    bl_idname = "diffpaint.import_strokes"
    bl_label = "Import DiffPaint Strokes"
    bl_options = {"REGISTER", "UNDO", "PRESET"}

    filename_ext = ".json"
    filter_glob: bpy.props.StringProperty(default="*.json", options={"HIDDEN"})  # type: ignore[valid-type]
    frame_start: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Start Frame", default=1, min=0, description="Frame showing the blank canvas",
    )
    setup_scene: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Set Up Camera and Render", default=True,
        description="Add an orthographic camera framing the canvas and match the render size and colours",
    )
    plane: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Plane", default="", description="Mesh object to fit the painting onto; when empty, the active object",
    )

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        assert layout is not None  # set while Blender draws the operator
        layout.use_property_split = True
        layout.prop(self, "placement")
        if self.placement == "IMAGE_PLANE":
            layout.prop_search(self, "plane", bpy.data, "objects")
        else:
            layout.prop(self, "setup_scene")
        layout.prop(self, "frame_start")
        self.draw_pacing(layout)

    def execute(self, context: bpy.types.Context) -> Status:
        plane = None
        if self.placement == "IMAGE_PLANE" and self.plane:
            plane = bpy.data.objects.get(self.plane)
            if plane is None:
                self.report({"ERROR"}, f"No object named '{self.plane}' to fit the painting onto")
                return {"CANCELLED"}
        try:
            import_stroke_file(context, self.filepath, self.frame_start, self.frames,  # type: ignore[attr-defined]
                               self.setup_scene, self.layer_per_level, placement=self.placement, plane=plane,
                               timing=self.timing, strokes_per_second=self.strokes_per_second,
                               build_timing=self.build_timing, hold=self.hold)
        except (StrokeFileError, ImportOptionError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        return {"FINISHED"}


class DIFFPAINT_OT_export_strokes(bpy.types.Operator, ExportHelper):  # type: ignore[misc]
    """Write the active DiffPaint Grease Pencil painting, as edited, to a stroke file"""

    bl_idname = "diffpaint.export_strokes"
    bl_label = "Export DiffPaint Strokes"
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
        try:
            doc = export_strokes(obj)
            save(doc, self.filepath)  # type: ignore[attr-defined]  # validates first; writes atomically
        except (ExportError, StrokeFileError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        except OSError as e:
            self.report({"ERROR"}, f"Cannot write {self.filepath}: {e.strerror}")  # type: ignore[attr-defined]
            return {"CANCELLED"}
        self.report({"INFO"}, f"Exported {len(doc.strokes)} strokes to {self.filepath}")  # type: ignore[attr-defined]
        return {"FINISHED"}


def _image_from_context(context: bpy.types.Context, editor_first: bool = False) -> bpy.types.Image | None:
    """The panel's chosen image, else the image of the current (or any visible) Image Editor; with
    ``editor_first`` (the Image Editor's panel), the current Image Editor's image comes first."""
    space = context.space_data
    if editor_first and space is not None and space.type == "IMAGE_EDITOR" and getattr(space, "image", None):
        return space.image  # type: ignore[attr-defined]
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
            if area.type in ("VIEW_3D", "IMAGE_EDITOR", "PREFERENCES"):
                area.tag_redraw()


def job_settings(settings: Any) -> dict[str, object]:
    """The panel's settings as the server's form fields."""
    size, iterations, rounds = effort(settings.quality, (settings.size, settings.iterations, settings.rounds))
    return {"strokes": settings.strokes, "levels": settings.levels, "size": size,
            "iterations": iterations, "rounds": rounds, "seed": settings.seed,
            "device": settings.device.lower(), "style": settings.style.lower(),
            "smudge": "true" if settings.smudge else "false"}


def show_preview(path: str) -> bpy.types.Image:
    """Load (or reload) the live preview PNG into the 'DiffPaint Preview' image datablock."""
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is None or bpy.path.abspath(image.filepath) != path:
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.load(path, check_existing=False)
        image.name = PREVIEW_IMAGE
    else:
        image.reload()
    return image


def remove_preview() -> None:
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is not None:
        bpy.data.images.remove(image)


class DIFFPAINT_OT_reconstruct(bpy.types.Operator):
    """Fit brush strokes to the image on the DiffPaint backend, then import them as an animated
    Grease Pencil painting (Esc cancels)"""

    bl_idname = "diffpaint.reconstruct"
    bl_label = "Reconstruct Strokes"
    bl_options = {"REGISTER", "UNDO"}

    editor_image: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Use Image Editor's Image", default=False, options={"HIDDEN", "SKIP_SAVE"},
        description="Reconstruct the image shown in this Image Editor rather than the panel's chosen image",
    )

    _job: HttpJob | None = None
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
        """Submit the chosen image to the backend; False (with the reason reported) if it can't."""
        wm = context.window_manager
        try:
            where, connect = backend_connection(context)
        except BackendNotConfigured as e:
            return self._refuse(context, str(e))
        image = _image_from_context(context, editor_first=getattr(self, "editor_image", False))
        if image is None:
            return self._refuse(context, "Choose an image in the DiffPaint panel or open one in an Image Editor")
        self._out_dir = tempfile.mkdtemp(prefix="diffpaint-")
        try:
            image_path = image_file_for_backend(image, self._out_dir)
        except RuntimeError as e:  # Blender could not save the image copy
            shutil.rmtree(self._out_dir, ignore_errors=True)
            return self._refuse(context, f"Could not hand the image to the backend: {e}")
        self._job = HttpJob(connect, image_path, job_settings(context.scene.diffpaint), self._out_dir)
        self._job.start()
        wm.diffpaint.running, wm.diffpaint.cancel_requested = True, False
        wm.diffpaint.state, wm.diffpaint.message = "RUNNING", ""
        wm.diffpaint.partial_path = wm.diffpaint.partial_label = ""
        wm.diffpaint.progress, wm.diffpaint.status = 0.0, f"Connecting to the {where}…"
        wm.progress_begin(0.0, 1.0)
        return True

    def _refuse(self, context: bpy.types.Context, message: str) -> bool:
        runtime = context.window_manager.diffpaint
        runtime.state, runtime.message = "FAILED", message
        self.report({"ERROR"}, message)
        return False

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        if event.type == "ESC" or context.window_manager.diffpaint.cancel_requested:
            self.cancel(context)
            return {"CANCELLED"}
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        assert self._job is not None
        for ev in self._job.poll():
            if ev["event"] == "progress":
                self._show_progress(context, ev)
            elif ev["event"] == "preview":
                show_preview(str(ev["path"]))
                _redraw_image_editors(context)
            elif ev["event"] == "done":
                return self._import_result(context, str(ev["strokes"]))
            else:
                message = f"Reconstruction failed: {ev.get('message', 'unknown error')}"
                self._stop(context, keep_output=False, state="FAILED", message=message)
                self.report({"ERROR"}, message)
                return {"CANCELLED"}
        return {"PASS_THROUGH"}

    def _show_progress(self, context: bpy.types.Context, ev: Event) -> None:
        wm = context.window_manager
        wm.diffpaint.progress = progress_fraction(ev)
        wm.diffpaint.status = describe_progress(ev)
        wm.progress_update(wm.diffpaint.progress)
        _status_bar(context, f"DiffPaint: {wm.diffpaint.status}  (Esc to cancel)" if wm.diffpaint.status else None)
        _redraw_panels(context)

    def _import_result(self, context: bpy.types.Context, strokes_path: str) -> Status:
        try:
            obj = import_with_settings(context, strokes_path)
        except (StrokeFileError, ImportOptionError) as e:
            self._stop(context, keep_output=False, state="FAILED", message=str(e))
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        message = f"Imported {obj.name}; backend output kept in {self._out_dir}"
        self._stop(context, keep_output=True, state="DONE", message=message)
        self.report({"INFO"}, message)
        return {"FINISHED"}

    def cancel(self, context: bpy.types.Context) -> None:
        """Esc, the Cancel button, or Blender tearing the operator down (file load, quit). Nothing is
        imported; a completed level, if the backend had one, is kept for 'Import Last Level'."""
        partial: Event | None = None
        if self._job is not None:
            self._job.cancel()
            partial = next((e for e in self._job.poll() if e["event"] == "cancelled" and e.get("partial")), None)
        if partial is not None:
            label = f"level {partial['level']} of {partial['levels']}"
            self._stop(context, keep_output=True, state="CANCELLED",
                       message=f"Reconstruction cancelled; {label} is kept")
            runtime = context.window_manager.diffpaint
            runtime.partial_path, runtime.partial_label = str(partial["partial"]), label
            self.report({"WARNING"}, f"Reconstruction cancelled; {label} is kept: 'Import Last Level' in the panel")
        else:
            self._stop(context, keep_output=False, state="CANCELLED", message="Reconstruction cancelled")
            self.report({"WARNING"}, "Reconstruction cancelled")

    def _stop(self, context: bpy.types.Context, keep_output: bool, state: str, message: str) -> None:
        wm = context.window_manager
        if self._timer is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        _status_bar(context, None)
        wm.diffpaint.running = wm.diffpaint.cancel_requested = False
        wm.diffpaint.status = ""
        wm.diffpaint.state, wm.diffpaint.message = state, message
        if state != "DONE":
            remove_preview()  # nothing half-made stays behind
        if not keep_output:
            shutil.rmtree(self._out_dir, ignore_errors=True)
        _redraw_panels(context)


def _status_bar(context: bpy.types.Context, text: str | None) -> None:
    """The run's status line in the status bar (None restores Blender's own); no workspace headless."""
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)


def _redraw_image_editors(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.tag_redraw()


class DIFFPAINT_OT_cancel_reconstruct(bpy.types.Operator):
    """Stop the running reconstruction; nothing is imported (a completed level is kept to import)"""

    bl_idname = "diffpaint.cancel_reconstruct"
    bl_label = "Cancel Reconstruction"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.window_manager.diffpaint.running

    def execute(self, context: bpy.types.Context) -> Status:
        context.window_manager.diffpaint.cancel_requested = True  # the modal operator acts on it
        return {"FINISHED"}


class DIFFPAINT_OT_import_last_level(bpy.types.Operator):
    """Import the strokes of the last level a cancelled reconstruction completed"""

    bl_idname = "diffpaint.import_last_level"
    bl_label = "Import Last Level"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        runtime = context.window_manager.diffpaint
        return not runtime.running and bool(runtime.partial_path) and os.path.isfile(runtime.partial_path)

    def execute(self, context: bpy.types.Context) -> Status:
        runtime = context.window_manager.diffpaint
        try:
            obj = import_with_settings(context, runtime.partial_path)
        except (StrokeFileError, ImportOptionError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        self.report({"INFO"}, f"Imported {obj.name} ({runtime.partial_label})")
        runtime.partial_path = runtime.partial_label = ""
        return {"FINISHED"}


class _BackgroundTask:
    """Runs ``work`` in a thread; a modal operator's timer collects the result without blocking."""

    def __init__(self, work: Any):
        self.result: Any = None
        self.error: str = ""
        self.done = threading.Event()

        def run() -> None:
            try:
                self.result = work()
            except BackendError as e:
                self.error = str(e)
            except Exception as e:  # shown to the user, never a traceback in the console only
                self.error = f"{type(e).__name__}: {e}"
            finally:
                self.done.set()

        threading.Thread(target=run, daemon=True).start()


def check_connection(connect: Any) -> dict[str, Any]:
    client: Client = connect()
    return client.info()


class DIFFPAINT_OT_test_connection(bpy.types.Operator):
    """Connect to the DiffPaint backend (starting the local one if needed) and report its device and version"""

    bl_idname = "diffpaint.test_connection"
    bl_label = "Test Connection"
    bl_options = {"REGISTER"}

    _task: _BackgroundTask | None = None
    _timer: bpy.types.Timer | None = None

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        try:
            where, connect = backend_connection(context)
        except BackendNotConfigured as e:
            UiState.connection, UiState.connection_ok = str(e), False
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        UiState.connection, UiState.connection_ok = f"Connecting to the {where}…", False
        self._task = _BackgroundTask(lambda: check_connection(connect))
        self._timer = context.window_manager.event_timer_add(POLL_INTERVAL, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        assert self._task is not None
        if event.type != "TIMER" or not self._task.done.is_set():
            return {"PASS_THROUGH"}
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
        if self._task.error:
            UiState.connection, UiState.connection_ok = self._task.error, False
            self.report({"ERROR"}, f"DiffPaint backend: {self._task.error}")
        else:
            UiState.connection, UiState.connection_ok = describe_info(self._task.result), True
            self.report({"INFO"}, UiState.connection)
        _redraw_panels(context)
        return {"FINISHED"}


def setup_job_for(context: bpy.types.Context) -> backend_setup.SetupJob:
    """The set-up steps for this Blender: a venv in the extension's user folder, made with Blender's
    own Python (or the chosen one, if it is not a venv of ours), with the backend source installed."""
    import sys

    prefs = addon_preferences(context)
    source = backend_setup.find_backend_source(prefs.backend_source if prefs is not None else "")
    if source is None:
        raise BackendNotConfigured("Backend source not found: set 'Backend Source' in the DiffPaint preferences "
                                   "to a DiffPaint folder (the one with pyproject.toml)")
    try:
        user_dir = bpy.utils.extension_path_user(__package__, create=True)
    except (ValueError, RuntimeError):  # not installed as an extension (e.g. a development checkout)
        user_dir = os.path.join(bpy.utils.user_resource("SCRIPTS", path="diffpaint", create=True))
    venv = os.path.join(user_dir, backend_setup.VENV_NAME)
    base = sys.executable
    steps = backend_setup.setup_commands(base, venv, source)
    return backend_setup.SetupJob(steps, backend_setup.venv_python(venv))


class DIFFPAINT_OT_setup_backend(bpy.types.Operator):
    """Create a private Python environment for the backend in the extension's folder and install the
    backend and PyTorch into it (several minutes; progress shows in the preferences)"""

    bl_idname = "diffpaint.setup_backend"
    bl_label = "Set Up Backend"
    bl_options = {"REGISTER"}

    _timer: bpy.types.Timer | None = None

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return UiState.setup is None or UiState.setup.state != "running"

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        try:
            job = setup_job_for(context)
        except BackendNotConfigured as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        UiState.setup = job
        job.start()
        self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        job = UiState.setup
        if event.type != "TIMER" or job is None:
            return {"PASS_THROUGH"}
        _redraw_panels(context)
        if job.state == "running":
            return {"PASS_THROUGH"}
        if self._timer is not None:
            context.window_manager.event_timer_remove(self._timer)
        if job.state == "done":
            prefs = addon_preferences(context)
            if prefs is not None:
                prefs.python_path = job.python
                prefs.backend = "LOCAL"
            self.report({"INFO"}, f"DiffPaint backend installed: {job.python}")
            return {"FINISHED"}
        self.report({"ERROR"}, f"Backend set-up failed: {job.error}")
        return {"CANCELLED"}

    def cancel(self, context: bpy.types.Context) -> None:
        if UiState.setup is not None:
            UiState.setup.cancel()


class DIFFPAINT_OT_stop_local_server(bpy.types.Operator):
    """Stop the backend this Blender started (it starts again when needed)"""

    bl_idname = "diffpaint.stop_local_server"
    bl_label = "Stop Local Backend"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> Status:
        stop_local_server()
        _redraw_panels(context)
        return {"FINISHED"}


classes = (DIFFPAINT_OT_import_strokes, DIFFPAINT_OT_export_strokes, DIFFPAINT_OT_reconstruct,
           DIFFPAINT_OT_cancel_reconstruct, DIFFPAINT_OT_import_last_level, DIFFPAINT_OT_test_connection,
           DIFFPAINT_OT_setup_backend, DIFFPAINT_OT_stop_local_server)

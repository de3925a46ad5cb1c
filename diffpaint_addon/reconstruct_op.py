# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Reconstruct: fit strokes to an image on the backend server without blocking Blender, with progress
and a live preview, then import them; cancel it; import the last level a cancelled run completed.
A sequence (a folder of frames, a movie clip, or an image of an image sequence or movie) goes to the
server whole, and comes back as a sequence manifest imported as one animated object."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Protocol

import bpy

from diffpaint_shared.jobschema import Setting, levels_for_budget
from diffpaint_shared.progress import describe_progress, progress_fraction
from diffpaint_shared.strokefile import StrokeFileError

from . import timing
from .client import Event, HttpJob, HttpSequenceJob, plain
from .gp_sequence import SequenceImportError
from .import_ops import (
    Imported,
    ImportedSequence,
    ImportOptionError,
    import_sequence_with_settings,
    import_with_settings,
)
from .op_base import PASS_THROUGH, RUNNING_MODAL, Status, TimerOperator, redraw_panels
from .preferences import (
    BackendNotConfigured,
    UiState,
    backend_connection,
    calibration,
    describe_info,
    timing_path,
)
from .presets import effort, estimate_seconds
from .properties import PANEL_SETTINGS

BACKEND_FORMATS = {"PNG", "JPEG", "TIFF", "WEBP"}  # what `diffpaint reconstruct` reads
PREVIEW_IMAGE = "DiffPaint Preview"
LONG_RUN = 60.0  # seconds: cancelling a run this long asks first (Esc is easy to press for something else)
STARTING = "Starting…"  # the job runs but has reported no progress yet (the worker is starting)
SEQUENCE_SOURCES = {"SEQUENCE", "MOVIE"}  # image and movie clip sources reconstructed frame by frame


class Job(Protocol):
    """A reconstruction on the backend, driven from a background thread: HttpJob, HttpSequenceJob."""

    def start(self) -> None: ...

    def poll(self) -> list[Event]: ...

    def cancel(self, timeout: float = ...) -> None: ...


class SourceError(ValueError):
    """The panel's sequence source cannot be reconstructed; the message says what to choose."""


@dataclass(frozen=True)
class SequenceSource:
    name: str  # for the painting and its output folder
    path: str  # a folder of frames or a video file, as the server takes it


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


def sequence_source(context: bpy.types.Context, editor_first: bool = False) -> SequenceSource | None:
    """What to reconstruct frame by frame: the panel's folder of frames or movie clip, or an image (the
    Image Editor's first with ``editor_first``) that is an image sequence (its folder) or a movie; None
    for a still image. Raises SourceError when the chosen folder or clip is missing."""
    settings = context.scene.diffpaint
    if not editor_first and settings.source == "FOLDER":
        folder = os.path.normpath(bpy.path.abspath(settings.frames_folder)) if settings.frames_folder else ""
        if not os.path.isdir(folder):
            raise SourceError("Choose the folder of the sequence's frames in the DiffPaint panel")
        return SequenceSource(os.path.basename(folder) or "frames", folder)
    if not editor_first and settings.source == "MOVIE":
        if settings.movie is None:
            raise SourceError("Choose a movie clip in the DiffPaint panel")
        return SequenceSource(settings.movie.name, _media_path(settings.movie))
    image = _image_from_context(context, editor_first)
    if image is None or image.source not in SEQUENCE_SOURCES:
        return None
    return SequenceSource(os.path.splitext(image.name)[0] or image.name, _media_path(image))


def _media_path(media: bpy.types.Image | bpy.types.MovieClip) -> str:
    """The file of a movie, or the folder of an image sequence's frames."""
    path = os.path.normpath(bpy.path.abspath(media.filepath, library=media.library))
    if media.source == "SEQUENCE":
        path = os.path.dirname(path)
    if not os.path.exists(path):
        raise SourceError(f"'{media.name}' has no frames on disk to reconstruct ({path} is missing)")
    return path


def is_sequence_source(context: bpy.types.Context, in_image_editor: bool) -> bool:
    """Whether the panel's source, as the panel shows it, is reconstructed frame by frame."""
    settings = context.scene.diffpaint
    if in_image_editor:
        image = getattr(context.space_data, "image", None)
    elif settings.source != "IMAGE":
        return True
    else:
        image = settings.image
    return image is not None and image.source in SEQUENCE_SOURCES


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


def job_settings(settings: Any) -> dict[str, object]:
    """The panel's settings as the server's form fields: every setting the panel offers, by its schema
    name; the quality preset decides the effort settings; choices in the schema's lower case."""
    values = {s.name: getattr(settings, s.name) for s in PANEL_SETTINGS}
    values["size"], values["iterations"], values["rounds"] = effort(
        settings.quality, (settings.size, settings.iterations, settings.rounds))
    return {s.name: _form_value(s, values[s.name]) for s in PANEL_SETTINGS}


def _form_value(setting: Setting, value: Any) -> object:
    if setting.path:
        return bpy.path.abspath(value) if value else ""  # a blend-relative path ("//…") as the file system's
    if setting.choices:
        return value.lower()  # the panel's enum keys are the schema's values in upper case
    if setting.type is bool:
        return "true" if value else "false"
    return value


def model_seconds(settings: Any) -> float:
    """The preset model's fit time for the panel's settings (before this machine's calibration)."""
    return estimate_seconds(settings.quality, settings.strokes, levels_for_budget(settings.strokes, settings.levels),
                            "cuda" if settings.device == "CUDA" else "cpu",
                            (settings.size, settings.iterations, settings.rounds))


def estimated_seconds(settings: Any) -> float:
    """The whole run's expected time on this machine: start-up and fit, calibrated by its past runs."""
    return calibration().estimate(model_seconds(settings), settings.device.lower())


def show_preview(path: str) -> bpy.types.Image:
    """Load (or reload) the live preview PNG into the 'DiffPaint Preview' image datablock."""
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is None or bpy.path.abspath(image.filepath) != path:
        if image is not None:
            bpy.data.images.remove(image)
        image = bpy.data.images.load(path, check_existing=False)
        image.name = PREVIEW_IMAGE
        if bpy.data.filepath:  # beside the saved .blend: keep the reference relative, so it travels with it
            image.filepath = bpy.path.relpath(path)
    else:
        image.reload()
    return image


def remove_preview() -> None:
    image = bpy.data.images.get(PREVIEW_IMAGE)
    if image is not None:
        bpy.data.images.remove(image)


def output_folder(image_name: str) -> tuple[str, bool]:
    """Where a run keeps the backend's output (stroke file, preview): ``//diffpaint/<image name>/`` beside
    a saved .blend, so the file's references stay valid with it; a temporary folder for an unsaved one.
    Also whether the folder was made now."""
    if not bpy.data.filepath:
        return tempfile.mkdtemp(prefix="diffpaint-"), True
    safe = "".join(c if c.isalnum() or c in " -_." else "_" for c in image_name).strip(" .") or "image"
    folder = os.path.join(os.path.dirname(bpy.data.filepath), "diffpaint", safe)
    existed = os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    return folder, not existed


def _status_bar(context: bpy.types.Context, text: str | None) -> None:
    """The run's status line in the status bar (None restores Blender's own); no workspace headless."""
    workspace = getattr(context, "workspace", None)
    if workspace is not None:
        workspace.status_text_set(text)


class DIFFPAINT_OT_reconstruct(TimerOperator):
    bl_idname = "diffpaint.reconstruct"
    bl_label = "Reconstruct Strokes"
    bl_description = ("Fit brush strokes to the image (a sequence: to each frame) on the DiffPaint backend, then "
                      "import them as an animated Grease Pencil painting (Esc cancels)")
    bl_options = {"REGISTER", "UNDO"}

    editor_image: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Use Image Editor's Image", default=False, options={"HIDDEN", "SKIP_SAVE"},
        description="Reconstruct the image shown in this Image Editor rather than the panel's chosen image",
    )

    _job: Job | None = None
    _sequence = False  # the run reconstructs a sequence (the job's done event names a manifest)
    _out_dir: str = ""
    _out_dir_made = False  # made by this run (so removed when it fails), not an earlier run's kept folder
    _out_parent = ""  # a sequence run's output folder's parent, when made by this run (removed with it)
    _name = ""  # the image's name, for the painting
    run_started = 0.0  # time.monotonic() when the running reconstruction began
    _started = 0.0  # when the run began, and when its first optimizer step was reported (for the calibration)
    _first_step = 0.0

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return not context.window_manager.diffpaint.running

    def begin(self, context: bpy.types.Context) -> bool:
        """Submit the chosen image to the backend; False (with the reason reported) if it can't. The
        image is checked first: a missing image must not start a local backend."""
        wm = context.window_manager
        editor_first = getattr(self, "editor_image", False)
        try:
            source = sequence_source(context, editor_first)
        except SourceError as e:
            return self._refuse(context, str(e))
        image = _image_from_context(context, editor_first) if source is None else None
        if source is None and image is None:
            return self._refuse(context, "Choose an image in the DiffPaint panel or open one in an Image Editor")
        try:
            where, connect = backend_connection(context)
        except BackendNotConfigured as e:
            return self._refuse(context, str(e))
        settings = job_settings(context.scene.diffpaint)
        self._sequence = source is not None
        if source is not None:
            # A folder of its own inside the usual one: the unpacked result is removed whole if the run fails.
            self._name = source.name
            parent, parent_made = output_folder(self._name)
            self._out_parent = parent if parent_made else ""
            self._out_dir, self._out_dir_made = tempfile.mkdtemp(prefix="sequence-", dir=parent), True
            self._job = HttpSequenceJob(connect, source.path, settings, self._out_dir)
        else:
            assert image is not None
            self._name = os.path.splitext(image.name)[0] or image.name
            self._out_dir, self._out_dir_made = output_folder(self._name)
            self._out_parent = ""
            try:
                image_path = image_file_for_backend(image, self._out_dir)
            except RuntimeError as e:  # Blender could not save the image copy
                self._remove_output()
                return self._refuse(context, f"Could not hand the image to the backend: {e}")
            self._job = HttpJob(connect, image_path, settings, self._out_dir)
        self._job.start()
        self._started, self._first_step = time.monotonic(), 0.0
        DIFFPAINT_OT_reconstruct.run_started = self._started  # one run at a time (poll): for Cancel's question
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

    def on_event(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        """Esc cancels when pressed (not on its release, e.g. after closing a menu with it); a long run
        asks first, through the Cancel operator's confirmation."""
        if event.type != "ESC" or event.value != "PRESS":
            return PASS_THROUGH
        if is_long_run(context):
            bpy.ops.diffpaint.cancel_reconstruct("INVOKE_DEFAULT")  # type: ignore[attr-defined]
            return RUNNING_MODAL
        self.cancel(context)
        return {"CANCELLED"}

    def follow(self, context: bpy.types.Context) -> Status:
        if context.window_manager.diffpaint.cancel_requested:
            self.cancel(context)
            return {"CANCELLED"}
        assert self._job is not None
        info = getattr(self._job, "info", None)  # the server's /info, once connected
        if info is not None and not UiState.connection_ok:  # the panel's backend line names the device
            UiState.connection, UiState.connection_ok = describe_info(info), True
        for ev in self._job.poll():
            if ev["event"] == "progress":
                self._show_progress(context, ev)
            elif ev["event"] == "preview":
                show_preview(str(ev["path"]))
                _redraw_image_editors(context)
            elif ev["event"] == "done":
                return self._import_result(context, ev)
            else:
                message = f"Reconstruction failed: {plain(str(ev.get('message') or 'unknown error'))}"
                self._stop(context, keep_output=False, state="FAILED", message=message)
                self.report({"ERROR"}, message)
                return {"CANCELLED"}
        return PASS_THROUGH

    def _show_progress(self, context: bpy.types.Context, ev: Event) -> None:
        if not self._first_step and isinstance(ev.get("level"), int):
            self._first_step = time.monotonic()
        wm = context.window_manager
        wm.diffpaint.progress = progress_fraction(ev)
        wm.diffpaint.status = describe_progress(ev) or STARTING
        wm.progress_update(wm.diffpaint.progress)
        _status_bar(context, f"DiffPaint: {wm.diffpaint.status}  (Esc to cancel)")
        redraw_panels(context)

    def _import_result(self, context: bpy.types.Context, done: Event) -> Status:
        imported: Imported | ImportedSequence
        try:
            if self._sequence:
                imported = import_sequence_with_settings(context, str(done["manifest"]), self._name)
            else:
                self._calibrate(context)  # the estimate is of one image's fit
                imported = import_with_settings(context, str(done["strokes"]), self._name)
        except (StrokeFileError, SequenceImportError, ImportOptionError) as e:
            self._stop(context, keep_output=False, state="FAILED", message=str(e))
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        suffix = f" as {imported.obj.name}; backend output kept in {self._out_dir}"
        self._stop(context, keep_output=True, state="DONE", message=imported.message + suffix)
        imported.report(self, suffix)
        return {"FINISHED"}

    def _calibrate(self, context: bpy.types.Context) -> None:
        """Teach the time estimate this run's start-up and fit times."""
        if not self._first_step:
            return  # no step was seen (a very short fit): nothing to learn from
        now, settings = time.monotonic(), context.scene.diffpaint
        calibration().record(model_seconds(settings), settings.device.lower(),
                             startup=self._first_step - self._started, fit_seconds=now - self._first_step)
        with contextlib.suppress(OSError):  # an estimate is not worth failing a run for
            timing.save(calibration(), timing_path(create=True))

    def cancel(self, context: bpy.types.Context) -> None:
        """Esc, the Cancel button, or Blender tearing the operator down (file load, quit). Nothing is
        imported; a completed level, if the backend had one, is kept for 'Import Last Level'."""
        partial: Event | None = None
        if self._job is not None:
            self._job.cancel()
            partial = next((e for e in self._job.poll() if e["event"] == "cancelled" and e.get("partial")
                            and not self._sequence), None)  # a level of one image only
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
        self.remove_timer(context)
        wm.progress_end()
        _status_bar(context, None)
        wm.diffpaint.running = wm.diffpaint.cancel_requested = False
        wm.diffpaint.status = ""
        wm.diffpaint.state, wm.diffpaint.message = state, message
        if state != "DONE":
            remove_preview()  # nothing half-made stays behind
        if not keep_output:
            self._remove_output()
        redraw_panels(context)

    def _remove_output(self) -> None:
        if self._out_dir_made:
            shutil.rmtree(self._out_dir, ignore_errors=True)
        else:  # an earlier run's folder: only this run's files go
            for name in ("input.png", "strokes.json", "preview.png"):
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self._out_dir, name))
        if self._out_parent:
            with contextlib.suppress(OSError):
                os.rmdir(self._out_parent)  # only if empty: nothing but this run's folder was ever in it


def _redraw_image_editors(context: bpy.types.Context) -> None:
    for window in context.window_manager.windows:
        for area in window.screen.areas:
            if area.type == "IMAGE_EDITOR":
                area.tag_redraw()


def is_long_run(context: bpy.types.Context) -> bool:
    return context.window_manager.diffpaint.running and run_seconds() > LONG_RUN


def run_seconds() -> float:
    return time.monotonic() - DIFFPAINT_OT_reconstruct.run_started


class DIFFPAINT_OT_cancel_reconstruct(bpy.types.Operator):
    bl_idname = "diffpaint.cancel_reconstruct"
    bl_label = "Cancel Reconstruction"
    bl_description = "Stop the running reconstruction; nothing is imported (a completed level is kept to import)"
    bl_options = {"INTERNAL"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return context.window_manager.diffpaint.running

    def invoke(self, context: bpy.types.Context, event: bpy.types.Event) -> Status:
        if is_long_run(context):
            minutes = run_seconds() / 60
            return context.window_manager.invoke_confirm(
                self, event, title="Cancel the reconstruction?", confirm_text="Cancel Reconstruction",
                message=f"It has run for {minutes:.0f} min; its strokes so far are lost (a completed level is kept)")
        return self.execute(context)

    def execute(self, context: bpy.types.Context) -> Status:
        context.window_manager.diffpaint.cancel_requested = True  # the modal operator acts on it
        return {"FINISHED"}


class DIFFPAINT_OT_import_last_level(bpy.types.Operator):
    bl_idname = "diffpaint.import_last_level"
    bl_label = "Import Last Level"
    bl_description = "Import the strokes of the last level a cancelled reconstruction completed"
    bl_options = {"REGISTER", "UNDO"}

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        runtime = context.window_manager.diffpaint
        return not runtime.running and bool(runtime.partial_path) and os.path.isfile(runtime.partial_path)

    def execute(self, context: bpy.types.Context) -> Status:
        runtime = context.window_manager.diffpaint
        try:
            imported = import_with_settings(context, runtime.partial_path)
        except (StrokeFileError, ImportOptionError) as e:
            self.report({"ERROR"}, str(e))
            return {"CANCELLED"}
        imported.report(self, f" ({runtime.partial_label})")
        runtime.partial_path = runtime.partial_label = ""
        return {"FINISHED"}

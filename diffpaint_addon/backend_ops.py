# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""The backend's operators: set it up (a private venv), test the connection, stop the local one."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import Any

import bpy

from . import backend_setup
from .client import BackendError, Client
from .local_server import stop_local_server
from .op_base import PASS_THROUGH, Status, TimerOperator, redraw_panels
from .preferences import (
    BackendNotConfigured,
    UiState,
    addon_preferences,
    addon_user_dir,
    backend_connection,
    describe_info,
)


class _BackgroundTask:
    """Runs ``work`` in a thread; ``done`` is set when it has a result or an error (in words)."""

    def __init__(self, work: Callable[[], Any]):
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


def check_connection(connect: Callable[[], Client]) -> dict[str, Any]:
    return connect().info()


class DIFFPAINT_OT_test_connection(TimerOperator):
    bl_idname = "diffpaint.test_connection"
    bl_label = "Test Connection"
    bl_description = ("Connect to the DiffPaint backend (starting the local one if needed) and report its device "
                      "and version")
    bl_options = {"REGISTER"}

    _task: _BackgroundTask | None = None

    def begin(self, context: bpy.types.Context) -> bool:
        try:
            where, connect = backend_connection(context)
        except BackendNotConfigured as e:
            UiState.connection, UiState.connection_ok = str(e), False
            self.report({"ERROR"}, str(e))
            return False
        UiState.connection, UiState.connection_ok = f"Connecting to the {where}…", False
        self._task = _BackgroundTask(lambda: check_connection(connect))
        return True

    def follow(self, context: bpy.types.Context) -> Status:
        assert self._task is not None
        if not self._task.done.is_set():
            return PASS_THROUGH
        redraw_panels(context)
        if self._task.error:
            UiState.connection, UiState.connection_ok = self._task.error, False
            self.report({"ERROR"}, f"DiffPaint backend: {self._task.error}")
            return {"CANCELLED"}
        UiState.connection, UiState.connection_ok = describe_info(self._task.result), True
        self.report({"INFO"}, UiState.connection)
        return {"FINISHED"}


def setup_job_for(context: bpy.types.Context) -> backend_setup.SetupJob:
    """The set-up steps for this Blender: a venv in the extension's user folder, made with Blender's
    own Python, with a copy of the backend source installed."""
    prefs = addon_preferences(context)
    source = backend_setup.find_backend_source(prefs.backend_source if prefs is not None else "")
    if source is None:
        raise BackendNotConfigured("Backend source not found: set 'Backend Source' in the DiffPaint preferences "
                                   "to a DiffPaint folder (the one with pyproject.toml)")
    venv = os.path.join(addon_user_dir(), backend_setup.VENV_NAME)
    build_dir = backend_setup.new_build_dir()
    steps = backend_setup.setup_commands(sys.executable, venv, source, build_dir)
    return backend_setup.SetupJob(steps, backend_setup.venv_python(venv), scratch=os.path.dirname(build_dir))


class DIFFPAINT_OT_setup_backend(TimerOperator):
    bl_idname = "diffpaint.setup_backend"
    bl_label = "Set Up Backend"
    bl_description = ("Create a private Python environment for the backend in the extension's folder and install "
                      "the backend and PyTorch into it (several minutes; progress shows in the preferences)")
    bl_options = {"REGISTER"}
    poll_interval = 0.5

    @classmethod
    def poll(cls, context: bpy.types.Context) -> bool:
        return UiState.setup is None or UiState.setup.state != "running"

    def begin(self, context: bpy.types.Context) -> bool:
        try:
            job = setup_job_for(context)
        except BackendNotConfigured as e:
            self.report({"ERROR"}, str(e))
            return False
        UiState.setup = job
        job.start()
        return True

    def follow(self, context: bpy.types.Context) -> Status:
        job = UiState.setup
        assert job is not None
        redraw_panels(context)
        if job.state == "running":
            return PASS_THROUGH
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
    bl_idname = "diffpaint.stop_local_server"
    bl_label = "Stop Local Backend"
    bl_description = "Stop the backend this Blender started (it starts again when needed)"
    bl_options = {"REGISTER"}

    def execute(self, context: bpy.types.Context) -> Status:
        stop_local_server()
        redraw_panels(context)
        return {"FINISHED"}

# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Add-on preferences: where the backend runs.

Local (the default): the add-on starts ``diffpaint serve`` on 127.0.0.1 itself, with the chosen
Python and a token generated for that launch, and stops it when Blender quits. Remote: the URL and
token of a ``diffpaint serve`` elsewhere (e.g. a GPU machine). 'Set Up Backend' builds a private
virtual environment with the backend in the extension's user folder; 'Test Connection' reports the
backend's device and version.
"""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Callable
from typing import Any

import bpy

from . import timing
from .backend_setup import SetupJob
from .client import BackendError, Client
from .local_server import current_local_server, ensure_local_server

PYTHON_ENV_VAR = "DIFFPAINT_PYTHON"  # lets scripts and tests choose the backend without preferences
URL_ENV_VAR = "DIFFPAINT_SERVER_URL"  # likewise for a remote server (with DIFFPAINT_TOKEN)
TOKEN_ENV_VAR = "DIFFPAINT_TOKEN"


class BackendNotConfigured(RuntimeError):
    pass


class UiState:
    """Results of background tasks shown in the preferences (per session, never saved)."""

    connection: str = ""  # e.g. "Connected: diffpaint 0.1.0 on CUDA (NVIDIA …)"
    connection_ok: bool = False
    setup: SetupJob | None = None
    calibration: timing.Calibration | None = None


class DiffPaintPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__  # an extension's preferences are keyed by its package name

    backend: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Backend",
        items=[("LOCAL", "This Computer", "Start the backend on this computer with the Python below"),
               ("REMOTE", "Remote Server", "Use a 'diffpaint serve' running elsewhere, e.g. on a GPU machine")],
        default="LOCAL",
    )
    python_path: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Backend Python",
        description=(
            "Python interpreter that has the DiffPaint backend installed "
            "(the one where 'python -m diffpaint --help' works); 'Set Up Backend' fills it in"
        ),
        subtype="FILE_PATH",
    )
    backend_source: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Backend Source",
        description="DiffPaint source folder (with pyproject.toml) that 'Set Up Backend' installs; "
        "empty: the checkout this add-on comes from",
        subtype="DIR_PATH",
    )
    remote_url: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Server URL", description="Address of a 'diffpaint serve', e.g. http://gpu-box:8765",
    )
    remote_token: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Token", subtype="PASSWORD", description="The token that server was started with",
    )

    def draw(self, context: bpy.types.Context) -> None:
        draw_preferences(self, self.layout)


def draw_preferences(prefs: DiffPaintPreferences, layout: bpy.types.UILayout) -> None:
    layout.row().prop(prefs, "backend", expand=True)
    box = layout.box()
    if prefs.backend == "LOCAL":
        box.prop(prefs, "python_path")
        if not prefs.python_path and os.environ.get(PYTHON_ENV_VAR):
            box.label(text=f"Using {PYTHON_ENV_VAR}={os.environ[PYTHON_ENV_VAR]}", icon="INFO")
        box.prop(prefs, "backend_source")
        setup = UiState.setup
        row = box.row()
        row.enabled = setup is None or setup.state != "running"
        row.operator("diffpaint.setup_backend", icon="CONSOLE")
        if setup is not None:
            if setup.state == "running":
                box.progress(factor=setup.fraction, type="BAR", text=setup.status[:100])
            else:
                box.label(text=setup.status[:120], icon="CHECKMARK" if setup.state == "done" else "ERROR")
        server = current_local_server()
        if server is not None and server.ready:
            row = box.row()
            row.label(text=f"Local backend running at {server.url}", icon="LINKED")
            row.operator("diffpaint.stop_local_server", text="", icon="X")
    else:
        box.prop(prefs, "remote_url")
        box.prop(prefs, "remote_token")
    row = layout.row()
    row.operator("diffpaint.test_connection", icon="PLUGIN")
    if UiState.connection:
        row.label(text=UiState.connection, icon="CHECKMARK" if UiState.connection_ok else "ERROR")


def addon_user_dir(create: bool = True) -> str:
    """The add-on's own folder for what it keeps between sessions (the backend's venv, time calibration);
    made if ``create``."""
    try:
        return bpy.utils.extension_path_user(__package__, create=create)
    except (ValueError, RuntimeError):  # not installed as an extension (e.g. a development checkout)
        return bpy.utils.user_resource("SCRIPTS", path="diffpaint", create=create)


def timing_path(create: bool = False) -> str:
    """The time calibration's file; its folder made if ``create`` (for writing)."""
    return os.path.join(addon_user_dir(create), timing.FILE_NAME)


def calibration() -> timing.Calibration:
    """This machine's time calibration, read once per session."""
    if UiState.calibration is None:
        UiState.calibration = timing.load(timing_path())
    return UiState.calibration


def addon_preferences(context: bpy.types.Context) -> DiffPaintPreferences | None:
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def backend_python(context: bpy.types.Context) -> str:
    """The preference if set, else $DIFFPAINT_PYTHON. Blender's own interpreter is never a sensible
    default: the backend needs PyTorch, which Blender does not ship."""
    prefs = addon_preferences(context)
    path = prefs.python_path if prefs is not None else ""
    path = bpy.path.abspath(path) if path else os.environ.get(PYTHON_ENV_VAR, "")
    if not path:
        raise BackendNotConfigured(
            "Set the backend Python in preferences (Edit > Preferences > Add-ons > DiffPaint), "
            "or press 'Set Up Backend' there"
        )
    if os.path.isdir(path):
        raise BackendNotConfigured(f"The backend Python {path!r} is a folder, not a Python interpreter: choose the "
                                   "python program inside it (bin/python, or Scripts\\python.exe on Windows)")
    if not os.path.isfile(path):
        raise BackendNotConfigured(f"The backend Python {path!r} does not exist; fix it in the DiffPaint preferences")
    return path


def backend_connection(context: bpy.types.Context) -> tuple[str, Callable[[], Client]]:
    """A description of the backend and a callable that returns a ready Client for it. The callable
    may block (a local server starting up): call it from a background thread."""
    prefs = addon_preferences(context)
    remote = prefs.backend == "REMOTE" if prefs is not None else bool(os.environ.get(URL_ENV_VAR))
    if remote:
        url = (prefs.remote_url if prefs is not None else "") or os.environ.get(URL_ENV_VAR, "")
        token = (prefs.remote_token if prefs is not None else "") or os.environ.get(TOKEN_ENV_VAR, "")
        if not url:
            raise BackendNotConfigured("Set the server URL in the DiffPaint preferences (Backend: Remote Server)")
        if not url.startswith(("http://", "https://")):
            raise BackendNotConfigured(f"The server URL {url!r} must start with http:// or https://")
        host = urllib.parse.urlsplit(url).hostname or ""
        if not getattr(bpy.app, "online_access", True) and host not in ("127.0.0.1", "localhost", "::1"):
            raise BackendNotConfigured("Online access is off in Blender (Preferences > System > Network); allow "
                                       "it to use a remote DiffPaint server")
        return f"server {url}", lambda: Client(url, token)
    python = backend_python(context)
    try:
        server = ensure_local_server(python)
    except BackendError as e:
        raise BackendNotConfigured(str(e)) from None
    return "local backend", server.client


def backend_status(context: bpy.types.Context) -> tuple[str, Any, bool]:
    """The backend's state for the panel's first line: (text, icon, whether 'Set Up Backend' is the way on)."""
    if UiState.setup is not None and UiState.setup.state == "running":
        return "Setting up the backend…", "SORTTIME", False
    prefs = addon_preferences(context)
    remote = prefs.backend == "REMOTE" if prefs is not None else bool(os.environ.get(URL_ENV_VAR))
    if UiState.connection_ok:
        return UiState.connection.replace("Connected: ", "Backend ready: ", 1), "CHECKMARK", False
    if remote:
        url = (prefs.remote_url if prefs is not None else "") or os.environ.get(URL_ENV_VAR, "")
        return (f"Backend: {url}", "URL", False) if url else ("Backend: no server URL set", "ERROR", False)
    try:
        backend_python(context)
    except BackendNotConfigured:
        return "Backend not set up", "ERROR", True
    server = current_local_server()
    if server is not None and server.alive and not server.ready:
        return "Backend starting…", "SORTTIME", False
    if server is not None and server.ready:
        return "Backend ready on this computer", "CHECKMARK", False
    return "Backend set up (starts when needed)", "CHECKMARK", False


def describe_info(info: dict) -> str:
    device = str(info.get("device", "?")).upper()
    return f"Connected: diffpaint {info.get('version', '?')} on {device} ({info.get('device_name', '?')})"


classes = (DiffPaintPreferences,)

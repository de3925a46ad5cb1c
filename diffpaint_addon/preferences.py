# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Add-on preferences: which Python interpreter runs the reconstruction backend."""

from __future__ import annotations

import os

import bpy

PYTHON_ENV_VAR = "DIFFPAINT_PYTHON"  # lets scripts and tests choose the backend without preferences


class BackendNotConfigured(RuntimeError):
    pass


class DiffPaintPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__  # an extension's preferences are keyed by its package name

    python_path: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Backend Python",
        description=(
            "Python interpreter that has the DiffPaint backend installed "
            "(the one where 'python -m diffpaint --help' works)"
        ),
        subtype="FILE_PATH",
    )

    def draw(self, context: bpy.types.Context) -> None:
        self.layout.prop(self, "python_path")
        if not self.python_path and os.environ.get(PYTHON_ENV_VAR):
            self.layout.label(text=f"Using {PYTHON_ENV_VAR}={os.environ[PYTHON_ENV_VAR]}", icon="INFO")


def backend_python(context: bpy.types.Context) -> str:
    """The preference if set, else $DIFFPAINT_PYTHON. Blender's own interpreter is never a sensible
    default: the backend needs PyTorch, which Blender does not ship."""
    addon = context.preferences.addons.get(__package__)
    path = addon.preferences.python_path if addon is not None else ""
    path = bpy.path.abspath(path) if path else os.environ.get(PYTHON_ENV_VAR, "")
    if not path:
        raise BackendNotConfigured(
            "Set the backend Python in preferences (Edit > Preferences > Add-ons > DiffPaint)"
        )
    if not os.path.isfile(path):
        raise BackendNotConfigured(f"The backend Python {path!r} does not exist; fix it in the DiffPaint preferences")
    return path


classes = (DiffPaintPreferences,)

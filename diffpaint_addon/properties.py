"""Settings the panel edits (saved with the scene) and run state (per session, never saved)."""

from __future__ import annotations

import bpy

from .gp_import import DEFAULT_DURATION


class DiffPaintSettings(bpy.types.PropertyGroup):
    image: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Image",
        type=bpy.types.Image,
        description="Painting to reconstruct; when empty, the image shown in an Image Editor",
    )
    strokes: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Stroke Budget", default=256, min=1, soft_max=4096,
        description="Number of brush strokes to fit, over all levels",
    )
    frames: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Animation Length", default=DEFAULT_DURATION, min=1,
        description="Frames from the blank canvas to the finished painting",
    )


class DiffPaintRuntime(bpy.types.PropertyGroup):
    """Lives on the window manager, so a file saved mid-run never reopens as 'running'."""

    running: bpy.props.BoolProperty()  # type: ignore[valid-type]
    cancel_requested: bpy.props.BoolProperty()  # type: ignore[valid-type]
    progress: bpy.props.FloatProperty(subtype="FACTOR", min=0.0, max=1.0)  # type: ignore[valid-type]
    status: bpy.props.StringProperty()  # type: ignore[valid-type]


classes = (DiffPaintSettings, DiffPaintRuntime)


def register_properties() -> None:
    bpy.types.Scene.diffpaint = bpy.props.PointerProperty(type=DiffPaintSettings)  # type: ignore[attr-defined]
    bpy.types.WindowManager.diffpaint = bpy.props.PointerProperty(type=DiffPaintRuntime)  # type: ignore[attr-defined]


def unregister_properties() -> None:
    del bpy.types.WindowManager.diffpaint  # type: ignore[attr-defined]
    del bpy.types.Scene.diffpaint  # type: ignore[attr-defined]

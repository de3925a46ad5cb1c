"""Settings the panels edit (saved with the scene) and run state (per session, never saved)."""

from __future__ import annotations

import bpy

from .gp_import import DEFAULT_DURATION
from .presets import CUSTOM, QUALITIES, STYLES, describe_duration, estimate_seconds


def _quality_items() -> list[tuple[str, str, str]]:
    items = [(q.key, q.label, f"{q.description} ({describe_duration(estimate_seconds(q.key, 256, 3))} for 256 "
              "strokes on a CPU; much faster on CUDA)") for q in QUALITIES]
    return [*items, (CUSTOM, "Custom", "Choose the resolution and optimiser effort yourself")]


class DiffPaintSettings(bpy.types.PropertyGroup):
    image: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Image",
        type=bpy.types.Image,
        description="Painting to reconstruct; when empty, the image shown in an Image Editor",
    )
    style: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Medium",
        items=[(key, label, "Plain strokes" if ok else "Not implemented by the backend yet")
               for key, label, ok in STYLES],
        default="DIGITAL",
        description="Stroke style / painting medium",
    )
    strokes: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Stroke Budget", default=256, min=1, soft_max=4096,
        description="Number of brush strokes to fit, over all levels",
    )
    levels: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Detail Levels", default=3, min=1, max=6,
        description="Coarse-to-fine levels: 1×1 … n×n grids of ever smaller strokes",
    )
    quality: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Quality", items=_quality_items(), default="STANDARD",
        description="Resolution and optimiser effort: time against fidelity",
    )
    size: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Resolution", default=256, min=8, soft_max=1024, subtype="PIXEL",
        description="Long side the image is fitted at (Custom quality); larger images are downscaled",
    )
    iterations: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Steps", default=80, min=1, soft_max=500,
        description="Optimiser steps per placement round (Custom quality)",
    )
    rounds: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Rounds", default=2, min=1, max=8, description="Placement rounds per level (Custom quality)",
    )
    seed: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Seed", default=0, min=0, description="Random seed; CPU runs with the same seed give the same strokes",
    )
    device: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Device",
        items=[("AUTO", "Auto", "CUDA when the backend has it, else the CPU"),
               ("CPU", "CPU", "Run on the CPU"), ("CUDA", "CUDA", "Run on an NVIDIA GPU")],
        default="AUTO",
    )
    frames: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Animation Length", default=DEFAULT_DURATION, min=1,
        description="Frames from the blank canvas to the finished painting",
    )
    layer_per_level: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Layer per Level", default=True,
        description="Put each detail level on its own Grease Pencil layer (else all strokes on one layer)",
    )


RUN_STATES = [("IDLE", "Idle", ""), ("RUNNING", "Running", ""), ("DONE", "Done", ""), ("FAILED", "Failed", ""),
              ("CANCELLED", "Cancelled", "")]


class DiffPaintRuntime(bpy.types.PropertyGroup):
    """Lives on the window manager, so a file saved mid-run never reopens as 'running'."""

    running: bpy.props.BoolProperty()  # type: ignore[valid-type]
    cancel_requested: bpy.props.BoolProperty()  # type: ignore[valid-type]
    progress: bpy.props.FloatProperty(subtype="FACTOR", min=0.0, max=1.0)  # type: ignore[valid-type]
    status: bpy.props.StringProperty()  # type: ignore[valid-type]
    state: bpy.props.EnumProperty(items=RUN_STATES, default="IDLE")  # type: ignore[valid-type]
    message: bpy.props.StringProperty()  # type: ignore[valid-type]  # the last run's outcome, for the panel
    partial_path: bpy.props.StringProperty(subtype="FILE_PATH")  # type: ignore[valid-type]
    partial_label: bpy.props.StringProperty()  # type: ignore[valid-type]


classes = (DiffPaintSettings, DiffPaintRuntime)


def register_properties() -> None:
    bpy.types.Scene.diffpaint = bpy.props.PointerProperty(type=DiffPaintSettings)  # type: ignore[attr-defined]
    bpy.types.WindowManager.diffpaint = bpy.props.PointerProperty(type=DiffPaintRuntime)  # type: ignore[attr-defined]


def unregister_properties() -> None:
    del bpy.types.WindowManager.diffpaint  # type: ignore[attr-defined]
    del bpy.types.Scene.diffpaint  # type: ignore[attr-defined]

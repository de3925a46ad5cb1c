"""Settings the panels edit (saved with the scene) and run state (per session, never saved)."""

from __future__ import annotations

from typing import Any

import bpy

from diffpaint_shared.jobschema import DEVICES, GRAIN_CHOICES, SETTINGS, STYLE_CHOICES, Setting

from .gp_import import DEFAULT_DURATION, DEFAULT_STROKES_PER_SECOND
from .presets import CUSTOM, QUALITIES, describe_duration, estimate_seconds

# Import options, shared by the import operator and the panel's settings.
PLACEMENT_ITEMS = [
    ("CAMERA", "Fit to Camera", "Painting at the origin, with an orthographic camera and render size that match it"),
    ("IMAGE_PLANE", "Image Plane", "Fit the painting onto a plane object (e.g. an imported image plane), "
                                   "keeping its aspect ratio"),
]
TIMING_ITEMS = [
    ("FRAMES", "Frames", "Animation length as a number of frames"),
    ("STROKES_PER_SECOND", "Strokes per Second", "Animation length from the stroke count and the scene's frame rate"),
]
BUILD_TIMING_ITEMS = [
    ("FRAMES", "Frames", "Every stroke takes the same time"),
    ("DRAWSPEED", "Drawing Speed", "Recorded drawing times (per-stroke init/delta times): longer strokes take "
                                   "longer, like a brush moving at a steady speed"),
]


def is_plane_candidate(_self: object, obj: bpy.types.Object) -> bool:
    return obj.type == "MESH"


class ImportOptions:
    """How a stroke file comes into the scene: the properties (and their drawing) that the import
    operator and the panel's settings share. Blender registers a mixin's property annotations on each
    class that inherits them; `plane` differs (an object pointer in the scene, a name in the operator)."""

    placement: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Canvas", items=PLACEMENT_ITEMS, default="CAMERA", description="Where the painting goes in the scene",
    )
    timing: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Length In", items=TIMING_ITEMS, default="FRAMES", description="How the animation length is given",
    )
    frames: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Animation Length", default=DEFAULT_DURATION, min=1,
        description="Frames from the blank canvas to the finished painting",
    )
    strokes_per_second: bpy.props.FloatProperty(  # type: ignore[valid-type]
        name="Strokes per Second", default=DEFAULT_STROKES_PER_SECOND, min=0.01, soft_max=200.0,
        description="Painting pace; the length follows from the stroke count and the scene's frame rate",
    )
    build_timing: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Build Timing", items=BUILD_TIMING_ITEMS, default="FRAMES",
        description="How the Build modifier paces the strokes",
    )
    hold: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Hold Frames", default=0, min=0, soft_max=1000,
        description="Frames the finished painting stays on screen at the end (the scene's end frame is "
                    "moved out to cover them)",
    )
    fit_frame_range: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Fit Frame Range", default=True,
        description="Set the scene's frame range to the animation and its hold (off: only widen it to cover them)",
    )
    layer_per_level: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Layer per Level", default=True,
        description="Put each detail level on its own Grease Pencil layer (else all strokes on one layer)",
    )

    def draw_pacing(self, layout: bpy.types.UILayout) -> None:
        """The animation's length and pace, and the layers: everything after the canvas placement."""
        layout.prop(self, "timing")
        layout.prop(self, "frames" if self.timing == "FRAMES" else "strokes_per_second")
        layout.prop(self, "build_timing")
        layout.prop(self, "hold")
        layout.prop(self, "fit_frame_range")
        layout.prop(self, "layer_per_level")


class SequenceOptions:
    """How a sequence comes into the scene, beyond the options it shares with a stroke file (placement,
    layers, frame range): the import operator's and the panel's, as with ImportOptions."""

    sequence_step: bpy.props.IntProperty(  # type: ignore[valid-type]
        name="Hold Each Frame", default=1, min=1, soft_max=12,
        description="Scene frames each reconstructed frame stays on screen (2: every frame held twice, "
                    "animating on twos)",
    )
    sequence_build: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Build Each Frame", default=False,
        description="Animate the strokes of every frame being painted, within its hold (off: each frame "
                    "appears whole)",
    )
    sequence_fps: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Use Sequence Frame Rate", default=False,
        description="Set the scene's frame rate to the sequence's (its video's, or the one it was made with)",
    )

    def draw_sequence(self, layout: bpy.types.UILayout) -> None:
        layout.prop(self, "sequence_step")
        layout.prop(self, "sequence_build")
        layout.prop(self, "sequence_fps")


SOURCE_ITEMS = [
    ("IMAGE", "Image", "An image (an image sequence or movie opened as an image is reconstructed frame by frame)"),
    ("FOLDER", "Image Sequence", "A folder of frames, reconstructed frame by frame as one animation"),
    ("MOVIE", "Movie Clip", "A movie clip, reconstructed frame by frame as one animation"),
]


def _quality_items() -> list[tuple[str, str, str]]:
    items = [(q.key, q.label, f"{q.description} ({describe_duration(estimate_seconds(q.key, 256, 3))} for 256 "
              "strokes on a CPU; much faster on CUDA)") for q in QUALITIES]
    return [*items, (CUSTOM, "Custom", "Choose the resolution and optimizer effort yourself")]


# The job settings the panel offers (all of jobschema.SETTINGS but the background, which it leaves
# at the backend's default), generated from the schema: one definition of names, bounds and help.
PANEL_SETTINGS = tuple(s for s in SETTINGS if s.name != "background")
# Each choice's label and tooltip, keyed by the schema's value (the panel's enum keys are its upper case).
CHOICE_TEXT = {
    "style": {
        "digital": ("Digital", "Plain strokes: a clean round brush, no texture phase"),
        "oil": ("Oil", "Bristle streaks along each stroke with impasto light and shade"),
        "watercolor": ("Watercolor", "Transparent washes, darker pigment pooled at the edges, granulation"),
        "ink": ("Ink", "A dense core tapering at both ends, dry-brush gaps toward the end"),
        "pencil": ("Pencil", "Graphite catching on the paper grain"),
        "auto": ("Auto", "The medium that suits the image, chosen from its detail statistics"),
    },
    "grain": {
        "none": ("None", "A flat canvas of the background color"),
        "canvas": ("Canvas", "Woven canvas under the painting"),
        "paper": ("Paper", "Fine drawing paper under the painting"),
        "cold-press": ("Cold Press", "Textured cold-pressed watercolor paper under the painting"),
    },
    "device": {
        "auto": ("Auto", "CUDA when the backend has it, else the CPU"),
        "cpu": ("CPU", "Run on the CPU"),
        "cuda": ("CUDA", "Run on an NVIDIA GPU"),
    },
}
assert set(CHOICE_TEXT["style"]) == set(STYLE_CHOICES) and set(CHOICE_TEXT["device"]) == set(DEVICES)
assert set(CHOICE_TEXT["grain"]) == set(GRAIN_CHOICES)
PROPERTY_OPTIONS = {"size": {"subtype": "PIXEL"}}  # Blender-only presentation


def tooltip(help: str) -> str:
    """A schema help text (argparse style: lower-case start) as a Blender tooltip."""
    return help[:1].upper() + help[1:]


def setting_property(setting: Setting) -> object:
    """The bpy property for a job setting: its label, tooltip, default and bounds from the schema."""
    common: dict[str, Any] = {"name": setting.label, "description": tooltip(setting.help),
                              **PROPERTY_OPTIONS.get(setting.name, {})}
    if setting.choices:
        text = CHOICE_TEXT[setting.name]
        items = [(choice.upper(), *text[choice]) for choice in setting.choices]
        return bpy.props.EnumProperty(items=items, default=setting.default.upper(), **common)
    if setting.type is bool:
        return bpy.props.BoolProperty(default=setting.default, **common)
    if setting.path:
        return bpy.props.StringProperty(default=setting.default, subtype="FILE_PATH", **common)
    if setting.type is int:
        bounds: dict[str, Any] = {key: value for key, value in (("min", setting.minimum), ("max", setting.maximum),
                                                ("soft_max", setting.soft_maximum)) if value is not None}
        return bpy.props.IntProperty(default=setting.default, **bounds, **common)
    raise TypeError(f"no panel property for the {setting.type.__name__} setting {setting.name!r}")


class DiffPaintSettings(ImportOptions, SequenceOptions, bpy.types.PropertyGroup):
    """The panel's settings: the source (an image, a folder of frames or a movie clip), the job settings
    (PANEL_SETTINGS, added below), the quality preset and the import options."""

    source: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Source", items=SOURCE_ITEMS, default="IMAGE", description="What to reconstruct",
    )
    frames_folder: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Frames", subtype="DIR_PATH", default="",
        description="Folder of the sequence's frames (image files, in name order)",
    )
    movie: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Movie Clip", type=bpy.types.MovieClip, description="Movie clip to reconstruct frame by frame",
    )
    image: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Image",
        type=bpy.types.Image,
        description="Painting to reconstruct; when empty, the image shown in an Image Editor",
    )
    quality: bpy.props.EnumProperty(  # type: ignore[valid-type]
        name="Quality", items=_quality_items(), default="STANDARD",
        description="Resolution and optimizer effort: time against fidelity",
    )
    plane: bpy.props.PointerProperty(  # type: ignore[valid-type]
        name="Plane", type=bpy.types.Object, poll=is_plane_candidate,
        description="Mesh to fit the painting onto; when empty, the active object",
    )


DiffPaintSettings.__annotations__.update({s.name: setting_property(s) for s in PANEL_SETTINGS})


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

# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Sidebar panels (3D Viewport: a chosen image, folder of frames or movie clip; Image Editor: the active
image) and File > Import/Export."""

from __future__ import annotations

from typing import Any

import bpy

from diffpaint_shared.jobschema import levels_for_budget

from .import_ops import DIFFPAINT_OT_export_strokes, DIFFPAINT_OT_import_sequence, DIFFPAINT_OT_import_strokes
from .preferences import UiState, backend_status, calibration
from .presets import CUSTOM, describe_duration
from .reconstruct_op import PREVIEW_IMAGE, estimated_seconds, is_sequence_source


def draw_backend(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    """The backend's state in one line (not set up, setting up, starting, ready and on what device), with
    Set Up Backend right there when it is needed."""
    text, icon, needs_setup = backend_status(context)
    row = layout.row()
    row.label(text=text, icon=icon)
    setup = UiState.setup
    if setup is not None and setup.state == "running":
        layout.progress(factor=setup.fraction, type="BAR", text=setup.status[:100])
    elif needs_setup:
        layout.operator("diffpaint.setup_backend", icon="CONSOLE")


def draw_image_and_medium(layout: bpy.types.UILayout, context: bpy.types.Context, in_image_editor: bool) -> None:
    settings = context.scene.diffpaint
    layout.use_property_split = True
    layout.enabled = not context.window_manager.diffpaint.running
    if in_image_editor:
        image = getattr(context.space_data, "image", None)
        layout.label(text=f"Image: {image.name}" if image else "Open an image in this editor", icon="IMAGE_DATA")
    else:
        layout.prop(settings, "source")
        if settings.source == "FOLDER":
            layout.prop(settings, "frames_folder")
        elif settings.source == "MOVIE":
            layout.template_ID(settings, "movie", open="clip.open")
        else:
            layout.template_ID(settings, "image", open="image.open")
    if is_sequence_source(context, in_image_editor):
        layout.label(text="Frame by frame, on the backend server", icon="FILE_MOVIE")
    layout.prop(settings, "style")
    reference = layout.row()
    reference.prop(settings, "style_reference")
    reference.active = settings.style != "DIGITAL" and not is_sequence_source(context, in_image_editor)
    smudge = layout.row()
    smudge.prop(settings, "smudge")
    smudge.active = levels_for_budget(settings.strokes, settings.levels) > 1  # the last level never smudges
    layout.prop(settings, "grain")


def draw_quality(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    settings = context.scene.diffpaint
    layout.use_property_split = True
    layout.enabled = not context.window_manager.diffpaint.running
    layout.prop(settings, "strokes")
    layout.prop(settings, "levels")
    layout.prop(settings, "quality")
    if settings.quality == CUSTOM:
        custom = layout.column(align=True)
        custom.prop(settings, "size")
        custom.prop(settings, "iterations")
        custom.prop(settings, "rounds")
    layout.prop(settings, "time_budget")
    layout.prop(settings, "seed")
    layout.prop(settings, "device")
    calibrated = calibration().runs > 0
    layout.label(text=f"Estimated time: {describe_duration(estimated_seconds(settings))}"
                 f"{' (from this machine’s runs)' if calibrated else ''}", icon="TIME")


def draw_run(layout: bpy.types.UILayout, context: bpy.types.Context, in_image_editor: bool) -> None:
    """The run: progress and Cancel, or Reconstruct and the last outcome. Every state has something to show."""
    runtime = context.window_manager.diffpaint
    if runtime.running:
        layout.progress(factor=runtime.progress, type="BAR", text=runtime.status or "Reconstructing…")
        layout.operator("diffpaint.cancel_reconstruct", text="Cancel", icon="CANCEL")
        if bpy.data.images.get(PREVIEW_IMAGE) is not None:
            layout.label(text=f"Live preview: image '{PREVIEW_IMAGE}'", icon="IMAGE_RGB")
        return
    row = layout.row()
    row.scale_y = 1.5
    op = row.operator("diffpaint.reconstruct", icon="BRUSHES_ALL")
    op.editor_image = in_image_editor
    if runtime.state == "FAILED" and runtime.message:
        _wrapped(layout, runtime.message, "ERROR")
    elif runtime.state == "DONE" and runtime.message:
        _wrapped(layout, runtime.message, "CHECKMARK")
    elif runtime.state == "CANCELLED" and runtime.message:
        _wrapped(layout, runtime.message, "CANCEL")
    if runtime.partial_path:
        layout.operator("diffpaint.import_last_level", text=f"Import Last Level ({runtime.partial_label})",
                        icon="IMPORT")


def draw_import(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    settings = context.scene.diffpaint
    layout.use_property_split = True
    layout.prop(settings, "placement")
    if settings.placement == "IMAGE_PLANE":
        layout.prop(settings, "plane")
    settings.draw_pacing(layout)
    layout.operator(DIFFPAINT_OT_import_strokes.bl_idname, text="Import Strokes…", icon="IMPORT")
    layout.separator()
    settings.draw_sequence(layout)
    layout.operator(DIFFPAINT_OT_import_sequence.bl_idname, text="Import Sequence…", icon="FILE_MOVIE")


def _wrapped(layout: bpy.types.UILayout, text: str, icon: Any, width: int = 48) -> None:
    """Long messages (errors, paths) as a few lines rather than one clipped line."""
    words, line, lines = text.split(), "", []
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    col = layout.column(align=True)
    for i, part in enumerate(lines[:6]):
        col.label(text=part, icon=icon if i == 0 else "BLANK1")


class _SidebarPanel(bpy.types.Panel):
    """The DiffPaint tab of an editor's sidebar: the backend's state; its subpanels hold the rest. The
    panel classes are made per editor below (3D Viewport: a chosen image; Image Editor: the one it shows)."""

    bl_label = "DiffPaint"
    bl_region_type = "UI"
    bl_category = "DiffPaint"
    in_image_editor = False

    def draw(self, context: bpy.types.Context) -> None:
        draw_backend(self.layout, context)  # type: ignore[arg-type]


def _subpanels(parent: type[_SidebarPanel]) -> list[type[bpy.types.Panel]]:
    """The parent's subpanels, in order: image and medium, quality, run, import (closed at first)."""
    in_image_editor = parent.in_image_editor
    sections: list[tuple[str, str, Any, set[str]]] = [
        ("image", "Image & Medium", lambda layout, context: draw_image_and_medium(layout, context, in_image_editor),
         set()),
        ("quality", "Quality", draw_quality, set()),
        ("run", "Run", lambda layout, context: draw_run(layout, context, in_image_editor), set()),
        ("import", "Import", draw_import, {"DEFAULT_CLOSED"}),
    ]
    panels: list[type[bpy.types.Panel]] = []
    for key, label, draw, options in sections:
        panels.append(type(f"{parent.__name__}_{key}", (bpy.types.Panel,), {
            "bl_label": label, "bl_space_type": parent.bl_space_type, "bl_region_type": "UI",
            "bl_category": "DiffPaint", "bl_parent_id": parent.__name__, "bl_options": options,
            "draw": _panel_draw(draw)}))
    return panels


def _panel_draw(draw: Any) -> Any:
    """A Panel.draw method calling ``draw(layout, context)``."""
    def panel_draw(self: bpy.types.Panel, context: bpy.types.Context) -> None:
        draw(self.layout, context)

    return panel_draw


class DIFFPAINT_PT_main(_SidebarPanel):
    bl_space_type = "VIEW_3D"


class DIFFPAINT_PT_image_editor(_SidebarPanel):
    bl_space_type = "IMAGE_EDITOR"
    in_image_editor = True  # acts on the editor's active image


def menu_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(DIFFPAINT_OT_import_strokes.bl_idname, text="DiffPaint Strokes (.json)")
    self.layout.operator(DIFFPAINT_OT_import_sequence.bl_idname, text="DiffPaint Sequence (sequence.json)")


def menu_export(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(DIFFPAINT_OT_export_strokes.bl_idname, text="DiffPaint Strokes (.json)")


classes: tuple[type, ...] = (DIFFPAINT_PT_main, *_subpanels(DIFFPAINT_PT_main),
           DIFFPAINT_PT_image_editor, *_subpanels(DIFFPAINT_PT_image_editor))


def register_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_import)  # type: ignore[arg-type]  # stubs omit self
    bpy.types.TOPBAR_MT_file_export.append(menu_export)  # type: ignore[arg-type]


def unregister_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)  # type: ignore[arg-type]
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)  # type: ignore[arg-type]

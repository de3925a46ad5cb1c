# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Sidebar panels (3D Viewport: a chosen image; Image Editor: the active image) and File > Import/Export."""

from __future__ import annotations

from typing import Any

import bpy

from .import_ops import DIFFPAINT_OT_export_strokes, DIFFPAINT_OT_import_strokes
from .presets import CUSTOM, describe_duration, estimate_seconds
from .reconstruct_op import PREVIEW_IMAGE


def draw_reconstruct(layout: bpy.types.UILayout, context: bpy.types.Context, in_image_editor: bool) -> None:
    """The whole panel body: settings, then the run (progress and Cancel, or Reconstruct and the last
    outcome), then import options. Every state of the run has something to show."""
    settings = context.scene.diffpaint
    runtime = context.window_manager.diffpaint

    col = layout.column()
    if in_image_editor:
        image = getattr(context.space_data, "image", None)
        col.label(text=f"Image: {image.name}" if image else "Open an image in this editor", icon="IMAGE_DATA")
    else:
        col.template_ID(settings, "image", open="image.open")
    col.enabled = not runtime.running

    settings_col = layout.column()
    settings_col.enabled = not runtime.running
    settings_col.prop(settings, "style")
    settings_col.prop(settings, "strokes")
    settings_col.prop(settings, "levels")
    smudge = settings_col.row()
    smudge.prop(settings, "smudge")
    smudge.active = settings.levels > 1  # the last level never smudges
    settings_col.prop(settings, "quality")
    if settings.quality == CUSTOM:
        custom = settings_col.column(align=True)
        custom.prop(settings, "size")
        custom.prop(settings, "iterations")
        custom.prop(settings, "rounds")
    estimate = estimate_seconds(settings.quality, settings.strokes, settings.levels,
                                "cuda" if settings.device == "CUDA" else "cpu",
                                (settings.size, settings.iterations, settings.rounds))
    settings_col.label(text=f"Estimated time: {describe_duration(estimate)}"
                       f"{'' if settings.device == 'CUDA' else ' on a CPU'}", icon="TIME")
    row = settings_col.row(align=True)
    row.prop(settings, "seed")
    row.prop(settings, "device", text="")

    layout.separator()
    run = layout.column()
    if runtime.running:
        run.progress(factor=runtime.progress, type="BAR", text=runtime.status or "Reconstructing…")
        run.operator("diffpaint.cancel_reconstruct", text="Cancel", icon="CANCEL")
        if bpy.data.images.get(PREVIEW_IMAGE) is not None:
            run.label(text=f"Live preview: image '{PREVIEW_IMAGE}'", icon="IMAGE_RGB")
    else:
        op = run.operator("diffpaint.reconstruct", icon="BRUSHES_ALL")
        op.editor_image = in_image_editor
        if runtime.state == "FAILED" and runtime.message:
            _wrapped(run, runtime.message, "ERROR")
        elif runtime.state == "DONE" and runtime.message:
            _wrapped(run, runtime.message, "CHECKMARK")
        elif runtime.state == "CANCELLED" and runtime.message:
            _wrapped(run, runtime.message, "CANCEL")
        if runtime.partial_path:
            run.operator("diffpaint.import_last_level", text=f"Import Last Level ({runtime.partial_label})",
                         icon="IMPORT")

    layout.separator()
    box = layout.box()
    box.label(text="Import", icon="GREASEPENCIL")
    box.prop(settings, "placement")
    if settings.placement == "IMAGE_PLANE":
        box.prop(settings, "plane")
    settings.draw_pacing(box)
    box.operator(DIFFPAINT_OT_import_strokes.bl_idname, text="Import Strokes…", icon="IMPORT")


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
    """The DiffPaint tab of an editor's sidebar; subclasses choose the editor (this one is not registered)."""

    bl_label = "DiffPaint"
    bl_region_type = "UI"
    bl_category = "DiffPaint"
    in_image_editor = False

    def draw(self, context: bpy.types.Context) -> None:
        draw_reconstruct(self.layout, context, in_image_editor=self.in_image_editor)  # type: ignore[arg-type]


class DIFFPAINT_PT_main(_SidebarPanel):
    bl_space_type = "VIEW_3D"


class DIFFPAINT_PT_image_editor(_SidebarPanel):
    bl_space_type = "IMAGE_EDITOR"
    in_image_editor = True  # acts on the editor's active image


def menu_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(DIFFPAINT_OT_import_strokes.bl_idname, text="DiffPaint Strokes (.json)")


def menu_export(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(DIFFPAINT_OT_export_strokes.bl_idname, text="DiffPaint Strokes (.json)")


classes = (DIFFPAINT_PT_main, DIFFPAINT_PT_image_editor)


def register_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_import)  # type: ignore[arg-type]  # stubs omit self
    bpy.types.TOPBAR_MT_file_export.append(menu_export)  # type: ignore[arg-type]


def unregister_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)  # type: ignore[arg-type]
    bpy.types.TOPBAR_MT_file_export.remove(menu_export)  # type: ignore[arg-type]

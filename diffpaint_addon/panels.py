# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""The 3D Viewport sidebar panel and the File > Import menu entry."""

from __future__ import annotations

import bpy

from .operators import DIFFPAINT_OT_import_strokes


class DIFFPAINT_PT_main(bpy.types.Panel):
    bl_label = "DiffPaint"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "DiffPaint"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        settings = context.scene.diffpaint
        runtime = context.window_manager.diffpaint

        col = layout.column()
        col.template_ID(settings, "image", open="image.open")
        col.prop(settings, "strokes")
        col.prop(settings, "frames")
        if runtime.running:
            col.progress(factor=runtime.progress, type="BAR", text=runtime.status or "Reconstructing…")
            col.operator("diffpaint.cancel_reconstruct", text="Cancel", icon="CANCEL")
        else:
            col.operator("diffpaint.reconstruct", icon="BRUSHES_ALL")

        layout.separator()
        layout.operator(DIFFPAINT_OT_import_strokes.bl_idname, text="Import Strokes…", icon="IMPORT")


def menu_import(self: bpy.types.Menu, context: bpy.types.Context) -> None:
    self.layout.operator(DIFFPAINT_OT_import_strokes.bl_idname, text="DiffPaint Strokes (.json)")


classes = (DIFFPAINT_PT_main,)


def register_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.append(menu_import)  # type: ignore[arg-type]  # stubs omit self


def unregister_menus() -> None:
    bpy.types.TOPBAR_MT_file_import.remove(menu_import)  # type: ignore[arg-type]

"""DiffPaint Blender extension: brush-stroke reconstructions as animated Grease Pencil.

bpy is imported by the submodules only, inside register(), so that the bpy-free
``diffpaint_addon.strokefile`` stays importable from the PyTorch backend.
"""


def register() -> None:
    from . import ui

    ui.register()


def unregister() -> None:
    from . import ui

    ui.unregister()

"""DiffPaint Blender extension: brush-stroke reconstructions as animated Grease Pencil.

bpy is imported inside register() only, so the package imports without Blender (its bpy-free
helpers are tested that way). What it shares with the backend lives in ``diffpaint_shared``.
"""


def _classes() -> list[type]:
    from . import operators, panels, preferences, properties

    return [*properties.classes, *preferences.classes, *operators.classes, *panels.classes]


def register() -> None:
    import bpy

    from . import panels, properties

    for cls in _classes():
        bpy.utils.register_class(cls)
    properties.register_properties()
    panels.register_menus()


def unregister() -> None:
    import bpy

    from . import local_server, panels, properties

    local_server.stop_local_server()  # also stopped at exit (atexit), or by its stdin closing if Blender dies

    panels.unregister_menus()
    properties.unregister_properties()
    for cls in reversed(_classes()):
        bpy.utils.unregister_class(cls)

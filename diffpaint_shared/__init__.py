"""What the DiffPaint backend and the Blender add-on share: the stroke file, the job settings, the
progress events, and the version. Standard library (and numpy) only: never bpy, never torch, so
both sides import it, as Blender's glTF add-on keeps its ``io/`` apart from its ``blender/`` code.
"""

__version__ = "0.1.0"

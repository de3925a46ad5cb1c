# mypy: disable-error-code="union-attr"
# (fake-bpy-module types every context member and RNA pointer as Optional; inside Blender they are set.)
"""Command line: stroke file -> .blend (and optionally a PNG render), in a fresh headless bpy.

    python -m diffpaint_addon.blend_job STROKES_JSON [--blend OUT.blend] [--png OUT.png]
                                        [--frames N] [--frame K]

Renders in this very process, so callers run it as a subprocess: a failed GL context aborts the
process rather than raising.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from diffpaint_shared.strokefile import StrokeFileError, load

if TYPE_CHECKING:  # bpy loads only once a job runs, so --help stays instant
    import bpy


def build_scene(strokes_path: str, duration: int) -> tuple[bpy.types.Scene, bpy.types.Object]:
    """Reset bpy to an empty factory scene holding the imported painting, camera and render setup."""
    import bpy

    from .gp_import import import_strokes
    from .scene_setup import setup_scene_for_canvas

    doc = load(strokes_path)
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    assert scene is not None
    obj = import_strokes(doc, scene, name=os.path.splitext(os.path.basename(strokes_path))[0],
                         duration=duration)
    setup_scene_for_canvas(scene, doc.canvas, obj)
    scene.frame_start, scene.frame_end = 1, 1 + duration
    return scene, obj


def main(argv: Sequence[str] | None = None) -> int:
    from .gp_import import DEFAULT_DURATION

    parser = argparse.ArgumentParser(prog="python -m diffpaint_addon.blend_job", description=__doc__.split("\n")[0])
    parser.add_argument("strokes", help="DiffPaint stroke file (.json)")
    parser.add_argument("--blend", help="save the scene to this .blend file")
    parser.add_argument("--png", help="render a frame to this PNG file")
    parser.add_argument("--frames", type=int, default=DEFAULT_DURATION,
                        help="animation length: the painting completes at frame 1 + FRAMES (default %(default)s)")
    parser.add_argument("--frame", type=int, help="frame to render (default: the last, finished painting)")
    args = parser.parse_args(argv)
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if not (args.blend or args.png):
        parser.error("nothing to do: give --blend and/or --png")

    import bpy

    try:
        scene, _ = build_scene(args.strokes, args.frames)
    except StrokeFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    scene.frame_set(scene.frame_end if args.frame is None else args.frame)
    if args.blend:
        bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(args.blend), check_existing=False)
    if args.png:
        scene.render.filepath = os.path.abspath(args.png)
        scene.render.use_file_extension = False  # write exactly the path the caller asked for
        bpy.ops.render.render(write_still=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

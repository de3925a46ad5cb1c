"""Import options with real bpy: placement on an image plane, length from strokes per second, Build
timing from recorded drawing speed, and holding the finished painting."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from blender_helpers import bpy_eval, small_painting, write_small_painting

COUNT_POINTS = """
import bpy

def visible(obj, frame):
    bpy.context.scene.frame_set(frame)
    data = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    out = {}
    for layer in data.layers:
        current = layer.current_frame()
        out[layer.name] = 0 if current is None else sum(len(s.points) for s in current.drawing.strokes)
    return out
"""


def test_drawing_speed_paces_strokes_by_their_recorded_times(tmp_path: Path) -> None:
    path = write_small_painting(tmp_path / "small.json")
    result = bpy_eval(COUNT_POINTS + textwrap.dedent(f"""
        import bpy
        from diffpaint_addon import gp_import
        from diffpaint_shared.strokefile import load

        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = 24, 1.0
        obj = gp_import.import_strokes(load({str(path)!r}), scene, frame_start=1, duration=40,
                                       build_timing="DRAWSPEED")
        level1 = obj.data.layers["Level 1"].frames[0].drawing
        result = {{
            "modes": [[m.time_mode, m.speed_factor] for m in obj.modifiers],
            "keys": {{l.name: [f.frame_number for f in l.frames] for l in obj.data.layers}},
            "init": [d.value for d in level1.attributes["init_time"].data],
            "delta": [d.value for d in level1.attributes["delta_time"].data],
            "points": {{f: visible(obj, f) for f in (1, 10, 21, 25, 35, 41, 60)}},
            "total": {{l.name: sum(len(s.points) for s in l.frames[0].drawing.strokes) for l in obj.data.layers}},
        }}
    """))
    assert result["modes"] == [["DRAWSPEED", 1.0]] * 3
    # Level 2 (the third quarter of the painting order) starts at its window, half way through; its
    # smudge (the last quarter) three quarters through.
    assert result["keys"] == {"Canvas": [1], "Level 1": [1], "Level 2": [21], "Level 2 Smudge": [31]}
    init, delta = result["init"], result["delta"]
    n = len(delta) // 2
    assert init[0] == 0.0 and init[1] > delta[n - 1]  # back to back, with a short lift between strokes
    for stroke in (delta[:n], delta[n:]):
        assert stroke[0] == 0.0 and all(b > a for a, b in zip(stroke, stroke[1:], strict=False))
    # Level 1's two strokes take half of 40 frames at 24 fps, finishing just within their window.
    assert init[1] + delta[-1] == pytest.approx(20 / 24, rel=2e-3) and init[1] + delta[-1] < 20 / 24
    pts, total = {int(k): v for k, v in result["points"].items()}, result["total"]
    assert pts[1] == {"Canvas": 4, "Level 1": 0, "Level 2": 0, "Level 2 Smudge": 0}  # blank canvas
    assert 0 < pts[10]["Level 1"] < total["Level 1"] and pts[10]["Level 2"] == 0  # under way, in order
    assert pts[21]["Level 1"] == total["Level 1"] and pts[21]["Level 2"] == 0
    assert 0 < pts[25]["Level 2"] < total["Level 2"] and pts[25]["Level 2 Smudge"] == 0
    assert pts[35]["Level 2"] == total["Level 2"] and 0 < pts[35]["Level 2 Smudge"] < total["Level 2 Smudge"]
    assert pts[41] == pts[60] == total  # finished on time, then held


def test_strokes_per_second_hold_and_image_plane_through_the_operator(tmp_path: Path) -> None:
    path = write_small_painting(tmp_path / "small.json")
    result = bpy_eval(COUNT_POINTS + textwrap.dedent(f"""
        import bpy, math
        import diffpaint_addon
        from mathutils import Vector

        bpy.ops.wm.read_factory_settings(use_empty=True)
        diffpaint_addon.register()
        scene = bpy.context.scene
        scene.render.fps, scene.render.fps_base = 24, 1.0
        scene.frame_start, scene.frame_end = 1, 10
        bpy.ops.mesh.primitive_plane_add(size=2, location=(1, 2, 3), rotation=(math.pi / 2, 0, 0.3))
        plane = bpy.context.object
        plane.name = "Photo"
        plane.scale = (3, 1.5, 1)  # a 6 x 3 plane facing -Y, turned 0.3 rad about Z
        bpy.context.view_layer.update()
        ret = bpy.ops.diffpaint.import_strokes(filepath={str(path)!r}, frame_start=1, timing="STROKES_PER_SECOND",
                                               strokes_per_second=3.0, hold=12, placement="IMAGE_PLANE",
                                               plane="Photo")
        obj = bpy.context.view_layer.objects.active
        canvas = obj.data.layers["Canvas"].frames[0].drawing.strokes[0]
        corners = [list(obj.matrix_world @ p.position) for p in canvas.points]
        try:
            missing = bpy.ops.diffpaint.import_strokes(filepath={str(path)!r}, placement="IMAGE_PLANE", plane="Nope")
        except RuntimeError as e:  # an operator's ERROR report raises in background mode
            missing = ["CANCELLED"] if "No object named 'Nope'" in str(e) else [str(e)]
        result = {{
            "ret": sorted(ret), "missing": sorted(missing), "builds": [m.length for m in obj.modifiers],
            "frame_end": scene.frame_end, "camera": scene.camera is not None, "corners": corners,
            "normal": list(plane.matrix_world.to_3x3() @ Vector((0, 0, 1))),
            "at_end": visible(obj, 1 + 32), "at_hold": visible(obj, 1 + 32 + 12),
        }}
    """))
    assert result["ret"] == ["FINISHED"] and result["missing"] == ["CANCELLED"]
    strokes = len(small_painting().strokes)  # 4 strokes at 3 per second, 24 fps: 32 frames
    assert sum(result["builds"]) == pytest.approx(32)
    assert result["frame_end"] == 1 + 32 + 12  # the finished painting held for 12 frames
    assert result["at_end"] == result["at_hold"] and result["at_end"]["Level 1"] > 0
    assert not result["camera"]  # placed on the plane: no camera set-up
    (tl, tr, br, bl) = result["corners"]  # canvas corners: top-left, top-right, bottom-right, bottom-left
    # 64x48 fitted inside 6x3: 4 wide, 3 high, centered on the plane, upright, along the plane's x axis
    assert tl[2] == pytest.approx(4.5) and bl[2] == pytest.approx(1.5)
    width = ((tr[0] - tl[0]) ** 2 + (tr[1] - tl[1]) ** 2) ** 0.5
    assert width == pytest.approx(4.0, rel=1e-4)
    assert (tr[1] - tl[1]) / (tr[0] - tl[0]) == pytest.approx(0.30933624, rel=1e-4)  # tan 0.3
    center = [(tl[i] + br[i]) / 2 for i in range(3)]
    normal = result["normal"]
    in_front = sum((center[i] - (1, 2, 3)[i]) * normal[i] for i in range(3))
    assert 0 < in_front < 0.05  # a hair in front of the plane's visible side
    assert strokes == 4


def test_panel_settings_drive_the_import_options(tmp_path: Path) -> None:
    path = write_small_painting(tmp_path / "small.json")
    result = bpy_eval(f"""
        import bpy
        import diffpaint_addon
        from diffpaint_addon.import_ops import import_with_settings, ImportOptionError

        bpy.ops.wm.read_factory_settings(use_empty=True)
        diffpaint_addon.register()
        scene = bpy.context.scene
        settings = scene.diffpaint
        settings.frames, settings.build_timing, settings.hold = 30, "DRAWSPEED", 5
        scene.frame_end = 2
        obj = import_with_settings(bpy.context, {str(path)!r}).obj
        settings.placement = "IMAGE_PLANE"
        bpy.context.view_layer.objects.active = None
        try:
            import_with_settings(bpy.context, {str(path)!r})
            error = ""
        except ImportOptionError as e:
            error = str(e)
        result = {{"modes": [m.time_mode for m in obj.modifiers], "frame_end": scene.frame_end, "error": error}}
    """)
    assert result["modes"] == ["DRAWSPEED"] * 3
    assert result["frame_end"] == 1 + 30 + 5
    assert "Image Plane placement needs a plane" in result["error"]

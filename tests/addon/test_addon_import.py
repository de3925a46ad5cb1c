"""Stroke file -> Grease Pencil v3: geometry, colors, layers, Build timing, and clean failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from blender_helpers import bpy_eval, small_painting, srgb_to_linear, write_small_painting

DURATION = 40

DUMP = """
import bpy
from diffpaint_addon import gp_import
from diffpaint_shared.strokefile import load

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
obj = gp_import.import_strokes(load(PATH), scene, name="Painting", frame_start=1, duration=DURATION)

def strokes_of(drawing):
    out = []
    for s in drawing.strokes:
        out.append({
            "material": s.material_index,
            "cyclic": s.cyclic,
            "softness": s.softness,
            "points": [{"co": list(p.position), "radius": p.radius, "opacity": p.opacity,
                        "color": list(p.vertex_color)} for p in s.points],
        })
    return out

result = {
    "type": obj.type,
    "layers": [{"name": l.name, "use_lights": l.use_lights, "strokes": strokes_of(l.frames[0].drawing)}
               for l in obj.data.layers],
    "materials": [{"name": m.name, "stroke": m.grease_pencil.show_stroke, "fill": m.grease_pencil.show_fill,
                   "hide": m.grease_pencil.hide,
                   "color": list(m.grease_pencil.color), "fill_color": list(m.grease_pencil.fill_color)}
                  for m in obj.data.materials],
    "modifiers": [{"type": m.type, "layer": m.tree_node_filter, "mode": m.mode, "transition": m.transition,
                   "time_mode": m.time_mode, "start_delay": m.start_delay, "length": m.length}
                  for m in obj.modifiers],
    "frame_range": [scene.frame_start, scene.frame_end],
}
"""


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> dict:
    path = write_small_painting(tmp_path_factory.mktemp("import") / "small.json")
    return bpy_eval(f"PATH = {str(path)!r}\nDURATION = {DURATION}\n" + DUMP)


def to_world(x: float, y: float) -> list[float]:
    """The documented mapping for the 64x48 canvas: long side 2.0 world units, XZ plane, y down -> z up."""
    s = 2.0 / 64
    return [(x - 32) * s, 0.0, (24 - y) * s]


def test_layers_one_per_level_above_the_canvas_smudges_above_their_level(imported: dict) -> None:
    assert imported["type"] == "GREASEPENCIL"
    # Bottom to top: Blender lists layers in draw order, the last drawn on top.
    assert [layer["name"] for layer in imported["layers"]] == ["Canvas", "Level 1", "Level 2", "Level 2 Smudge"]
    assert [len(layer["strokes"]) for layer in imported["layers"]] == [1, 2, 1, 1]
    assert not any(layer["use_lights"] for layer in imported["layers"])


def test_canvas_is_a_filled_rectangle_in_the_background_color(imported: dict) -> None:
    (rect,) = imported["layers"][0]["strokes"]
    assert rect["cyclic"]
    corners = [c for p in rect["points"] for c in p["co"]]
    expected = [*to_world(0, 0), *to_world(64, 0), *to_world(64, 48), *to_world(0, 48)]
    assert corners == pytest.approx(expected, abs=1e-6)
    mat = imported["materials"][rect["material"]]
    assert mat["fill"] and not mat["stroke"]
    assert mat["fill_color"] == pytest.approx([srgb_to_linear(c) for c in (0.2, 0.4, 0.8)] + [1.0], abs=1e-6)


def test_strokes_follow_painting_order_within_a_level(imported: dict) -> None:
    first, second = imported["layers"][1]["strokes"]
    assert first["points"][0]["co"] == pytest.approx(to_world(6, 12), abs=1e-6)  # order 0
    assert second["points"][0]["co"] == pytest.approx(to_world(8, 36), abs=1e-6)  # order 3


def test_points_radii_colors_map_from_the_file(imported: dict) -> None:
    src = small_painting().strokes[1]  # red -> blue, radius 5 -> 2, at canvas (6,12)..(58,12)
    stroke = imported["layers"][1]["strokes"][0]
    pts = stroke["points"]
    assert 8 <= len(pts) <= 32
    assert pts[0]["co"] == pytest.approx(to_world(*src.points[0]), abs=1e-6)
    assert pts[-1]["co"] == pytest.approx(to_world(*src.points[2]), abs=1e-6)
    scale = 2.0 / 64
    assert pts[0]["radius"] == pytest.approx(5 * scale, rel=1e-5)
    assert pts[-1]["radius"] == pytest.approx(2 * scale, rel=1e-5)
    radii = [p["radius"] for p in pts]
    assert radii == sorted(radii, reverse=True)  # linear in t, so monotonic
    assert pts[0]["color"] == pytest.approx([1.0, 0.0, 0.0, 1.0], abs=1e-6)
    assert pts[-1]["color"] == pytest.approx([0.0, 0.0, 1.0, 1.0], abs=1e-6)
    assert all(p["opacity"] == pytest.approx(1.0) for p in pts)
    mat = imported["materials"][stroke["material"]]
    assert mat["stroke"] and not mat["fill"] and mat["color"] == pytest.approx([1, 1, 1, 1])
    assert not mat["hide"] and stroke["softness"] == 0.0


def test_smudges_show_their_deposits_with_soft_edges(imported: dict) -> None:
    (smudge,) = imported["layers"][3]["strokes"]  # order 9, Level 2's smudge
    src = small_painting().strokes[3]  # stamps at t = 0, 0.5, 1
    pts = smudge["points"]
    assert len(pts) % 2 == 1  # an odd count puts a point on the middle stamp
    assert pts[0]["co"] == pytest.approx(to_world(10, 20), abs=1e-6)
    assert pts[-1]["co"] == pytest.approx(to_world(30, 20), abs=1e-6)
    for point, color, strength in zip((pts[0], pts[len(pts) // 2], pts[-1]), src.deposit_color,
                                       src.deposit_strength, strict=True):
        assert point["color"] == pytest.approx([srgb_to_linear(c) for c in color] + [1.0], abs=1e-6)
        assert point["opacity"] == pytest.approx(strength, abs=1e-6)
    quarter = pts[len(pts) // 4]  # t = 0.25 when the count is 4m + 1, else between stamps 0 and 1
    assert 0.0 < quarter["opacity"] < 0.4
    mat = imported["materials"][smudge["material"]]
    assert mat["name"].startswith("DiffPaint Smudge") and not mat["hide"]
    assert 0.0 < smudge["softness"] < 1.0  # soft edges, where paint strokes have none


def test_colors_are_converted_to_linear_and_opacity_kept(imported: dict) -> None:
    yellow = imported["layers"][2]["strokes"][0]["points"][0]
    assert yellow["color"] == pytest.approx([srgb_to_linear(c) for c in (0.9, 0.8, 0.1)] + [1.0], abs=1e-6)
    green = imported["layers"][1]["strokes"][1]["points"]
    assert all(p["opacity"] == pytest.approx(0.5) for p in green)


def test_build_modifiers_time_each_level_in_painting_order(imported: dict) -> None:
    mods = imported["modifiers"]
    assert [m["layer"] for m in mods] == ["Level 1", "Level 2", "Level 2 Smudge"]
    assert all(m["type"] == "GREASE_PENCIL_BUILD" and m["mode"] == "SEQUENTIAL" and m["transition"] == "GROW"
               and m["time_mode"] == "FRAMES" for m in mods)
    # Painting order ranks: Level 1 holds ranks 0-1, Level 2's paint rank 2, its smudge rank 3, of 4
    # strokes over 40 frames.
    assert [(m["start_delay"], m["length"]) for m in mods] == [
        pytest.approx((0.0, DURATION / 2)), pytest.approx((DURATION / 2, DURATION / 4)),
        pytest.approx((3 * DURATION / 4, DURATION / 4))]
    assert imported["frame_range"][1] >= 1 + DURATION


def test_scrubbing_replays_strokes_in_order(tmp_path: Path) -> None:
    path = write_small_painting(tmp_path / "small.json")
    counts = bpy_eval(f"""
        import bpy
        from diffpaint_addon import gp_import
        from diffpaint_shared.strokefile import load

        bpy.ops.wm.read_factory_settings(use_empty=True)
        scene = bpy.context.scene
        obj = gp_import.import_strokes(load({str(path)!r}), scene, frame_start=1, duration={DURATION})
        result = {{}}
        for frame in (1, 6, 26, 36, 1 + {DURATION}, 1 + 2 * {DURATION}):
            scene.frame_set(frame)
            data = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
            result[frame] = {{l.name: len(l.current_frame().drawing.strokes) for l in data.layers}}
    """)
    start, early, middle, smudging, end, hold = (counts[str(f)] for f in (1, 6, 26, 36, 1 + DURATION,
                                                                         1 + 2 * DURATION))
    assert start == {"Canvas": 1, "Level 1": 0, "Level 2": 0, "Level 2 Smudge": 0}  # blank canvas
    assert early == {"Canvas": 1, "Level 1": 1, "Level 2": 0, "Level 2 Smudge": 0}  # first stroke under way
    assert middle == {"Canvas": 1, "Level 1": 2, "Level 2": 1, "Level 2 Smudge": 0}  # third stroke under way
    assert smudging == {"Canvas": 1, "Level 1": 2, "Level 2": 1, "Level 2 Smudge": 1}  # then the smudge
    assert end == hold == {"Canvas": 1, "Level 1": 2, "Level 2": 1, "Level 2 Smudge": 1}  # finished, and held


def test_failed_import_leaves_nothing_behind(tmp_path: Path) -> None:
    path = write_small_painting(tmp_path / "small.json")
    result = bpy_eval(f"""
        import bpy
        from diffpaint_addon import gp_import
        from diffpaint_shared.strokefile import load

        bpy.ops.wm.read_factory_settings(use_empty=True)
        def counts():
            return [len(bpy.data.objects), len(gp_import.grease_pencil_datablocks()), len(bpy.data.materials)]
        before = counts()

        def boom(*args, **kwargs):
            raise RuntimeError("late failure")
        gp_import.add_build_modifiers = boom  # fail after layers, strokes and materials exist
        try:
            gp_import.import_strokes(load({str(path)!r}), bpy.context.scene)
            raised = None
        except RuntimeError as e:
            raised = str(e)
        result = {{"raised": raised, "before": before, "after": counts()}}
    """)
    assert result["raised"] == "late failure"
    assert result["after"] == result["before"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        (json.dumps({"format": "diffpaint-strokes", "version": 1, "canvas": {"width": 8, "height": 8},
                     "strokes": [{"points": [[0, 0], [1, 1]], "radius": [1, 1], "color": [[0, 0, 0]] * 2}]}),
         "strokes[0].points must be a list of 3 items"),
    ],
)
def test_import_operator_reports_bad_files_and_creates_nothing(tmp_path: Path, content: str, message: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = bpy_eval(f"""
        import bpy
        import diffpaint_addon
        from diffpaint_addon import gp_import

        bpy.ops.wm.read_factory_settings(use_empty=True)
        diffpaint_addon.register()
        def counts():
            return [len(bpy.data.objects), len(gp_import.grease_pencil_datablocks()), len(bpy.data.materials),
                    len(bpy.data.cameras), len(bpy.data.worlds)]
        before = counts()
        try:
            ret = sorted(bpy.ops.diffpaint.import_strokes(filepath={str(bad)!r}))
            error = None
        except RuntimeError as e:  # an operator's ERROR report surfaces as RuntimeError in Python
            ret, error = None, str(e)
        result = {{"ret": ret, "error": error, "before": before, "after": counts()}}
    """)
    assert result["error"] is not None and message in result["error"]
    assert result["after"] == result["before"]


def test_import_operator_imports_selects_and_sets_up_the_scene(tmp_path: Path) -> None:
    path = write_small_painting(tmp_path / "small.json")
    result = bpy_eval(f"""
        import bpy
        import diffpaint_addon

        bpy.ops.wm.read_factory_settings(use_empty=True)
        diffpaint_addon.register()
        ret = bpy.ops.diffpaint.import_strokes(filepath={str(path)!r}, frame_start=5, frames=20)
        scene = bpy.context.scene
        obj = bpy.context.view_layer.objects.active
        result = {{"ret": sorted(ret), "name": obj.name, "type": obj.type, "camera": scene.camera.data.type,
                   "ortho_scale": scene.camera.data.ortho_scale,
                   "resolution": [scene.render.resolution_x, scene.render.resolution_y],
                   "view": scene.view_settings.view_transform, "frame_range": [scene.frame_start, scene.frame_end]}}
        bpy.ops.diffpaint.import_strokes(filepath={str(path)!r}, frame_start=1, frames=10, fit_frame_range=False)
        result["widened"] = [scene.frame_start, scene.frame_end]
    """)
    assert result["ret"] == ["FINISHED"]
    assert (result["name"], result["type"]) == ("small", "GREASEPENCIL")
    assert result["camera"] == "ORTHO" and result["ortho_scale"] == pytest.approx(2.0)
    assert result["resolution"] == [64, 48]
    assert result["view"] == "Standard"
    assert result["frame_range"] == [5, 25]  # fitted to the animation (the default)
    assert result["widened"] == [1, 25]  # not fitting: only widened to cover the second painting


def test_one_layer_for_all_levels_when_asked(tmp_path: Path) -> None:
    path = write_small_painting(tmp_path / "small.json")
    result = bpy_eval(f"""
        import bpy
        from diffpaint_addon import gp_import
        from diffpaint_shared.strokefile import load

        bpy.ops.wm.read_factory_settings(use_empty=True)
        obj = gp_import.import_strokes(load({str(path)!r}), bpy.context.scene, duration=40, layer_per_level=False)
        result = {{"layers": [[l.name, len(l.frames[0].drawing.strokes)] for l in obj.data.layers],
                   "builds": [[m.start_delay, m.length] for m in obj.modifiers]}}
    """)
    assert result["layers"] == [["Canvas", 1], ["Strokes", len(small_painting().strokes)]]
    assert result["builds"] == [[0.0, 40.0]]  # the whole painting order, over the whole animation


def test_importing_again_reuses_the_materials_and_reports_what_came_in(tmp_path: Path) -> None:
    """A second import shares the first's materials (no 'DiffPaint Canvas.001'), and the report says
    what was imported; a file with no strokes imports with a warning."""
    path = write_small_painting(tmp_path / "small.json")
    empty = tmp_path / "empty.json"
    from dataclasses import replace

    from diffpaint_shared.strokefile import save

    save(replace(small_painting(), strokes=()), empty)
    result = bpy_eval(f"""
        import bpy
        import diffpaint_addon
        from diffpaint_addon import import_ops

        bpy.ops.wm.read_factory_settings(use_empty=True)
        diffpaint_addon.register()
        settings = bpy.context.scene.diffpaint
        first = import_ops.import_with_settings(bpy.context, {str(path)!r})
        names = sorted(m.name for m in bpy.data.materials)
        second = import_ops.import_with_settings(bpy.context, {str(path)!r})
        nothing = import_ops.import_with_settings(bpy.context, {str(empty)!r})
        result = {{"first": names, "after": sorted(m.name for m in bpy.data.materials),
                   "shared": [m.name for m in first.obj.data.materials] == [m.name for m in second.obj.data.materials],
                   "message": first.message, "frames": first.frames, "empty": nothing.message}}
    """)
    assert result["after"] == result["first"] and result["shared"]
    assert not any(name[-4:-3] == "." and name[-3:].isdigit() for name in result["after"]), result["after"]
    assert result["message"] == f"Imported 4 strokes, 2 levels, frames 1–{1 + 250}"
    assert result["empty"] == "Imported 0 strokes: the file has only its canvas"

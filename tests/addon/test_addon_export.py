"""Grease Pencil -> stroke file with real bpy: an imported painting exports back to its strokes, edits
made in Blender (moved, recolored, deleted strokes) reach the file, and re-importing the export
gives the same strokes again."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from blender_helpers import bpy_eval, small_painting
from PIL import Image

from diffpaint_shared.strokefile import StrokeFile, Texture, TextureMapping, load, save


def painting_with_extras() -> StrokeFile:
    """small_painting with what geometry cannot carry: metadata, a texture, a stroke's style and mapping."""
    png = io.BytesIO()
    Image.new("RGBA", (4, 2), (200, 100, 50, 255)).save(png, format="PNG")
    doc = small_painting()
    textured = replace(doc.strokes[0], style={"name": "oil", "bristles": 12}, texture="oil-0",
                       mapping=TextureMapping(u_scale=2.0, rotation=0.3, softness=0.2, mix=0.7))
    return replace(doc, strokes=(textured, *doc.strokes[1:]), textures={"oil-0": Texture("oil", png.getvalue())},
                   metadata={"source": "test", "psnr": 21.5})


def assert_same_strokes(got: StrokeFile, want: StrokeFile, tol: float = 1e-4) -> None:
    """Same canvas, textures, metadata and strokes (fields within ``tol``), in the same painting order;
    order values may be renumbered."""
    assert (got.canvas, dict(got.textures), dict(got.metadata)) == (want.canvas, dict(want.textures),
                                                                    dict(want.metadata))
    assert len(got.strokes) == len(want.strokes)
    for g, w in zip(sorted(got.strokes, key=lambda s: s.order), sorted(want.strokes, key=lambda s: s.order),
                    strict=True):
        assert (g.kind, g.level, dict(g.style), g.texture, g.mapping) == (w.kind, w.level, dict(w.style), w.texture,
                                                                           w.mapping)
        assert [c for p in g.points for c in p] == pytest.approx([c for p in w.points for c in p], abs=tol)
        assert g.radius == pytest.approx(w.radius, abs=tol)
        assert [c for rgb in g.color for c in rgb] == pytest.approx([c for rgb in w.color for c in rgb], abs=tol)
        assert g.opacity == pytest.approx(w.opacity, abs=tol)
        assert [c for rgb in g.deposit_color for c in rgb] == pytest.approx(
            [c for rgb in w.deposit_color for c in rgb], abs=tol)
        assert g.deposit_strength == pytest.approx(w.deposit_strength, abs=tol)


IMPORT = """
import bpy
from diffpaint_addon import gp_export, gp_import
from diffpaint_shared.strokefile import load, save

bpy.ops.wm.read_factory_settings(use_empty=True)
obj = gp_import.import_strokes(load(PATH), bpy.context.scene, duration=30)
"""


def export_twice(tmp_path: Path) -> str:
    """The end of a script that edited `obj`: export it to edited.json, import that, export it to again.json."""
    return f"""
save(gp_export.export_strokes(obj), {str(tmp_path / 'edited.json')!r})
gp_import.import_strokes(load({str(tmp_path / 'edited.json')!r}), bpy.context.scene, name="Again")
save(gp_export.export_strokes(bpy.data.objects["Again"]), {str(tmp_path / 'again.json')!r})
result = None
"""


def edited_and_exported_again(tmp_path: Path) -> StrokeFile:
    """The edited export written by `export_twice`, after checking that re-importing it exports the same."""
    edited = load(tmp_path / "edited.json")
    assert_same_strokes(load(tmp_path / "again.json"), edited)
    return edited


@pytest.mark.parametrize("layer_per_level", [True, False])
def test_an_imported_painting_exports_to_the_same_strokes(tmp_path: Path, layer_per_level: bool) -> None:
    """Levels come from the level layers, or on the single layer from the strokes the import made."""
    doc = painting_with_extras()
    save(doc, tmp_path / "in.json")
    bpy_eval(f"PATH = {str(tmp_path / 'in.json')!r}\n" + IMPORT.replace("duration=30", f"duration=30, "
             f"layer_per_level={layer_per_level}") + f"""
save(gp_export.export_strokes(obj), {str(tmp_path / 'out.json')!r})
result = None
""")
    out = load(tmp_path / "out.json")
    assert_same_strokes(out, doc)
    # Painting order as Blender draws it: Level 1, Level 2's paint, then its smudge (orders 0, 3, 7, 9).
    assert [s.order for s in out.strokes] == [0, 1, 2, 3]


def test_edits_in_blender_reach_the_file_and_survive_a_second_round_trip(tmp_path: Path) -> None:
    doc = painting_with_extras()
    save(doc, tmp_path / "in.json")
    scale = 2.0 / 64  # world units per pixel of the 64x48 canvas
    bpy_eval(f"PATH = {str(tmp_path / 'in.json')!r}\n" + IMPORT + f"""
level1 = obj.data.layers["Level 1"].frames[0].drawing
first, second = level1.strokes[0], level1.strokes[1]
for p in first.points:  # move the red-blue stroke 8 px right and 4 px up
    x, y, z = p.position
    p.position = (x + 8 * {scale}, y, z + 4 * {scale})
for p in second.points:  # recolor the green stroke (linear orange)
    p.vertex_color = (1.0, 0.2, 0.0, 1.0)
obj.data.layers["Level 2"].frames[0].drawing.remove_strokes(indices=[0])  # delete the yellow stroke
obj.data.layers["Level 2 Smudge"].translation = (2 * {scale}, 0.0, 0.0)  # move the smudge's layer 2 px right
""" + export_twice(tmp_path))
    edited = edited_and_exported_again(tmp_path)
    assert [s.kind for s in edited.strokes] == ["paint", "paint", "smudge"]  # the yellow stroke is gone
    moved, recolored = edited.strokes[0], edited.strokes[1]
    want = [(x + 8, y - 4) for x, y in doc.strokes[1].points]
    assert [c for p in moved.points for c in p] == pytest.approx([c for p in want for c in p], abs=1e-4)
    assert [c for rgb in moved.color for c in rgb] == pytest.approx([1, 0, 0, 0, 0, 1], abs=1e-5)
    assert [c for rgb in recolored.color for c in rgb] == pytest.approx([1, 0.4845, 0] * 2, abs=1e-4)  # linear 0.2
    assert [c for p in recolored.points for c in p] == pytest.approx([8, 36, 32, 28, 56, 36], abs=1e-4)
    assert [c for p in edited.strokes[2].points for c in p] == pytest.approx([12, 20, 22, 20, 32, 20], abs=1e-4)


def test_a_curved_stroke_redrawn_off_the_import_samples_is_fitted_by_least_squares(tmp_path: Path) -> None:
    """A user's stroke with points on a known Bézier at its own t = j / (n - 1) (here 5 of them, fewer
    than the import uses) on a level layer: the fit recovers that Bézier, radius and color exactly."""
    doc = small_painting()
    save(doc, tmp_path / "in.json")
    scale = 2.0 / 64
    bpy_eval(f"PATH = {str(tmp_path / 'in.json')!r}\n" + IMPORT + f"""
import numpy as np
drawing = obj.data.layers["Level 1"].frames[0].drawing
drawing.add_strokes([5])
stroke = drawing.strokes[len(drawing.strokes) - 1]
p0, p1, p2 = np.array([10.0, 40.0]), np.array([30.0, 10.0]), np.array([50.0, 40.0])
for j, point in enumerate(stroke.points):
    t = j / 4
    x, y = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t ** 2 * p2
    point.position = ((x - 32) * {scale}, 0.0, (24 - y) * {scale})
    point.radius = (2 + 4 * t) * {scale}
    point.vertex_color = (0.0, 0.0, 1.0, 1.0)
    point.opacity = 0.8
save(gp_export.export_strokes(obj), {str(tmp_path / 'out.json')!r})
result = None
""")
    out = load(tmp_path / "out.json")
    drawn = out.strokes[2]  # Level 1's third stroke, before Level 2
    assert (drawn.kind, drawn.level, drawn.style) == ("paint", 1, {})
    assert [c for p in drawn.points for c in p] == pytest.approx([10, 40, 30, 10, 50, 40], abs=1e-4)
    assert drawn.radius == pytest.approx((2, 6), abs=1e-4)
    assert [c for rgb in drawn.color for c in rgb] == pytest.approx([0, 0, 1] * 2, abs=1e-6)
    assert drawn.opacity == pytest.approx(0.8)


def test_export_operator_writes_the_file_and_refuses_other_objects(tmp_path: Path) -> None:
    save(small_painting(), tmp_path / "in.json")
    result = bpy_eval(f"""
        import os
        import bpy
        import diffpaint_addon
        from diffpaint_addon import gp_import

        bpy.ops.wm.read_factory_settings(use_empty=True)
        diffpaint_addon.register()
        bpy.ops.diffpaint.import_strokes(filepath={str(tmp_path / 'in.json')!r})
        ret = bpy.ops.diffpaint.export_strokes(filepath={str(tmp_path / 'out.json')!r})

        plain = bpy.data.objects.new("Plain", gp_import.grease_pencil_datablocks().new("Plain"))
        bpy.context.scene.collection.objects.link(plain)
        bpy.context.view_layer.objects.active = plain
        try:
            bpy.ops.diffpaint.export_strokes(filepath={str(tmp_path / 'plain.json')!r})
            error = None
        except RuntimeError as e:  # an operator's ERROR report surfaces as RuntimeError in Python
            error = str(e)
        bpy.context.view_layer.objects.active = None
        result = {{"ret": sorted(ret), "error": error,
                   "plain_written": os.path.exists({str(tmp_path / 'plain.json')!r}),
                   "poll_without_object": bpy.ops.diffpaint.export_strokes.poll(),
                   "in_menu": any(getattr(f, "__name__", "") == "menu_export"
                                  for f in bpy.types.TOPBAR_MT_file_export._dyn_ui_initialize())}}
    """)
    assert result["ret"] == ["FINISHED"]
    assert_same_strokes(load(tmp_path / "out.json"), small_painting())
    assert result["error"] is not None and "'Plain' was not imported by DiffPaint" in result["error"]
    assert not result["plain_written"]
    assert result["poll_without_object"] is False
    assert result["in_menu"]


def test_a_damaged_record_is_reported_not_exported(tmp_path: Path) -> None:
    save(small_painting(), tmp_path / "in.json")
    result = bpy_eval(f"PATH = {str(tmp_path / 'in.json')!r}\n" + IMPORT + """
obj[gp_import.FILE_PROPERTY] = json.dumps({"format": "diffpaint-strokes", "version": 99})
try:
    gp_export.export_strokes(obj)
    result = None
except gp_export.ExportError as e:
    result = str(e)
""")
    assert result is not None and "damaged DiffPaint record" in result and "version 99" in result


def test_texture_edits_in_blender_reach_the_file(tmp_path: Path) -> None:
    """The textured stroke's mapping attributes and its material's mix are edited, the imported image
    painted on, and another stroke given a material of the artist's with an sRGB image: the export
    carries each, and re-importing it exports the same again."""
    doc = painting_with_extras()
    save(doc, tmp_path / "in.json")
    bpy_eval(f"PATH = {str(tmp_path / 'in.json')!r}\n" + IMPORT + """
drawing = obj.data.layers["Level 2"].frames[0].drawing  # the yellow stroke's, the one textured
textured = [m for m in obj.data.materials if m.grease_pencil.stroke_style == "TEXTURE"][0]
textured.grease_pencil.mix_stroke_factor = 0.4
for name, value in (("u_translation", 0.25), ("softness", 0.5)):
    drawing.attributes[name].data[0].value = value
drawing.attributes["u_scale"].data[0].value *= 1.5
image = textured.grease_pencil.stroke_image
image.pixels.foreach_set([0.2, 0.4, 0.6, 0.8] * (len(image.pixels) // 4))  # painted over in Blender

own = bpy.data.images.new("My Grain", 8, 4)  # a byte image in sRGB
own.pixels.foreach_set([0.5, 0.5, 0.5, 1.0] * 32)
mat = bpy.data.materials.new("My Texture")
bpy.data.materials.create_gpencil_data(mat)
mat.grease_pencil.stroke_style, mat.grease_pencil.stroke_image = "TEXTURE", own
mat.grease_pencil.mix_stroke_factor = 0.25
obj.data.materials.append(mat)
obj.data.layers["Level 1"].frames[0].drawing.attributes["material_index"].data[1].value = len(obj.data.materials) - 1
""" + export_twice(tmp_path))
    edited = edited_and_exported_again(tmp_path)
    first, second = edited.strokes[2], edited.strokes[1]  # the yellow stroke's and the green one's
    assert first.texture == "oil-0-2" and first.mapping is not None  # a new texture: the old one stays as it was
    assert edited.textures["oil-0"] == doc.textures["oil-0"] and edited.textures["oil-0-2"].style == "oil"
    assert (first.mapping.u_scale, first.mapping.u_translation, first.mapping.softness, first.mapping.mix,
            first.mapping.rotation) == pytest.approx((3.0, 0.25, 0.5, 0.4, 0.3), abs=1e-5)
    painted = Image.open(io.BytesIO(edited.textures["oil-0-2"].png))
    assert painted.size == (4, 2) and painted.convert("RGBA").getcolors() == [(8, (51, 102, 153, 204))]
    assert second.texture == "My-Grain" and second.mapping is not None and second.mapping.mix == pytest.approx(0.25)
    # Blender's default u_scale, once per world unit: 2/64 of the arched stroke's length, a little over its 48-px chord.
    assert 48 * 2.0 / 64 < second.mapping.u_scale < 50 * 2.0 / 64
    grain = Image.open(io.BytesIO(edited.textures["My-Grain"].png)).convert("RGBA")
    assert grain.size == (8, 4) and grain.getcolors() == [(32, (55, 55, 55, 255))]  # sRGB 0.5 in linear light


def test_a_stroke_moved_to_a_plain_material_exports_without_its_texture(tmp_path: Path) -> None:
    doc = painting_with_extras()
    save(doc, tmp_path / "in.json")
    bpy_eval(f"PATH = {str(tmp_path / 'in.json')!r}\n" + IMPORT + f"""
plain = [i for i, m in enumerate(obj.data.materials) if m.name == gp_import.STROKE_MATERIAL][0]
obj.data.layers["Level 2"].frames[0].drawing.attributes["material_index"].data[0].value = plain
save(gp_export.export_strokes(obj), {str(tmp_path / 'out.json')!r})
result = None
""")
    first = load(tmp_path / "out.json").strokes[2]
    assert (first.texture, first.mapping, dict(first.style)) == (None, None, {"name": "oil", "bristles": 12})


def test_a_texture_of_the_same_name_from_another_file_is_a_texture_of_its_own(tmp_path: Path) -> None:
    doc = painting_with_extras()
    other_png = io.BytesIO()
    Image.new("RGBA", (4, 2), (10, 20, 30, 255)).save(other_png, format="PNG")
    other = replace(doc, textures={"oil-0": Texture("oil", other_png.getvalue())})
    save(doc, tmp_path / "in.json")
    save(other, tmp_path / "other.json")
    bpy_eval(f"PATH = {str(tmp_path / 'in.json')!r}\n" + IMPORT + f"""
second = gp_import.import_strokes(load({str(tmp_path / 'other.json')!r}), bpy.context.scene, name="Other")
theirs = [m for m in second.data.materials if m.grease_pencil.stroke_style == "TEXTURE"][0]
obj.data.materials.append(theirs)
obj.data.layers["Level 2"].frames[0].drawing.attributes["material_index"].data[0].value = len(obj.data.materials) - 1
save(gp_export.export_strokes(obj), {str(tmp_path / 'out.json')!r})
result = None
""")
    out = load(tmp_path / "out.json")
    assert out.strokes[2].texture == "oil-0-2"
    assert out.textures["oil-0"] == doc.textures["oil-0"]
    assert Image.open(io.BytesIO(out.textures["oil-0-2"].png)).convert("RGBA").getcolors() == [(8, (10, 20, 30, 255))]

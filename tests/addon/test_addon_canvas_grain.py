"""A canvas grain in Blender with real bpy: the Canvas layer's fill shows the baked grain image, packed so
a saved .blend reopens with it, and exporting the painting back keeps the grain in the file.
(Blender's render against the backend's is in test_blender_render.py.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from blender_helpers import bpy_eval, small_painting

from diffpaint.grain.textures import grain_texture
from diffpaint_shared.strokefile import StrokeFile, load, save


def grain_painting() -> StrokeFile:
    doc = small_painting()
    return replace(doc, canvas=replace(doc.canvas, grain=replace(grain_texture("paper"), scale=2.0, strength=0.1)))


def test_the_canvas_fill_shows_the_grain_and_survives_save_and_export(tmp_path: Path) -> None:
    doc = grain_painting()
    save(doc, tmp_path / "in.json")
    result = bpy_eval(f"""
        import bpy
        from diffpaint_addon import gp_export, gp_import
        from diffpaint_shared.strokefile import load, save

        bpy.ops.wm.read_factory_settings(use_empty=True)
        name = gp_import.import_strokes(load({str(tmp_path / 'in.json')!r}), bpy.context.scene, duration=30).name
        bpy.ops.wm.save_as_mainfile(filepath={str(tmp_path / 'scene.blend')!r})
        bpy.ops.wm.open_mainfile(filepath={str(tmp_path / 'scene.blend')!r})
        obj = bpy.data.objects[name]
        save(gp_export.export_strokes(obj), {str(tmp_path / 'out.json')!r})
        canvas = obj.data.layers["Canvas"].frames[0].drawing
        mat = obj.data.materials[canvas.attributes["material_index"].data[0].value].grease_pencil
        image = mat.fill_image
        result = {{"style": mat.fill_style, "mix": mat.mix_factor, "size": list(image.size),
                   "packed": image.packed_file is not None, "source": image["diffpaint_source"],
                   "uv_scale": list(canvas.attributes["uv_scale"].data[0].vector)}}
    """)
    assert result["style"] == "TEXTURE" and result["mix"] == 0.0
    assert result["size"] == [64, 48] and result["packed"] and "CC-0" in result["source"]
    assert result["uv_scale"] == [2.0, -1.5]  # the canvas's size in drawing units (v grows up the image)
    assert load(tmp_path / "out.json").canvas == doc.canvas


def test_a_flat_canvas_keeps_its_plain_fill(tmp_path: Path) -> None:
    save(small_painting(), tmp_path / "in.json")
    result = bpy_eval(f"""
        import bpy
        from diffpaint_addon import gp_import
        from diffpaint_shared.strokefile import load

        bpy.ops.wm.read_factory_settings(use_empty=True)
        obj = gp_import.import_strokes(load({str(tmp_path / 'in.json')!r}), bpy.context.scene, duration=30)
        canvas = obj.data.layers["Canvas"].frames[0].drawing
        mat = obj.data.materials[canvas.attributes["material_index"].data[0].value].grease_pencil
        result = [mat.fill_style, canvas.attributes.get("uv_scale") is None, len(bpy.data.images)]
    """)
    assert result == ["SOLID", True, 0]


def test_canvases_differing_only_in_grain_get_materials_of_their_own(tmp_path: Path) -> None:
    grainy = grain_painting()
    assert grainy.canvas.grain is not None
    stronger = replace(grainy, canvas=replace(grainy.canvas, grain=replace(grainy.canvas.grain, strength=0.2)))
    paths = [str(tmp_path / f"{i}.json") for i in range(3)]
    for doc, path in zip((small_painting(), grainy, stronger), paths, strict=True):
        save(doc, path)
    keys = bpy_eval(f"""
        from diffpaint_addon.gp_canvas import canvas_key
        from diffpaint_shared.strokefile import load
        result = [canvas_key(load(path).canvas) for path in {paths!r}]
    """)
    assert len(set(keys)) == 3

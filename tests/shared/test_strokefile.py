import base64
import json
import math
import struct
import zlib

import pytest

from diffpaint_shared import strokefile as sf


def _png(width: int, height: int) -> bytes:
    """A gray RGBA PNG written with the standard library only."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x80\x80\x80\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def _doc() -> sf.StrokeFile:
    strokes = (
        sf.Stroke(points=((1.0, 2.0), (3.5, 4.0), (10.0, 2.0)), radius=(2.0, 1.0),
                  color=((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)), opacity=0.8, level=0, order=0,
                  style={"name": "oil", "bristles": 0.3}, texture="oil-1",
                  mapping=sf.TextureMapping(u_scale=0.5, u_translation=0.25, rotation=0.1, softness=0.2, mix=0.7)),
        sf.Stroke(points=((5.0, 5.0), (6.0, 6.0), (7.0, 5.0)), radius=(1.5, 1.5),
                  color=((0.2, 0.3, 0.4), (0.3, 0.3, 0.4)), kind="smudge", level=1, order=1,
                  deposit_color=((0.2, 0.3, 0.4), (0.25, 0.3, 0.4), (0.3, 0.3, 0.4)),
                  deposit_strength=(0.5, 0.4, 0.3)),
    )
    grain = sf.CanvasGrain(name="canvas", png=_png(8, 8), scale=1.5, strength=0.05, source="test, CC-0")
    return sf.StrokeFile(canvas=sf.Canvas(32, 24, (0.9, 0.85, 0.8), grain), strokes=strokes,
                         textures={"oil-1": sf.Texture(style="oil", png=_png(16, 8))}, metadata={"source": "test"})


def test_texture_size_comes_from_the_png_header():
    assert (_doc().textures["oil-1"].width, _doc().textures["oil-1"].height) == (16, 8)
    with pytest.raises(ValueError, match="not a PNG"):
        sf.Texture(style="oil", png=b"GIF89a")


def test_round_trip_is_exact(tmp_path):
    doc = _doc()
    path = tmp_path / "s.json"
    sf.save(doc, path)
    assert sf.load(path) == doc
    assert sf.load(path).levels == [0, 1]
    assert not (tmp_path / "s.json.tmp").exists()


def _mutated(mutate) -> str:
    raw = sf.to_dict(_doc())
    mutate(raw)
    return json.dumps(raw)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="something-else"), "not a DiffPaint stroke file"),
        (lambda d: d.update(version=2), "unsupported stroke file version 2"),
        (lambda d: d["canvas"].update(width=0), "canvas.width"),
        (lambda d: d["canvas"].update(background=[1, 1]), "canvas.background must be a list of 3"),
        (lambda d: d.update(strokes={}), "'strokes' must be a list"),
        (lambda d: d["strokes"][0].pop("points"), "strokes[0].points must be a list of 3"),
        (lambda d: d["strokes"][1]["points"][2].__setitem__(1, "x"), "strokes[1].points[2][1]"),
        (lambda d: d["strokes"][0].update(radius=[1.0, -2.0]), "strokes[0].radius must be non-negative"),
        (lambda d: d["strokes"][0].update(radius=[1.0, math.inf]), "strokes[0].radius[1] must be a finite"),
        (lambda d: d["strokes"][0]["color"][1].__setitem__(0, 1.5), "strokes[0].color[1] components"),
        (lambda d: d["strokes"][0].update(opacity=2), "strokes[0].opacity"),
        (lambda d: d["strokes"][0].update(kind="glaze"), "strokes[0].kind"),
        (lambda d: d["strokes"][1].update(order=0), "'order' values must be unique"),
        (lambda d: d["strokes"][1].update(texture="missing"), "'missing' is not defined"),
        (lambda d: d["strokes"][0].update(level=True), "strokes[0].level"),
        (lambda d: d["strokes"][0]["mapping"].update(u_scale=0.0), "strokes[0].mapping.u_scale must be positive"),
        (lambda d: d["strokes"][0]["mapping"].update(mix=1.5), "strokes[0].mapping.mix"),
        (lambda d: d["strokes"][1]["deposit"]["strength"].pop(), "strokes[1].deposit needs the same number"),
        (lambda d: d["strokes"][1]["deposit"]["strength"].__setitem__(0, -1), "deposit.strength values"),
        (lambda d: d["strokes"][1].update(kind="paint"), "deposit is only allowed on smudge"),
        (lambda d: d["strokes"][1].pop("deposit"), "strokes[1].deposit needs the same number"),
        (lambda d: d["textures"]["oil-1"].update(png="@@@"), "textures['oil-1'].png is not valid base64"),
        (lambda d: d["textures"]["oil-1"].update(png=base64.b64encode(b"not a png").decode()), "not a PNG"),
        (lambda d: d["textures"]["oil-1"].pop("style"), "textures['oil-1'].style"),
        (lambda d: d["canvas"].update(grain=[]), "canvas.grain must be a JSON object"),
        (lambda d: d["canvas"]["grain"].pop("name"), "canvas.grain.name must be a non-empty string"),
        (lambda d: d["canvas"]["grain"].update(png="@@@"), "canvas.grain.png is not valid base64"),
        (lambda d: d["canvas"]["grain"].update(png=base64.b64encode(b"GIF89a").decode()), "canvas.grain.png: not a"),
        (lambda d: d["canvas"]["grain"].update(scale=0), "canvas.grain.scale must lie in (0, 64]"),
        (lambda d: d["canvas"]["grain"].update(scale="big"), "canvas.grain.scale must be a finite number"),
        (lambda d: d["canvas"]["grain"].update(strength=1.5), "canvas.grain.strength must lie in [0, 1]"),
        (lambda d: d["canvas"]["grain"].update(source=3), "canvas.grain.source must be a string"),
    ],
)
def test_malformed_files_raise_one_clear_error(mutate, message):
    with pytest.raises(sf.StrokeFileError) as info:
        sf.loads(_mutated(mutate))
    assert message in str(info.value)


def test_a_canvas_without_grain_is_flat_and_files_without_one_stay_valid():
    raw = sf.to_dict(_doc())
    del raw["canvas"]["grain"]
    doc = sf.loads(json.dumps(raw))
    assert doc.canvas.grain is None
    assert "grain" not in sf.to_dict(doc)["canvas"]
    assert sf.loads(sf.dumps(doc)) == doc


def test_grain_round_trips_with_its_image():
    grain = sf.loads(sf.dumps(_doc())).canvas.grain
    assert grain == _doc().canvas.grain
    assert grain is not None and grain.png == _png(8, 8) and grain.source == "test, CC-0"


def test_not_json_and_missing_file(tmp_path):
    with pytest.raises(sf.StrokeFileError, match="invalid JSON"):
        sf.loads("{strokes: [")
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(sf.StrokeFileError, match="bad.json"):
        sf.load(bad)
    with pytest.raises(sf.StrokeFileError, match="cannot read stroke file"):
        sf.load(tmp_path / "absent.json")


def test_writer_refuses_invalid_documents():
    doc = _doc()
    broken = sf.StrokeFile(doc.canvas, doc.strokes + (doc.strokes[0],), doc.textures)
    with pytest.raises(sf.StrokeFileError, match="unique"):
        sf.dumps(broken)


def test_format_module_imports_neither_torch_nor_bpy():
    import subprocess
    import sys

    code = "import sys, diffpaint_shared.strokefile; print('torch' in sys.modules, 'bpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]

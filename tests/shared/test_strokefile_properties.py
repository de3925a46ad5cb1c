"""Property-based tests of the stroke file reader and writer (hypothesis).

Any valid file round-trips exactly; any corruption of one (a key dropped, a value of the wrong
type or out of range, truncated text, random bytes) is either still a valid file or rejected with
exactly one StrokeFileError, never another exception, in the backend and in Blender alike.
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from blender_helpers import bpy_eval
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from diffpaint_shared import strokefile as sf

unit = st.floats(0.0, 1.0)
coordinate = st.floats(-1e6, 1e6, allow_nan=False)
rgb = st.tuples(unit, unit, unit)
json_scalar = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False,
                                                                                    allow_infinity=False) | st.text()
json_value = st.recursive(json_scalar, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


@st.composite
def png_images(draw: st.DrawFn) -> bytes:
    """A real PNG, as PIL's encoder writes it: a small RGB or RGBA image of random pixels."""
    w, h = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    channels = draw(st.sampled_from([3, 4]))
    seed = draw(st.integers(0, 2**32 - 1))
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


mappings = st.builds(sf.TextureMapping, u_scale=st.floats(1e-3, 1e3), u_translation=coordinate,
                     rotation=st.floats(-10.0, 10.0), softness=st.floats(0.0, 0.999), mix=unit)


@st.composite
def strokes(draw: st.DrawFn, order: int, texture_keys: list[str]) -> sf.Stroke:
    kind = draw(st.sampled_from(sf.STROKE_KINDS))
    deposits = draw(st.integers(2, 6)) if kind == "smudge" else 0
    texture = draw(st.none() | st.sampled_from(texture_keys)) if texture_keys else None
    return sf.Stroke(
        points=draw(st.tuples(*[st.tuples(coordinate, coordinate)] * 3)),
        radius=draw(st.tuples(st.floats(0.0, 1e4), st.floats(0.0, 1e4))),
        color=draw(st.tuples(rgb, rgb)),
        opacity=draw(unit),
        kind=kind,
        level=draw(st.integers(0, 1 << 16)),
        order=order,
        style=draw(st.dictionaries(st.text(max_size=8), json_value, max_size=3)),
        texture=texture,
        mapping=draw(mappings) if texture is not None else None,
        deposit_color=tuple(draw(rgb) for _ in range(deposits)),
        deposit_strength=tuple(draw(unit) for _ in range(deposits)),
    )


@st.composite
def stroke_files(draw: st.DrawFn) -> sf.StrokeFile:
    keys = draw(st.lists(st.text(min_size=1, max_size=8), max_size=2, unique=True))
    textures = {k: sf.Texture(style=draw(st.text(min_size=1, max_size=8)), png=draw(png_images())) for k in keys}
    orders = draw(st.lists(st.integers(0, 1 << 31), max_size=5, unique=True))
    return sf.StrokeFile(
        canvas=sf.Canvas(draw(st.integers(1, 65536)), draw(st.integers(1, 65536)), draw(rgb)),
        strokes=tuple(draw(strokes(o, keys)) for o in orders),
        textures=textures,
        metadata=draw(st.dictionaries(st.text(max_size=8), json_value, max_size=3)),
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stroke_files())
def test_valid_files_round_trip_exactly(doc: sf.StrokeFile) -> None:
    assert sf.loads(sf.dumps(doc)) == doc


# --- corruption -----------------------------------------------------------------------------------


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every position in a JSON tree, as the keys and indices that lead to it."""
    out = [path]
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
    for key, child in children:
        out += _paths(child, (*path, key))
    return out


def _at(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


out_of_range = st.sampled_from([-1.0, -1e-9, 1.0000001, 2.0, 65537, -(2**40), 1e300, 2**31 + 1])


@st.composite
def corrupted(draw: st.DrawFn) -> str | bytes:
    """A valid file's text with one corruption."""
    text = sf.dumps(draw(stroke_files()))
    how = draw(st.sampled_from(["drop", "retype", "range", "truncate", "bytes", "nest"]))
    if how == "truncate":
        return text[: draw(st.integers(0, len(text) - 1))]
    if how == "bytes":
        return draw(st.binary(max_size=64))
    if how == "nest":  # deeper than any parser's recursion limit
        return "[" * draw(st.integers(10_000, 200_000))
    tree = json.loads(text)
    path = draw(st.sampled_from(_paths(tree)[1:]))
    parent, key = _at(tree, path[:-1]), path[-1]
    if how == "drop" and isinstance(parent, dict):
        del parent[key]
    elif how == "range":
        parent[key] = draw(out_of_range)
    else:
        parent[key] = draw(json_value)
    return json.dumps(tree)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(corrupted())
def test_corrupted_files_are_valid_or_rejected_with_one_clear_error(text: str | bytes) -> None:
    try:
        doc = sf.loads(text)
    except sf.StrokeFileError as e:
        assert str(e) and "\n" not in str(e)
    else:
        sf.validate(doc)  # what loads accepts, dumps writes back
        assert sf.loads(sf.dumps(doc)) == doc


REQUIRED = [("format",), ("version",), ("canvas",), ("strokes",), ("canvas", "width"), ("canvas", "height"),
            ("strokes", 0, "points"), ("strokes", 0, "radius"), ("strokes", 0, "color")]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stroke_files().filter(lambda d: len(d.strokes) > 0), st.sampled_from(REQUIRED))
def test_dropping_a_required_key_is_rejected(doc: sf.StrokeFile, path: tuple) -> None:
    tree = sf.to_dict(doc)
    del _at(tree, path[:-1])[path[-1]]
    with pytest.raises(sf.StrokeFileError):
        sf.from_dict(tree)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stroke_files().filter(lambda d: len(d.strokes) > 0), st.data())
def test_out_of_range_values_are_rejected(doc: sf.StrokeFile, data: st.DataObject) -> None:
    tree = sf.to_dict(doc)
    stroke = tree["strokes"][0]
    field, bad = data.draw(st.sampled_from([
        (("opacity",), st.floats(1.0, 1e9, exclude_min=True) | st.floats(-1e9, 0.0, exclude_max=True)),
        (("radius", 1), st.floats(-1e9, 0.0, exclude_max=True)),
        (("color", 0, 2), st.floats(1.0, 2.0, exclude_min=True)),
        (("level",), st.integers(-(2**40), -1) | st.integers((1 << 16) + 1, 2**40)),
        (("points", 1, 0), st.just(math.inf) | st.just(math.nan)),
    ]))
    _at(stroke, field[:-1])[field[-1]] = data.draw(bad)
    with pytest.raises(sf.StrokeFileError, match=rf"strokes\[0\]\.{field[0]}"):
        sf.from_dict(tree)


def _rejected_files(count: int) -> list[tuple[str, str]]:
    """`count` hypothesis-made corruptions the reader rejects, each for a different reason, with its message."""
    found: dict[str, tuple[str, str]] = {}

    @settings(max_examples=600, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(corrupted())
    def collect(text: str | bytes) -> None:
        try:
            sf.loads(text)
        except sf.StrokeFileError as e:
            reason = str(e).split(" must ")[0].split(" (")[0]  # the field or the kind of damage
            if len(found) < count and reason not in found:
                found[reason] = (text if isinstance(text, str) else text.decode("latin-1"), str(e))

    collect()
    return list(found.values())


def test_blender_import_of_corrupted_files_reports_the_error_and_creates_nothing(tmp_path: Path) -> None:
    files = []
    for i, (text, message) in enumerate(_rejected_files(12)):
        path = tmp_path / f"bad{i}.json"
        path.write_text(text, encoding="latin-1")
        files.append((str(path), message))
    assert len(files) == 12
    results = bpy_eval(f"""
        import bpy
        import diffpaint_addon
        from diffpaint_addon import gp_import

        bpy.ops.wm.read_factory_settings(use_empty=True)
        diffpaint_addon.register()
        def counts():
            return [len(bpy.data.objects), len(gp_import.grease_pencil_datablocks()), len(bpy.data.materials),
                    len(bpy.data.cameras), len(bpy.data.worlds), len(bpy.data.collections)]
        result = []
        for path, _ in {files!r}:
            before = counts()
            try:
                bpy.ops.diffpaint.import_strokes(filepath=path)
                error = None
            except RuntimeError as e:  # the operator's ERROR report
                error = str(e)
            result.append({{"error": error, "same": counts() == before}})
    """, timeout=300)
    for (path, message), got in zip(files, results, strict=True):
        assert got["error"] is not None and message.split(": ")[-1] in got["error"], (path, message, got)
        assert got["same"], path

"""A reconstructed sequence in Blender with real bpy: `diffpaint sequence` output (a real backend run on
frames cut from a real painting with a moving crop) imported as one Grease Pencil object with a keyframe
per frame, exported back frame by frame, bad input refused with nothing left behind, and the panel's
sequence sources."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest
from blender_helpers import bpy_eval, run_python, write_small_painting
from test_addon_export import assert_same_strokes
from test_addon_panels import RECORDING_LAYOUT

from diffpaint_shared import sequence, strokefile

FPS = 12.5  # not Blender's default 24, so setting the scene's rate shows


@pytest.fixture(scope="module")
def sequence_dir(tmp_path_factory: pytest.TempPathFactory, painting_path: Path) -> Path:
    """A real `diffpaint sequence` run: three 48×36 frames of a crop moving over a painting, tiny fits."""
    root = tmp_path_factory.mktemp("sequence")
    (root / "frames").mkdir()
    cut = run_python(["-c", textwrap.dedent(f"""
        from diffpaint.batch.synthetic import pan
        from diffpaint.imageio import read_image, save_png
        for i, frame in enumerate(pan(read_image({str(painting_path)!r}, 160).rgb, 48, 3, step=(3, 2))):
            save_png(frame[:36].contiguous(), {str(root / 'frames')!r} + f"/frame_{{i}}.png")
    """)])
    assert cut.returncode == 0, cut.stderr
    fit = run_python(["-m", "diffpaint", "sequence", str(root / "frames"), "--out", str(root / "out"),
                      "--fps", str(FPS), "--size", "48", "--strokes", "12", "--levels", "2", "--iterations", "4",
                      "--rounds", "1", "--warm-iterations", "3", "--engine", "local"], timeout=600)
    assert fit.returncode == 0, fit.stderr
    return root / "out"


def frame_files(out: Path) -> list[strokefile.StrokeFile]:
    manifest = sequence.load(out / "sequence.json")
    return [strokefile.load(sequence.resolve(out / "sequence.json", f.strokes)) for f in manifest.frames]


IMPORT = """
import bpy, diffpaint_addon
from diffpaint_addon import gp_import

bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()

def visible(obj, frame):
    # Strokes on screen at the frame on the stroke layers, modifiers (Build) applied.
    bpy.context.scene.frame_set(frame)
    shown = obj.evaluated_get(bpy.context.evaluated_depsgraph_get()).data
    return sum(len(layer.current_frame().drawing.strokes) for layer in shown.layers
               if layer.name != "Canvas" and layer.current_frame() is not None)

def describe(obj):
    layers = {}
    for layer in obj.data.layers:
        layers[layer.name] = [[f.frame_number, len(f.drawing.strokes),
                               [v.value for v in f.drawing.attributes[gp_import.MARK_ATTRIBUTE].data]
                               if gp_import.MARK_ATTRIBUTE in f.drawing.attributes else []] for f in layer.frames]
    scene = bpy.context.scene
    return {"layers": layers, "materials": [m.name for m in obj.data.materials],
            "visible": {f: visible(obj, f) for f in range(scene.frame_start, scene.frame_end + 1)},
            "modifiers": [[m.type, m.start_delay, m.length] for m in obj.modifiers],
            "range": [scene.frame_start, scene.frame_end], "fps": scene.render.fps / scene.render.fps_base}
"""


def test_a_sequence_imports_as_one_object_with_a_drawing_per_frame(sequence_dir: Path) -> None:
    manifest = sequence.load(sequence_dir / "sequence.json")
    docs = frame_files(sequence_dir)
    assert len(docs) == 3 and manifest.carried_over(1) > 0  # the backend carried strokes over
    result = bpy_eval(IMPORT + f"""
bpy.ops.diffpaint.import_sequence(filepath={str(sequence_dir / 'sequence.json')!r}, frame_start=5, sequence_step=2)
objects = [o for o in bpy.data.objects if o.type == "GREASEPENCIL"]
result = {{"objects": len(objects), "name": objects[0].name, "first": describe(objects[0]),
           "materials": len(bpy.data.materials)}}

bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.diffpaint.import_sequence(filepath={str(sequence_dir / 'sequence.json')!r}, sequence_build=True,
                                  sequence_fps=True, sequence_step=4)
result["built"] = describe(bpy.context.active_object)
""")
    assert result["objects"] == 1 and result["name"] == "out"  # named after the sequence's folder
    first = result["first"]
    keys = [5, 7, 9]
    assert first["range"] == [5, 10]  # the last frame is held its two frames
    assert first["modifiers"] == []  # no Build animation by default
    assert first["fps"] == 24.0  # the scene's rate is left alone unless asked
    stroke_layers = {name: frames for name, frames in first["layers"].items() if name != "Canvas"}
    assert stroke_layers and all([f[0] for f in frames] == keys for frames in stroke_layers.values())
    assert [f[0] for f in first["layers"]["Canvas"]] == [5]  # one background, held
    for i, doc in enumerate(docs):
        assert sum(frames[i][1] for frames in stroke_layers.values()) == len(doc.strokes)
        assert first["visible"][str(keys[i])] == first["visible"][str(keys[i] + 1)] == len(doc.strokes)
    # Shared materials: one canvas, paint and smudge material for the whole sequence, no copies per frame.
    assert len(first["materials"]) == result["materials"] == 3

    # The same mark has the same number on every frame; marks numbered in order of first appearance.
    numbers: dict[int, int] = {}
    for i, frame in enumerate(manifest.frames):
        want = sorted(numbers.setdefault(sid, len(numbers)) for sid in frame.stroke_ids)
        assert sorted(m for frames in stroke_layers.values() for m in frames[i][2]) == want

    built = result["built"]
    assert built["range"] == [1, 12] and built["fps"] == pytest.approx(FPS)
    assert {m[0] for m in built["modifiers"]} == {"GREASE_PENCIL_BUILD"}
    assert len(built["modifiers"]) == len(stroke_layers)
    # Each frame builds within its hold: layer after layer, the last one finishing as the next frame comes.
    delays = [m[1] for m in built["modifiers"]]
    assert delays[0] == 0 and delays == sorted(delays)
    assert built["modifiers"][-1][1] + built["modifiers"][-1][2] == pytest.approx(4)
    shown = [built["visible"][str(f)] for f in range(5, 9)]  # the second frame's hold
    assert shown[0] == 0 and shown == sorted(shown) and shown[-1] > 0


def test_each_frame_exports_back_to_its_strokes(sequence_dir: Path, tmp_path: Path) -> None:
    """Export at a frame's keyframe and on a held frame after it; the export operator takes the frame on screen."""
    docs = frame_files(sequence_dir)
    bpy_eval(IMPORT + f"""
from diffpaint_addon import gp_export, gp_sequence
from diffpaint_shared.strokefile import save
loaded = gp_sequence.load_sequence({str(sequence_dir / 'sequence.json')!r})
obj = gp_sequence.import_sequence(loaded, bpy.context.scene, frame_start=10, step=3)
for i in range(3):
    save(gp_export.export_strokes(obj, 10 + 3 * i), {str(tmp_path)!r} + f"/key-{{i}}.json")
    save(gp_export.export_strokes(obj, 12 + 3 * i), {str(tmp_path)!r} + f"/held-{{i}}.json")
bpy.context.view_layer.objects.active = obj
bpy.context.scene.frame_set(14)
bpy.ops.diffpaint.export_strokes(filepath={str(tmp_path / 'operator.json')!r})
result = None
""")
    for i, doc in enumerate(docs):
        assert_same_strokes(strokefile.load(tmp_path / f"key-{i}.json"), doc)
        assert_same_strokes(strokefile.load(tmp_path / f"held-{i}.json"), doc)
    assert_same_strokes(strokefile.load(tmp_path / "operator.json"), docs[1])


def broken_copies(src: Path, root: Path) -> dict[str, tuple[Path, str]]:
    """Copies of a good sequence, each broken one way: its manifest, and what the error must say."""
    cases: dict[str, tuple[Path, str]] = {}

    def copy(name: str) -> Path:
        shutil.copytree(src, root / name)
        return root / name

    bad = copy("not-json")
    (bad / "sequence.json").write_text("{", encoding="utf-8")
    cases["not-json"] = (bad / "sequence.json", "not JSON")
    bad = copy("version")
    raw = json.loads((bad / "sequence.json").read_text(encoding="utf-8"))
    (bad / "sequence.json").write_text(json.dumps({**raw, "version": 7}), encoding="utf-8")
    cases["version"] = (bad / "sequence.json", "version 7")
    bad = copy("missing")
    (bad / "chunk-0000" / "frame-00002.json").unlink()
    cases["missing"] = (bad / "sequence.json", "frame 2 (chunk-0000/frame-00002.json): cannot read")
    bad = copy("canvas")
    write_small_painting(bad / "chunk-0000" / "frame-00001.json")  # a 64×48 painting
    cases["canvas"] = (bad / "sequence.json", "frame 1 (chunk-0000/frame-00001.json): its canvas is 64×48, "
                                              "the sequence's 48×36")
    bad = copy("ids")
    raw = json.loads((bad / "sequence.json").read_text(encoding="utf-8"))
    raw["frames"][1]["stroke_ids"] = raw["frames"][1]["stroke_ids"][:-1]
    (bad / "sequence.json").write_text(json.dumps(raw), encoding="utf-8")
    cases["ids"] = (bad / "sequence.json", "but the manifest lists")
    return cases


def test_bad_input_is_refused_and_leaves_nothing_behind(sequence_dir: Path, tmp_path: Path) -> None:
    cases = broken_copies(sequence_dir, tmp_path)
    result = bpy_eval(IMPORT + f"""
from diffpaint_addon import gp_sequence
def counts():
    return [len(bpy.data.objects), len(gp_import.grease_pencil_datablocks()), len(bpy.data.materials),
            len(bpy.data.images), len(bpy.data.actions)]
CASES = {json.dumps({name: str(path) for name, (path, _) in cases.items()})}
result = {{"before": counts()}}
for name, path in CASES.items():
    try:
        bpy.ops.diffpaint.import_sequence(filepath=path)
        result[name] = None
    except RuntimeError as e:  # the operator's ERROR report
        result[name] = str(e)
    result[name + "/after"] = counts()

# A failure half-way through the frames, after layers, drawings and materials exist.
add_levels, calls = gp_sequence.add_levels, []
def fail_on_second_frame(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        raise RuntimeError("late failure")
    return add_levels(*args, **kwargs)
gp_sequence.add_levels = fail_on_second_frame
try:
    gp_sequence.import_sequence(gp_sequence.load_sequence({str(sequence_dir / 'sequence.json')!r}), bpy.context.scene)
except RuntimeError as e:
    result["late"] = str(e)
result["late/after"] = counts()
""")
    for name, (_, message) in cases.items():
        assert result[name] is not None and message in result[name], (name, result[name])
        assert result[f"{name}/after"] == result["before"], name
    assert result["late"] == "late failure" and result["late/after"] == result["before"]


def test_the_panel_takes_a_folder_of_frames_or_a_movie_clip(sequence_dir: Path, tmp_path: Path) -> None:
    frames = sequence_dir.parent / "frames"
    result = bpy_eval(RECORDING_LAYOUT + f"""
import diffpaint_addon
from diffpaint_addon import panels, reconstruct_op

bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()
settings, wm = bpy.context.scene.diffpaint, bpy.context.window_manager.diffpaint
result = {{}}
for source in ("IMAGE", "FOLDER", "MOVIE"):
    settings.source = source
    log = []
    panels.draw_image_and_medium(Layout(log), Ctx(), False)
    panels.draw_import(Layout(log), Ctx())
    result[source] = {{"props": [kw.get("property", "") for _, kw in log], "texts": texts(log)}}

settings.source = "FOLDER"
try:  # no folder chosen: refused before anything starts
    bpy.ops.diffpaint.reconstruct()
    result["refused"] = None
except RuntimeError as e:
    result["refused"] = str(e)
result["state"] = [wm.state, wm.message, wm.running]
settings.frames_folder = {str(frames)!r}
chosen = reconstruct_op.sequence_source(bpy.context)
result["folder"] = [chosen.name, chosen.path]
settings.source = "IMAGE"
settings.image = bpy.data.images.load({str(frames / 'frame_0.png')!r})
result["still"] = reconstruct_op.sequence_source(bpy.context)
settings.image.source = "SEQUENCE"
result["image_sequence"] = reconstruct_op.sequence_source(bpy.context).path
result["is_sequence"] = reconstruct_op.is_sequence_source(bpy.context, False)
result["in_menu"] = any(getattr(f, "__name__", "") == "menu_import"
                        for f in bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize())
""")
    assert "image" in result["IMAGE"]["props"] and "frames_folder" not in result["IMAGE"]["props"]
    assert "frames_folder" in result["FOLDER"]["props"] and "movie" in result["MOVIE"]["props"]
    assert "Frame by frame, on the backend server" in result["FOLDER"]["texts"]
    assert "Frame by frame, on the backend server" not in result["IMAGE"]["texts"]
    for drawn in result.values():
        if isinstance(drawn, dict):
            assert "Import Sequence…" in drawn["texts"] and "sequence_step" in drawn["props"]
    assert result["refused"] is not None and "Choose the folder of the sequence's frames" in result["refused"]
    assert result["state"][0] == "FAILED" and not result["state"][2]
    assert result["folder"] == ["frames", str(frames)]
    assert result["still"] is None  # a still image goes the single-image way
    assert result["image_sequence"] == str(frames)
    assert result["is_sequence"] and result["in_menu"]

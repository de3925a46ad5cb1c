"""blend_job: stroke file -> .blend + PNG, rendered headless. Checks color management and the
camera framing: background and stroke pixels must come out as the file's sRGB colors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from blender_helpers import ROOT, bpy_eval, run_python
from PIL import Image

from diffpaint_shared.strokefile import Canvas, Stroke, StrokeFile, save

BACKGROUND = (0.2, 0.4, 0.8)
RED, GREEN, YELLOW = (0.9, 0.1, 0.1), (0.1, 0.7, 0.3), (0.95, 0.85, 0.2)


def painting() -> StrokeFile:
    """64x64: a wide red stroke across the top, a green one below, and a yellow one painted last
    (higher level) crossing the red one; all opaque, constant radius and color. A smudge whose
    deposits have no strength must leave no trace."""
    return StrokeFile(
        canvas=Canvas(64, 64, BACKGROUND),
        strokes=(
            Stroke(points=((8, 16), (32, 16), (56, 16)), radius=(5, 5), color=(RED, RED), level=0, order=0),
            Stroke(points=((8, 48), (32, 48), (56, 48)), radius=(4, 4), color=(GREEN, GREEN), level=0, order=1),
            Stroke(points=((40, 6), (40, 20), (40, 34)), radius=(3, 3), color=(YELLOW, YELLOW), level=1, order=2),
            Stroke(points=((6, 32), (16, 32), (26, 32)), radius=(3, 3), color=((0, 0, 0), (0, 0, 0)), kind="smudge",
                   level=1, order=3, deposit_color=((0, 0, 0),) * 2, deposit_strength=(0.0, 0.0)),
        ),
    )


def blend_job(*args: str) -> None:
    proc = run_python(["-m", "diffpaint_addon.blend_job", *args], timeout=180)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("render")
    save(painting(), out / "strokes.json")
    blend_job(str(out / "strokes.json"), "--blend", str(out / "scene.blend"), "--png", str(out / "final.png"),
              "--frames", "30")
    return out


def pixel(png: Path, x: int, y: int) -> np.ndarray:
    """sRGB of canvas pixel (x, y) in [0, 255]."""
    return np.asarray(Image.open(png).convert("RGB"), dtype=np.int32)[y, x]


def expect(rgb: tuple[float, float, float]) -> np.ndarray:
    return np.round(np.array(rgb) * 255).astype(np.int32)


def test_render_has_the_canvas_size(rendered: Path) -> None:
    assert Image.open(rendered / "final.png").size == (64, 64)


@pytest.mark.parametrize("xy", [(2, 2), (61, 2), (2, 61), (61, 61), (32, 32), (16, 32)])
def test_background_matches_the_canvas_color(rendered: Path, xy: tuple[int, int]) -> None:
    assert np.abs(pixel(rendered / "final.png", *xy) - expect(BACKGROUND)).max() <= 2


@pytest.mark.parametrize(("xy", "rgb"), [((20, 16), RED), ((20, 48), GREEN), ((40, 26), YELLOW), ((40, 16), YELLOW)])
def test_stroke_centers_match_the_stroke_color(rendered: Path, xy: tuple[int, int], rgb: tuple) -> None:
    # (40, 16) is where the later, higher-level yellow stroke crosses the red one: it must be on top.
    assert np.abs(pixel(rendered / "final.png", *xy) - expect(rgb)).max() <= 3


def test_stroke_edges_are_where_the_file_puts_them(rendered: Path) -> None:
    """Red-stroke coverage down column x = 20 (linear blue channel: background 0.8, red 0.1): the
    stroke spans canvas y = 16 +- 5, so coverage should sum to its width, centered on y = 16."""
    column = np.asarray(Image.open(rendered / "final.png").convert("RGB"), dtype=np.float64)[:32, 20, 2] / 255

    def linear(c: np.ndarray | float) -> np.ndarray:
        return np.where(np.asarray(c) <= 0.04045, np.asarray(c) / 12.92, ((np.asarray(c) + 0.055) / 1.055) ** 2.4)

    coverage = (linear(BACKGROUND[2]) - linear(column)) / (linear(BACKGROUND[2]) - linear(RED[2]))
    centers = np.arange(32) + 0.5
    assert coverage.sum() == pytest.approx(10.0, abs=0.3)
    assert (coverage * centers).sum() / coverage.sum() == pytest.approx(16.0, abs=0.2)


def test_early_frame_shows_the_painting_in_progress(rendered: Path) -> None:
    early = rendered / "early.png"
    blend_job(str(rendered / "strokes.json"), "--png", str(early), "--frames", "30", "--frame", "8")
    assert np.abs(pixel(early, 12, 16) - expect(RED)).max() <= 3  # first stroke begun
    assert np.abs(pixel(early, 20, 48) - expect(BACKGROUND)).max() <= 2  # second not yet
    assert np.abs(pixel(early, 40, 26) - expect(BACKGROUND)).max() <= 2  # third not yet


def test_saved_blend_reopens_with_the_painting(rendered: Path) -> None:
    result = bpy_eval(f"""
        import bpy
        bpy.ops.wm.open_mainfile(filepath={str(rendered / "scene.blend")!r})
        scene = bpy.context.scene
        gp = [o for o in scene.objects if o.type == "GREASEPENCIL"]
        result = {{"gp": [o.name for o in gp], "camera": scene.camera.name,
                   "frames": [scene.frame_start, scene.frame_end], "layers": [l.name for l in gp[0].data.layers]}}
    """)
    assert result == {"gp": ["strokes"], "camera": "DiffPaint Camera", "frames": [1, 31],
                      "layers": ["Canvas", "Level 1", "Level 2", "Level 2 Smudge"]}


def test_bad_stroke_file_fails_cleanly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something else"}')
    proc = run_python(["-m", "diffpaint_addon.blend_job", str(bad), "--blend", str(tmp_path / "x.blend")], cwd=ROOT)
    assert proc.returncode == 2
    assert "not a DiffPaint stroke file" in proc.stderr
    assert not (tmp_path / "x.blend").exists()


@pytest.mark.parametrize("size", [(40, 64), (64, 40)])
def test_non_square_canvases_are_framed_exactly(tmp_path: Path, size: tuple[int, int]) -> None:
    """A stroke hugging the bottom-right corner lands there whichever side is the long one."""
    w, h = size
    doc = StrokeFile(canvas=Canvas(w, h, BACKGROUND), strokes=(
        Stroke(points=((w - 20, h - 5), (w - 12, h - 5), (w - 4, h - 5)), radius=(3, 3), color=(RED, RED)),
    ))
    save(doc, tmp_path / "s.json")
    blend_job(str(tmp_path / "s.json"), "--png", str(tmp_path / "r.png"), "--frames", "10")
    assert Image.open(tmp_path / "r.png").size == (w, h)
    assert np.abs(pixel(tmp_path / "r.png", w - 12, h - 5) - expect(RED)).max() <= 3
    assert np.abs(pixel(tmp_path / "r.png", w - 12, h - 10) - expect(BACKGROUND)).max() <= 2
    assert np.abs(pixel(tmp_path / "r.png", w - 26, h - 5) - expect(BACKGROUND)).max() <= 2

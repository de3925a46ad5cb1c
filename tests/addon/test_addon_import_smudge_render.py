"""Smudges rendered by Blender: a smudge whose deposits are known leaves the predicted trace, so the
render with its Smudge layer is closer to the prediction than the render without it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from blender_helpers import run_python, srgb_to_linear
from PIL import Image

from diffpaint_shared.strokefile import Canvas, Stroke, StrokeFile, save

W, H = 64, 48
BACKGROUND, RED = (0.3, 0.5, 0.8), (0.9, 0.1, 0.1)
STRENGTH = 0.6  # every stamp deposits red this strongly


def painting() -> StrokeFile:
    """A red paint stroke along y = 14, then a smudge along y = 34 that deposits red at STRENGTH."""
    return StrokeFile(canvas=Canvas(W, H, BACKGROUND), strokes=(
        Stroke(points=((8, 14), (32, 14), (56, 14)), radius=(4, 4), color=(RED, RED), level=0, order=0),
        Stroke(points=((10, 34), (32, 34), (54, 34)), radius=(5, 5), color=(RED, RED), kind="smudge", level=0,
               order=1, deposit_color=(RED,) * 5, deposit_strength=(STRENGTH,) * 5),
    ))


def capsule_coverage(a: tuple[float, float], b: tuple[float, float], r: float, supersample: int = 4) -> np.ndarray:
    """(H, W) fraction of each pixel within r of the segment a-b, by supersampling."""
    s = (np.arange(W * supersample) + 0.5) / supersample
    t = (np.arange(H * supersample) + 0.5) / supersample
    px, py = np.meshgrid(s, t)
    (ax, ay), (bx, by) = a, b
    u = np.clip(((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / ((bx - ax) ** 2 + (by - ay) ** 2), 0, 1)
    inside = np.hypot(px - ax - u * (bx - ax), py - ay - u * (by - ay)) < r
    return inside.reshape(H, supersample, W, supersample).mean(axis=(1, 3))


def predicted() -> np.ndarray:
    """sRGB (H, W, 3) in [0, 1]: red "over" the background where painted, and red at STRENGTH over it
    where smudged; blended in linear light."""
    lin = np.vectorize(srgb_to_linear)
    bg, red = lin(np.array(BACKGROUND)), lin(np.array(RED))
    paint = capsule_coverage((8, 14), (56, 14), 4)[..., None]
    smudged = STRENGTH * capsule_coverage((10, 34), (54, 34), 5)[..., None]
    linear = bg + paint * (red - bg) + smudged * (red - bg)
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)


def render(doc: StrokeFile, folder: Path) -> np.ndarray:
    save(doc, folder / "strokes.json")
    proc = run_python(["-m", "diffpaint_addon.blend_job", str(folder / "strokes.json"), "--png",
                       str(folder / "render.png"), "--frames", "10"], timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return np.asarray(Image.open(folder / "render.png").convert("RGB"), dtype=np.float64) / 255


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((a - b) ** 2)))


def test_the_smudge_layer_brings_the_render_closer_to_the_predicted_painting(tmp_path: Path) -> None:
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    doc = painting()
    with_smudge = render(doc, tmp_path / "with")
    without = render(replace(doc, strokes=doc.strokes[:1]), tmp_path / "without")
    target = predicted()
    gain = psnr(with_smudge, target) - psnr(without, target)
    assert gain > 5.0, (psnr(with_smudge, target), psnr(without, target))
    # Along the smudge's middle, where its soft edge has not set in, the color is the predicted blend.
    assert np.abs(with_smudge[34, 16:48] - target[34, 16:48]).max() < 0.02

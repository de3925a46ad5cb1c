"""Refining a finished (possibly edited) stroke file: `optimize.refine` and `diffpaint refine`."""

import json
import subprocess
import sys
from dataclasses import replace

import torch
from PIL import Image
from server_helpers import png_bytes

from diffpaint.fit.optimize import Settings, reconstruct, refine
from diffpaint.imageio import load_image, read_image
from diffpaint.painting import render_painting
from diffpaint_shared import strokefile


def _diffpaint(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diffpaint", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_refine_keeps_order_and_smudges_adds_on_top_and_fits_better(painting_path):
    target = read_image(painting_path, 64).rgb
    background = tuple(target.mean(dim=(0, 1)).tolist())
    settings = Settings(strokes=60, levels=2, iterations=12, rounds=1, smudge=True, smudge_share=0.3)
    first = reconstruct(target, background, settings).strokes
    assert len(first.smudge) > 0, "the fixture needs a smudge to check that refine keeps it"
    # A user's edit: every paint stroke nudged off its fit.
    edited = replace(first, paint=replace(first.paint, points=first.paint.points + 2.0))
    bg = torch.tensor(background).expand_as(target).contiguous()
    with torch.no_grad():
        edited_error = (render_painting(edited, bg) - target).abs().mean().item()

    result = refine(edited, target, background, replace(settings, iterations=15), add=5)
    painting = result.strokes
    assert len(painting.paint) == len(first.paint) + 5
    assert torch.equal(painting.smudge.points, first.smudge.points)  # smudge geometry frozen
    assert torch.equal(painting.smudge_after, first.smudge_after)  # …and in the same place in the order
    assert torch.equal(painting.paint.level[: len(first.paint)], first.paint.level)
    assert (painting.paint.level[len(first.paint):] == settings.levels - 1).all()  # added at the finest level
    assert (result.canvas - target).abs().mean().item() < edited_error


def test_refine_command_continues_from_a_stroke_file(reconstruction, tmp_path):
    doc = strokefile.load(reconstruction / "strokes.json")
    trimmed = tmp_path / "trimmed.json"  # as if strokes were deleted in Blender
    strokefile.save(replace(doc, strokes=doc.strokes[:-20]), trimmed)
    out = tmp_path / "refined"
    proc = _diffpaint("refine", trimmed, "--target", reconstruction / "target.png", "--out", out,
                      "--add", 20, "--iterations", 20, "--gif-frames", 4)
    assert proc.returncode == 0, proc.stderr
    refined = strokefile.load(out / "strokes.json")
    report = json.loads((out / "report.json").read_text())
    assert len(refined.strokes) == len(doc.strokes) == report["strokes"]
    assert refined.metadata["refined_from"] == "trimmed.json"
    target, _ = load_image(reconstruction / "target.png", 1 << 16)
    trimmed_render = tmp_path / "trimmed.png"
    assert _diffpaint("render", trimmed, "--out", trimmed_render).returncode == 0
    before, _ = load_image(trimmed_render, 1 << 16)
    after, _ = load_image(out / "render.png", 1 << 16)
    assert (after - target).abs().mean() < (before - target).abs().mean()


def test_refine_refuses_a_target_of_another_shape_a_textured_file_and_a_missing_one(reconstruction, tmp_path):
    strokes = reconstruction / "strokes.json"
    wide = tmp_path / "wide.png"
    Image.new("RGB", (300, 100), "white").save(wide)
    proc = _diffpaint("refine", strokes, "--target", wide, "--out", tmp_path / "a")
    assert proc.returncode == 2 and "give the image the stroke file was fitted to" in proc.stderr
    assert not (tmp_path / "a").exists()
    doc = strokefile.load(strokes)
    textured = tmp_path / "textured.json"
    strokefile.save(replace(doc, textures={"oil-0": strokefile.Texture("oil", png_bytes())}), textured)
    proc = _diffpaint("refine", textured, "--target", reconstruction / "target.png", "--out", tmp_path / "c")
    assert proc.returncode == 2 and "refine the unstyled reconstruction, then stylize it again" in proc.stderr
    proc = _diffpaint("refine", tmp_path / "missing.json", "--target", wide, "--out", tmp_path / "b")
    assert proc.returncode == 2 and "cannot read stroke file" in proc.stderr

"""The style phase in the pipeline: reconstruct with a medium, and `diffpaint stylise` / `render`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from diffpaint import samples
from diffpaint.imageio import load_image, save_png
from diffpaint.metrics import psnr
from diffpaint.optimize import Settings, reconstruct
from diffpaint.painting import to_stroke_file
from diffpaint.style import render_styled_painting
from diffpaint_addon import strokefile


def _diffpaint(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diffpaint", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def small_settings(style: str) -> Settings:
    return Settings(strokes=12, levels=1, iterations=5, rounds=1, smudge=False, style=style, style_iterations=3)


def test_reconstruct_in_a_medium_textures_every_paint_stroke() -> None:
    target, _ = load_image(samples.painting(37942).path, 48)  # a watercolour
    background = tuple(target.mean(dim=(0, 1)).tolist())
    rec = reconstruct(target, background, small_settings("watercolor"))  # type: ignore[arg-type]
    assert rec.style is not None and rec.style.name == "watercolor"
    assert len(rec.style.variant) == len(rec.strokes.paint) > 0
    bg = torch.tensor(background).expand_as(target).contiguous()
    with torch.no_grad():
        assert torch.allclose(rec.canvas, render_styled_painting(rec.strokes, rec.style, bg))
    assert rec.psnr == psnr(rec.canvas, target)


@pytest.fixture(scope="module")
def reconstruction(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small plain reconstruction's strokes.json and target.png, as `diffpaint reconstruct` writes them."""
    out = tmp_path_factory.mktemp("plain")
    target, _ = load_image(samples.painting(39668).path, 48)
    background = tuple(target.mean(dim=(0, 1)).tolist())
    rec = reconstruct(target, background, small_settings("digital"))  # type: ignore[arg-type]
    height, width = target.shape[:2]
    strokefile.save(to_stroke_file(rec.strokes, width, height, background, {}), out / "strokes.json")  # type: ignore[arg-type]
    save_png(target, out / "target.png")
    return out


def test_stylise_writes_a_textured_file_that_renders_as_reported(reconstruction: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "pencil.json", tmp_path / "pencil.png"
    proc = _diffpaint("stylise", reconstruction / "strokes.json", "--target", reconstruction / "target.png",
                      "--style", "pencil", "--iterations", "3", "--out", out, "--render", png)
    assert proc.returncode == 0, proc.stderr
    doc = strokefile.load(out)
    assert {t.style for t in doc.textures.values()} == {"pencil"}
    paint = [s for s in doc.strokes if s.kind == "paint"]
    assert paint and all(s.texture in doc.textures and s.mapping is not None for s in paint)
    assert _diffpaint("render", out, "--out", tmp_path / "again.png").returncode == 0
    again, _ = load_image(tmp_path / "again.png", max_side=1 << 16)
    reported, _ = load_image(png, max_side=1 << 16)
    assert psnr(again, reported) > 50.0

    twice = _diffpaint("stylise", out, "--target", reconstruction / "target.png", "--style", "ink", "--out",
                       tmp_path / "x.json")
    assert twice.returncode == 2 and "textured already" in twice.stderr
    wrong = _diffpaint("stylise", reconstruction / "strokes.json", "--target", png.with_name("missing.png"),
                       "--style", "ink", "--out", tmp_path / "y.json")
    assert wrong.returncode == 2 and not (tmp_path / "y.json").exists()

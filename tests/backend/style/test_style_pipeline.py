"""The style phase in the pipeline: reconstruct with a medium, and `diffpaint stylize` / `render`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from diffpaint import samples
from diffpaint.fit.optimize import PROGRESS_EVERY, Progress, Settings, reconstruct, style_steps_per_level
from diffpaint.imageio import load_image, save_png
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, to_stroke_file
from diffpaint.style import StrokeStyle, render_styled_painting
from diffpaint_shared import strokefile


def _diffpaint(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diffpaint", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def small_settings(style: str) -> Settings:
    return Settings(strokes=12, levels=1, iterations=5, rounds=1, smudge=False, style=style, style_iterations=3)


def test_reconstruct_in_a_medium_textures_every_paint_stroke() -> None:
    target, _ = load_image(samples.painting(37942).path, 48)  # a watercolor
    background = tuple(target.mean(dim=(0, 1)).tolist())
    rec = reconstruct(target, background, small_settings("watercolor"))  # type: ignore[arg-type]
    assert rec.style is not None and rec.style.name == "watercolor"
    assert len(rec.style.variant) == len(rec.strokes.paint) > 0
    bg = torch.tensor(background).expand_as(target).contiguous()
    with torch.no_grad():
        assert torch.allclose(rec.canvas, render_styled_painting(rec.strokes, rec.style, bg))
    assert rec.psnr == psnr(rec.canvas, target)


def test_each_level_is_textured_before_the_next_and_reports_its_style_steps() -> None:
    target, _ = load_image(samples.painting(436535).path, 48)  # Van Gogh, oil
    background = tuple(target.mean(dim=(0, 1)).tolist())
    bg = torch.tensor(background).expand_as(target).contiguous()
    settings = Settings(strokes=24, levels=2, iterations=4, rounds=1, smudge=True, smudge_share=0.3,
                        smudge_iterations=2, style="oil", style_iterations=8)
    events: list[Progress] = []
    levels: list[tuple[int, Painting, torch.Tensor, StrokeStyle | None]] = []
    rec = reconstruct(target, background, settings, events.append,  # type: ignore[arg-type]
                      lambda n, painting, canvas, style: levels.append((n, painting, canvas, style)))
    assert rec.style is not None and len(rec.style.variant) == len(rec.strokes.paint)
    assert len(rec.strokes.smudge) > 0  # the first level's smudges act on its textured canvas
    with torch.no_grad():
        assert torch.allclose(rec.canvas, render_styled_painting(rec.strokes, rec.style, bg))
        for n, painting, canvas, style in levels:  # each level's canvas is its prefix of the painting, textured
            prefix = rec.style.select(torch.arange(len(painting.paint)))
            assert style is not None and torch.equal(style.variant, prefix.variant), n  # on_level's style so far
            assert psnr(canvas, render_styled_painting(painting, style, bg)) > 60.0, n
    # Style steps are reported per level (every PROGRESS_EVERY steps and the last), after that level's paint
    # steps, and counted in the fraction.
    phases = [(e.level, e.phase) for e in events]
    style_steps = style_steps_per_level(settings)

    def reported(steps: int) -> list[int]:
        return [i for i in range(1, steps + 1) if i % PROGRESS_EVERY == 0 or i == steps]

    for level in (1, 2):
        assert phases.count((level, "style")) == len(reported(style_steps[level - 1]))
        paint_at = max(i for i, lp in enumerate(phases) if lp == (level, "paint"))
        assert all(i > paint_at for i, lp in enumerate(phases) if lp == (level, "style"))
    assert phases.index((1, "style")) < phases.index((1, "smudge"))
    style_events = [e for e in events if e.phase == "style"]
    assert all(e.canvas is not None and e.canvas.shape == target.shape for e in style_events)
    assert [e.iteration for e in style_events if e.level == 2] == reported(style_steps[1])
    fractions = [e.fraction for e in events]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)


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


def test_stylize_writes_a_textured_file_that_renders_as_reported(reconstruction: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "pencil.json", tmp_path / "pencil.png"
    proc = _diffpaint("stylize", reconstruction / "strokes.json", "--target", reconstruction / "target.png",
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

    twice = _diffpaint("stylize", out, "--target", reconstruction / "target.png", "--style", "ink", "--out",
                       tmp_path / "x.json")
    assert twice.returncode == 2 and "textured already" in twice.stderr
    wrong = _diffpaint("stylize", reconstruction / "strokes.json", "--target", png.with_name("missing.png"),
                       "--style", "ink", "--out", tmp_path / "y.json")
    assert wrong.returncode == 2 and not (tmp_path / "y.json").exists()

"""Canvas grain on the backend (diffpaint.grain): the shipped textures, the bare canvas, the fit of scale
and strength under a finished painting, and a reconstruction that writes its grain into the stroke file."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from diffpaint.fit.optimize import Settings
from diffpaint.grain.fit import GRAIN_SCALES, canvas_image, fit_grain
from diffpaint.grain.textures import BANK, grain_texture, gray_texels
from diffpaint.imageio import load_image, save_png
from diffpaint.painting import from_stroke_file, render_painting
from diffpaint.results import reconstruct_image
from diffpaint.style import initial_style, render_styled_painting
from diffpaint_shared import strokefile as sf
from diffpaint_shared.color import linear_to_srgb
from diffpaint_shared.grain import canvas_linear
from diffpaint_shared.jobschema import GRAINS, JobSettings

BACKGROUND = (0.85, 0.8, 0.7)


@pytest.mark.parametrize("name", GRAINS)
def test_every_grain_ships_small_gray_and_cc0(name: str) -> None:
    grain = grain_texture(name)
    assert (BANK / f"{name}.png").stat().st_size < 20_000
    assert gray_texels(grain.png).shape == (128, 128)
    assert "CC-0" in grain.source and name in (BANK / "SOURCES.md").read_text()
    assert grain.strength == 0.0 and gray_texels(grain.png).std() > 10  # a texture, not a flat gray


def test_an_unknown_grain_is_refused() -> None:
    with pytest.raises(ValueError, match="grain must be one of canvas, paper, cold-press"):
        grain_texture("glitter")
    with pytest.raises(ValueError, match="grain must be one of none, canvas"):
        Settings(grain="glitter")


def test_the_bare_canvas_is_flat_without_grain_and_shaded_with_one() -> None:
    flat = canvas_image(BACKGROUND, None, 20, 10)
    assert flat.shape == (10, 20, 3) and torch.equal(flat, torch.tensor(BACKGROUND).expand(10, 20, 3))
    grain = replace(grain_texture("paper"), scale=2.0, strength=0.1)
    shaded = canvas_image(BACKGROUND, grain, 20, 10)
    expected = linear_to_srgb(canvas_linear(BACKGROUND, gray_texels(grain.png), 2.0, 0.1, 20, 10))
    assert shaded.numpy() == pytest.approx(expected.astype(np.float32), abs=1e-6)


def _painting() -> sf.StrokeFile:
    """Three opaque and translucent strokes leaving most of a 96×64 canvas bare."""
    red, blue = (0.8, 0.2, 0.1), (0.1, 0.3, 0.7)
    return sf.StrokeFile(canvas=sf.Canvas(96, 64, BACKGROUND), strokes=(
        sf.Stroke(points=((10, 12), (48, 4), (86, 14)), radius=(5, 7), color=(red, blue), order=0),
        sf.Stroke(points=((20, 50), (40, 30), (70, 52)), radius=(6, 4), color=(blue, blue), opacity=0.6, order=1),
        sf.Stroke(points=((80, 30), (60, 40), (30, 36)), radius=(3, 3), color=(red, red), opacity=0.8, order=2),
    ))


@pytest.mark.parametrize(("scale", "strength", "medium"), [(2.0, 0.06, "digital"), (4.0, 0.15, "digital"),
                                                          (2.0, 0.1, "oil")])
def test_the_fit_finds_the_grain_under_a_painting(scale: float, strength: float, medium: str) -> None:
    painting = from_stroke_file(_painting())
    style = None if medium == "digital" else initial_style(medium, len(painting.paint))

    def finished(bare: torch.Tensor) -> torch.Tensor:
        return render_painting(painting, bare) if style is None else render_styled_painting(painting, style, bare)

    truth = replace(grain_texture("canvas"), scale=scale, strength=strength)
    with torch.no_grad():
        target = finished(canvas_image(BACKGROUND, truth, 96, 64))
    fitted = fit_grain("canvas", target, BACKGROUND, finished)
    assert (fitted.name, fitted.scale) == ("canvas", scale)
    assert fitted.strength == pytest.approx(strength, abs=0.004)
    assert fitted.png == truth.png and fitted.source == truth.source


def test_a_flat_canvas_fits_no_grain() -> None:
    painting = from_stroke_file(_painting())
    with torch.no_grad():
        target = render_painting(painting, canvas_image(BACKGROUND, None, 96, 64))
    fitted = fit_grain("paper", target, BACKGROUND, lambda bare: render_painting(painting, bare))
    assert fitted.strength == 0.0 and fitted.scale in GRAIN_SCALES


def test_a_reconstruction_with_grain_writes_it_into_the_stroke_file(tmp_path: Path) -> None:
    truth = replace(grain_texture("paper"), scale=2.0, strength=0.12)
    with torch.no_grad():
        image = render_painting(from_stroke_file(_painting()), canvas_image(BACKGROUND, truth, 96, 64))
    save_png(image, tmp_path / "grainy.png")
    job = JobSettings(strokes=3, levels=1, iterations=4, rounds=1, size=96, background="#d9ccb3", grain="paper")
    summary = reconstruct_image(tmp_path / "grainy.png", job, tmp_path / "out", process_frames=None,
                                joint_iterations=0, relocation_iterations=0)
    doc = sf.load(summary.strokes_path)
    grain = doc.canvas.grain
    # Four steps leave the strokes far off: the grain is fitted, but to their residual too.
    assert grain is not None and grain.name == "paper" and grain.scale in GRAIN_SCALES
    assert 0.0 < grain.strength < 0.3
    assert doc.canvas.background == pytest.approx(BACKGROUND, abs=1 / 255)
    # The run's render is the painting of its stroke file over its grain canvas.
    with torch.no_grad():
        again = render_painting(from_stroke_file(doc), canvas_image(doc.canvas.background, grain, 96, 64))
    rendered, _ = load_image(tmp_path / "out" / "render.png", 1 << 16)
    assert (rendered - again).abs().max() < 2 / 255
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["psnr"] > report["blank_psnr"]


def test_render_and_refine_of_a_grain_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`diffpaint render` shows the file's grain (at --scale too); refine, which has no grain fit, refuses it."""
    from diffpaint.cli import main
    from diffpaint.grain.fit import file_canvas

    doc = _painting()
    grainy = replace(doc, canvas=replace(doc.canvas, grain=replace(grain_texture("cold-press"), scale=2.0,
                                                                      strength=0.1)))
    sf.save(grainy, tmp_path / "s.json")
    assert main(["render", str(tmp_path / "s.json"), "--out", str(tmp_path / "r.png"), "--scale", "2"]) == 0
    rendered, _ = load_image(tmp_path / "r.png", 1 << 16)
    bare = file_canvas(grainy.canvas, 2.0)
    assert torch.equal(bare, canvas_image(BACKGROUND, replace(grainy.canvas.grain, scale=4.0), 192, 128))
    with torch.no_grad():
        expected = render_painting(from_stroke_file(grainy).scaled(2.0), bare)
    assert (rendered - expected).abs().max() < 1.5 / 255
    save_png(expected, tmp_path / "target.png")
    assert main(["refine", str(tmp_path / "s.json"), "--target", str(tmp_path / "target.png"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "has a canvas grain" in capsys.readouterr().err


def test_a_canvas_over_the_fit_side_fits_its_grain_at_full_size() -> None:
    """Strokes are fitted at `fit_max_side`, the grain on the full canvas: its scale is in full-size pixels."""
    from diffpaint.fit.optimize import reconstruct

    truth = replace(grain_texture("canvas"), scale=4.0, strength=0.15)
    with torch.no_grad():
        target = render_painting(from_stroke_file(_painting()), canvas_image(BACKGROUND, truth, 96, 64))
    settings = Settings(strokes=3, levels=1, rounds=1, iterations=20, joint_iterations=0, relocation_iterations=0,
                        fit_max_side=48, grain="canvas")
    result = reconstruct(target, BACKGROUND, settings)
    assert result.canvas.shape == target.shape and result.grain is not None
    assert result.grain.scale == 4.0 and result.grain.strength == pytest.approx(0.15, abs=0.05)
    with torch.no_grad():
        again = render_painting(result.strokes, canvas_image(BACKGROUND, result.grain, 96, 64))
    assert torch.equal(again, result.canvas)

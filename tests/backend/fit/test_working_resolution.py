"""`Settings.fit_max_side`: canvases larger than it are fitted at that long side, their strokes scaled up to the
full canvas; canvases up to it are fitted exactly as without a cap."""

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.fit.optimize import Progress, Reconstruction, Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, render_painting
from diffpaint.style import StrokeStyle

# Small and quick: 2 levels, a few steps of every phase, a floor below the cap for the coarse level.
SMALL = Settings(strokes=24, levels=2, rounds=1, iterations=4, joint_iterations=4, relocation_iterations=2,
                 min_working_side=8)


def working_sides(target: Tensor, background: tuple[float, float, float], settings: Settings
                  ) -> tuple[Reconstruction, dict[tuple[str, int], set[int]], list[Tensor]]:
    """The reconstruction, the long sides of the images each (phase, level) reported progress on, and the
    paint strokes' points `on_level` was given after each level."""
    sides: dict[tuple[str, int], set[int]] = {}
    levels: list[Tensor] = []

    def on_progress(p: Progress) -> None:
        assert p.canvas is not None
        sides.setdefault((p.phase, p.level), set()).add(max(p.canvas.shape[:2]))

    def on_level(level: int, painting: Painting, canvas: Tensor, style: StrokeStyle | None) -> None:
        levels.append(painting.paint.points)

    return reconstruct(target, background, settings, on_progress=on_progress, on_level=on_level), sides, levels


def test_a_canvas_over_the_cap_is_fitted_as_its_downscaled_target_and_painted_in_full(painting_path: Path) -> None:
    target, _ = load_image(painting_path, 64)
    height, width = target.shape[:2]
    background = tuple(target.mean(dim=(0, 1)).tolist())
    result, sides, levels = working_sides(target, background, replace(SMALL, fit_max_side=32))

    # The finest level and the joint phase work at the cap, the coarse level at half of it.
    assert sides[("paint", 2)] == {32} and sides[("joint", 2)] == {32}
    assert sides[("paint", 1)] == {16}
    # Exactly the fit of the target downscaled to the cap, its strokes scaled up to the canvas.
    small = F.interpolate(target.permute(2, 0, 1)[None], scale_factor=0.5, mode="area")[0].permute(1, 2, 0)
    alone, _, alone_levels = working_sides(small.contiguous(), background, SMALL)
    assert torch.equal(result.strokes.paint.points, alone.strokes.paint.points * 2.0)
    assert len(levels) == 2 and all(torch.equal(a, b * 2.0) for a, b in zip(levels, alone_levels, strict=True))
    assert torch.equal(result.strokes.paint.radius, alone.strokes.paint.radius * 2.0)
    # Rendered on the full canvas, which its strokes reach across and paint.
    assert result.canvas.shape == target.shape
    bg_image = torch.tensor(background).expand_as(target).contiguous()
    assert torch.equal(result.canvas, render_painting(result.strokes, bg_image, SMALL.raster))
    centers = result.strokes.paint.points[:, 1]
    assert centers[:, 0].max() - centers[:, 0].min() > 0.6 * width
    assert centers[:, 1].max() - centers[:, 1].min() > 0.6 * height
    assert result.psnr == psnr(result.canvas, target) > psnr(bg_image, target) + 1.0


def test_a_textured_canvas_over_the_cap_fits_its_paint_at_the_cap_and_its_style_in_full(painting_path: Path) -> None:
    target, _ = load_image(painting_path, 64)
    result, sides, _ = working_sides(target, (1.0, 1.0, 1.0), replace(SMALL, fit_max_side=32, style="ink",
                                                                   style_iterations=2))
    assert sides[("paint", 2)] == {32} and sides[("paint", 1)] == {16}
    assert sides[("style", 2)] == sides[("style", 1)] == {64}
    assert result.canvas.shape == target.shape


def test_a_canvas_up_to_the_cap_is_fitted_as_without_one(painting_path: Path) -> None:
    target, _ = load_image(painting_path, 48)
    capped = reconstruct(target, (1.0, 1.0, 1.0), replace(SMALL, fit_max_side=48))
    uncapped = reconstruct(target, (1.0, 1.0, 1.0), replace(SMALL, fit_max_side=4096))
    assert torch.equal(capped.strokes.paint.points, uncapped.strokes.paint.points)
    assert torch.equal(capped.canvas, uncapped.canvas)

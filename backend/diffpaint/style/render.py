"""Textured strokes and paintings rendered: the plain renderer's stages with the texture shader."""

from __future__ import annotations

from torch import Tensor

from diffpaint.painting import Painting, PaintStep, Run, render_runs
from diffpaint.render import RasterSettings, Rendered, render
from diffpaint.strokes import Strokes
from diffpaint.style.shader import texture_shader, textured_raster
from diffpaint.style.stroke_style import StrokeStyle


def render_styled(strokes: Strokes, style: StrokeStyle, background: Tensor,
                  settings: RasterSettings | None = None) -> Rendered:
    """Paint textured strokes in order over a background (H, W, 3); colors in and out are sRGB."""
    raster = textured_raster(settings)
    return render(strokes, background, raster, texture_shader(strokes, style, raster.samples))


def run_style(style: StrokeStyle, run: Run) -> StrokeStyle:
    """The part of a painting's style (its paint strokes' parameters, in order) that textures `run`."""
    return style.select(slice(run.first_paint, run.first_paint + len(run.paint)))


def styled_paint(style: StrokeStyle, raster: RasterSettings | None = None) -> PaintStep:
    """The paint step of strokes textured by `style`, which holds the painting's paint strokes in order."""
    return lambda run, canvas: render_styled(run.paint, run_style(style, run), canvas, raster).image


def render_styled_painting(painting: Painting, style: StrokeStyle, background: Tensor,
                           raster: RasterSettings | None = None) -> Tensor:
    """A painting whose paint strokes (in order) are textured by `style`: sRGB (H, W, 3), differentiable."""
    return render_runs(painting, background, styled_paint(style, raster))

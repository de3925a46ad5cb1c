"""How closely the SVG export matches the backend's render, on real reconstructions.

    .venv/bin/python bench/svg_vs_render.py [--size 256] [--strokes 256] [--only oil ink] [--no-smudge]
                                            [--iterations 80] [--textured]

Each painting is reconstructed, its strokes written as SVG and rasterized by resvg, and compared
with the backend's render at 1× and 4× (PSNR, dB). The backend blends in linear light and SVG
renderers in sRGB, so (without smudge strokes) the SVG is also compared with the backend's
compositing done in sRGB: what is left there is geometry and anti-aliasing.

With --textured, each painting is reconstructed in its own medium (tempera as oil), and its
textured SVG is compared with the backend's textured render; the same SVG with its textures
left out (how the export drew textured strokes before it embedded textures) is compared too.
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

import numpy as np
import torch
from quality import PAINTINGS

from diffpaint import samples
from diffpaint.export.svg import rasterize_svg, to_svg
from diffpaint.fit.optimize import Reconstruction, Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import render_painting, to_stroke_file
from diffpaint.render import RasterSettings, TileGrid
from diffpaint.render.composite import composite_over
from diffpaint.render.raster import rasterize
from diffpaint.strokes import Strokes
from diffpaint.style import attach_style, render_styled_painting
from diffpaint_shared.strokefile import StrokeFile

MEDIUM = {"oil": "oil", "tempera": "oil", "ink": "ink", "watercolor": "watercolor"}  # painting → style


def srgb_blended(strokes: Strokes, background: torch.Tensor) -> torch.Tensor:
    """The backend's render with colors blended in sRGB, as SVG renderers blend them."""
    settings = RasterSettings()
    grid = TileGrid(*background.shape[:2], settings.tile)
    frags = rasterize(strokes.points, strokes.radius, strokes.color, grid, settings)
    return composite_over(frags, strokes.opacity, background, grid)[0]


def pixels(svg: str, scale: float) -> torch.Tensor:
    return torch.from_numpy(np.asarray(rasterize_svg(svg, scale), dtype=np.float32) / 255.0)


def untextured(doc: StrokeFile) -> StrokeFile:
    return replace(doc, strokes=tuple(replace(s, texture=None, mapping=None) for s in doc.strokes), textures={})


def reconstruction(painting_name: str, args: argparse.Namespace, style: str = "digital") -> Reconstruction:
    """The painting reconstructed in `style` as the bench's options say (over its mean color)."""
    target = load_image(samples.painting(PAINTINGS[painting_name]).path, args.size)[0]
    settings = Settings(strokes=args.strokes, smudge=args.smudge, style=style, iterations=args.iterations)
    return reconstruct(target, tuple(target.mean(dim=(0, 1)).tolist()), settings)


def timed_svg(doc: StrokeFile) -> tuple[str, float]:
    """The SVG export of `doc` and the milliseconds it took."""
    start = time.perf_counter()
    svg = to_svg(doc)
    return svg, 1000 * (time.perf_counter() - start)


def against_backend(svg: str, result: Reconstruction) -> list[float]:
    """PSNR of the rasterized SVG against the backend's render of `result` (textured if it is) at 1× and 4×."""
    height, width = result.canvas.shape[:2]
    color = torch.tensor(result.background)
    figures = []
    for scale in (1, 4):
        background = color.expand(round(height * scale), round(width * scale), 3).contiguous()
        with torch.no_grad():
            scaled = result.strokes.scaled(scale)
            backend = (render_painting(scaled, background) if result.style is None
                       else render_styled_painting(scaled, result.style, background))
        figures.append(psnr(pixels(svg, scale), backend))
    return figures


def textured_main(args: argparse.Namespace) -> None:
    print("| painting | style | size | strokes (smudge) | textured SVG vs render 1× | 4× | SVG without textures "
          "vs render 1× | SVG KiB | write ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for painting_name in args.only:
        medium = MEDIUM[painting_name]
        result = reconstruction(painting_name, args, medium)
        assert result.style is not None
        painting, style = result.strokes, result.style
        height, width = result.canvas.shape[:2]
        doc = attach_style(to_stroke_file(painting, width, height, result.background, {}), style)
        svg, write_ms = timed_svg(doc)
        figures = against_backend(svg, result)
        without = psnr(pixels(to_svg(untextured(doc)), 1), result.canvas)
        print(f"| {painting_name} | {medium} | {width}×{height} | {len(painting)} ({len(painting.smudge)}) "
              f"| {figures[0]:.2f} | {figures[1]:.2f} | {without:.2f} | {len(svg) / 1024:.0f} | {write_ms:.0f} |",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--strokes", type=int, default=256)
    parser.add_argument("--only", nargs="*", choices=list(PAINTINGS), default=list(PAINTINGS))
    parser.add_argument("--smudge", action=argparse.BooleanOptionalAction, default=Settings.smudge)
    parser.add_argument("--iterations", type=int, default=Settings.iterations, help="paint steps per round")
    parser.add_argument("--textured", action="store_true", help="reconstruct in each painting's medium")
    args = parser.parse_args()
    if args.textured:
        textured_main(args)
        return

    print("| painting | size | strokes (smudge) | SVG vs render 1× | 4× | SVG vs sRGB-blended render | SVG KiB "
          "| write ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for medium in args.only:
        result = reconstruction(medium, args)
        painting = result.strokes
        height, width = result.canvas.shape[:2]
        svg, write_ms = timed_svg(to_stroke_file(painting, width, height, result.background, {}))
        figures = against_backend(svg, result)
        same_blend = math.nan  # a smudge's effect has no sRGB-blended counterpart
        if len(painting.smudge) == 0:
            with torch.no_grad():
                background = torch.tensor(result.background).expand(height, width, 3)
                same_blend = psnr(pixels(svg, 1), srgb_blended(painting.paint, background))
        print(f"| {medium} | {width}×{height} | {len(painting)} ({len(painting.smudge)}) | {figures[0]:.2f} "
              f"| {figures[1]:.2f} | {same_blend:.2f} | {len(svg) / 1024:.0f} | {write_ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()

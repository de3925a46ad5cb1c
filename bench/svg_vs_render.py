"""How closely the SVG export matches the backend's render, on real reconstructions.

    .venv/bin/python bench/svg_vs_render.py [--size 256] [--strokes 256] [--only oil ink] [--no-smudge]

Each painting is reconstructed, its strokes written as SVG and rasterized by resvg, and compared
with the backend's render at 1× and 4× (PSNR, dB). The backend blends in linear light and SVG
renderers in sRGB, so (without smudge strokes) the SVG is also compared with the backend's
compositing done in sRGB: what is left there is geometry and anti-aliasing. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from quality import PAINTINGS

from diffpaint import samples
from diffpaint.export.svg import rasterize_svg, to_svg
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import render_painting, to_stroke_file
from diffpaint.render import RasterSettings, TileGrid
from diffpaint.render.composite import composite_over
from diffpaint.render.raster import rasterize
from diffpaint.strokes import Strokes


def srgb_blended(strokes: Strokes, background: torch.Tensor) -> torch.Tensor:
    """The backend's render with colors blended in sRGB, as SVG renderers blend them."""
    settings = RasterSettings()
    grid = TileGrid(*background.shape[:2], settings.tile)
    frags = rasterize(strokes.points, strokes.radius, strokes.color, grid, settings)
    return composite_over(frags, strokes.opacity, background, grid)[0]


def pixels(svg: str, scale: float) -> torch.Tensor:
    return torch.from_numpy(np.asarray(rasterize_svg(svg, scale), dtype=np.float32) / 255.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--strokes", type=int, default=256)
    parser.add_argument("--only", nargs="*", choices=list(PAINTINGS), default=list(PAINTINGS))
    parser.add_argument("--smudge", action=argparse.BooleanOptionalAction, default=Settings.smudge)
    args = parser.parse_args()

    print("| painting | size | strokes (smudge) | SVG vs render 1× | 4× | SVG vs sRGB-blended render | SVG KiB "
          "| write ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for medium in args.only:
        target = load_image(samples.painting(PAINTINGS[medium]).path, args.size)[0]
        height, width = target.shape[:2]
        color = target.mean(dim=(0, 1))
        result = reconstruct(target, tuple(color.tolist()), Settings(strokes=args.strokes, smudge=args.smudge))
        painting = result.strokes
        doc = to_stroke_file(painting, width, height, tuple(color.tolist()), {})
        start = time.perf_counter()
        svg = to_svg(doc)
        write_ms = 1000 * (time.perf_counter() - start)
        figures = []
        for scale in (1, 4):
            background = color.expand(round(height * scale), round(width * scale), 3).contiguous()
            with torch.no_grad():
                backend = render_painting(painting.scaled(scale), background)
            figures.append(psnr(pixels(svg, scale), backend))
        same_blend = math.nan  # a smudge's effect has no sRGB-blended counterpart
        if len(painting.smudge) == 0:
            with torch.no_grad():
                same_blend = psnr(pixels(svg, 1), srgb_blended(painting.paint, color.expand(height, width, 3)))
        print(f"| {medium} | {width}×{height} | {len(painting)} ({len(painting.smudge)}) | {figures[0]:.2f} "
              f"| {figures[1]:.2f} | {same_blend:.2f} | {len(svg) / 1024:.0f} | {write_ms:.0f} |", flush=True)


if __name__ == "__main__":
    main()

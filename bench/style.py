"""Style phase on real paintings: PSNR/SSIM unstyled, textured before and after the style phase, its
time, and how closely Blender's render of the textured stroke file matches the backend's.

    .venv/bin/python bench/style.py [--size 128] [--strokes 256] [--out bench-style/] [--no-blender]

Each Met painting (CC0) is reconstructed once with plain strokes; then each medium listed for it
textures those strokes (initial style = "before"), and the style phase fits the per-stroke texture
parameters ("after"). With Blender (bpy, in a subprocess per render), the textured stroke file is
imported and rendered, and its PSNR against the backend's render is reported; side-by-side PNGs
(backend | Blender) go to --out. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import blender_psnr, plain_fit

from diffpaint.fit.optimize import Settings
from diffpaint.imageio import load_image, save_png
from diffpaint.metrics import psnr, ssim
from diffpaint.painting import to_stroke_file
from diffpaint.style import (
    StyleSettings,
    attach_style,
    initial_style,
    optimize_style,
    render_styled_painting,
    styled_painting,
)

RUNS = {  # Met object ID → media textured on its reconstruction
    436535: ("oil",),  # Van Gogh, Wheat Field with Cypresses (oil)
    39668: ("ink", "pencil", "digital"),  # Guo Xi, Old Trees, Level Distance (ink)
    37942: ("watercolor",),  # Devidasa of Nurpur, Shiva and Parvati Playing Chaupar (watercolor)
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--strokes", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=40, help="paint steps per round")
    parser.add_argument("--style-iterations", type=int, default=StyleSettings.iterations)
    parser.add_argument("--out", type=Path, default=Path("bench-style"))
    parser.add_argument("--no-blender", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"{args.size} px, {args.strokes} strokes, {args.iterations} paint steps per round, no smudge; "
          f"style phase {args.style_iterations} steps; {torch.get_num_threads()} CPU threads\n")
    print("| painting | style | plain PSNR / SSIM | before PSNR / SSIM | after PSNR / SSIM | after − plain (dB) "
          "| style phase (s) | Blender vs backend PSNR (dB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for pid, media in RUNS.items():
        plain = plain_fit(pid, args.size, Settings(strokes=args.strokes, iterations=args.iterations))
        target, bg = plain.target, plain.background_image
        height, width = target.shape[:2]
        for medium in media:
            style = initial_style(medium, len(plain.painting.paint))
            with torch.no_grad():
                before = render_styled_painting(styled_painting(plain.painting, style), style, bg)
            start = time.perf_counter()
            painting, fitted = optimize_style(plain.painting, style, target, bg,
                                              replace(StyleSettings(), iterations=args.style_iterations))
            seconds = time.perf_counter() - start
            with torch.no_grad():
                after = render_styled_painting(painting, fitted, bg)
            versus = "—"
            if not args.no_blender:
                doc = attach_style(to_stroke_file(painting, width, height, plain.background, {}), fitted)
                name = f"{pid}-{medium}"
                versus = f"{blender_psnr(doc, after, args.out, name):.2f}"
                blender, _ = load_image(args.out / f"{name}-blender.png", max_side=1 << 16)
                save_png(torch.cat([after, blender], dim=1), args.out / f"{name}-side-by-side.png")
            scores = [f"{psnr(x, target):.2f} / {ssim(x, target):.3f}" for x in (plain.canvas, before, after)]
            gain = psnr(after, target) - psnr(plain.canvas, target)
            print(f"| {pid} | {medium} | {' | '.join(scores)} | {gain:+.2f} "
                  f"| {seconds:.1f} | {versus} |", flush=True)


if __name__ == "__main__":
    main()

"""Canvas grain: what fitting a grain under a finished painting gains, and how Blender shows it.

    .venv/bin/python bench/grain.py [--size 256] [--strokes 128] [--pid 436535] [--blender]

One Met painting (the Van Gogh by default) reconstructed in plain strokes over its mean color (no grain;
the grain is fitted after the strokes, so this is the run `--grain` makes up to that point), then each
shipped grain fitted under it (`diffpaint.grain.fit_grain`): PSNR without and with, the fitted scale and
strength, and the fit's wall time. With --blender, also Blender's render of each grain painting against
the backend's (bench/common.blender_psnr).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from common import blender_psnr, plain_fit

from diffpaint.fit.optimize import Settings
from diffpaint.grain.fit import canvas_image, fit_grain
from diffpaint.metrics import psnr
from diffpaint.painting import render_painting, to_stroke_file
from diffpaint_shared.jobschema import GRAINS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--strokes", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--pid", type=int, default=436535)
    parser.add_argument("--blender", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    fit = plain_fit(args.pid, args.size, Settings(strokes=args.strokes, iterations=args.iterations))
    height, width = fit.target.shape[:2]
    flat = psnr(fit.canvas, fit.target)
    line = (f"painting {args.pid} at {width}×{height} px, {args.strokes} strokes, fitted in {fit.seconds:.1f} s: "
            f"PSNR {flat:.3f} dB on a flat canvas")

    def finished(bare: torch.Tensor) -> torch.Tensor:
        return render_painting(fit.painting, bare)

    with tempfile.TemporaryDirectory() as folder:
        if args.blender:
            doc = to_stroke_file(fit.painting, width, height, fit.background, {})
            line += f", Blender vs backend {blender_psnr(doc, fit.canvas, Path(folder), 'flat'):.2f} dB"
        print(line)
        for name in GRAINS:
            start = time.perf_counter()
            grain = fit_grain(name, fit.target, fit.background, finished)
            seconds = time.perf_counter() - start
            with torch.no_grad():
                canvas = finished(canvas_image(fit.background, grain, width, height))
            score = psnr(canvas, fit.target)
            line = (f"{name:>10}: scale {grain.scale:g}, strength {grain.strength:.3f}: PSNR {score:.3f} dB "
                    f"({score - flat:+.3f}), fit {seconds:.2f} s")
            if args.blender:
                doc = to_stroke_file(fit.painting, width, height, fit.background, {}, grain=grain)
                line += f", Blender vs backend {blender_psnr(doc, canvas, Path(folder), name):.2f} dB"
            print(line)


if __name__ == "__main__":
    main()

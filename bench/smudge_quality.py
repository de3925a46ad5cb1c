"""Reconstruction with and without the smudge phase, at the same total stroke budget.

    .venv/bin/python bench/smudge_quality.py [--size 256] [--strokes 256] [--only oil ink]

The images of bench/quality.py (Met CC0 paintings across media and a photo), each reconstructed
with `Settings(smudge=False)` and `Settings(smudge=True)`, the budget counting paint and smudge
strokes together. Prints PSNR, SSIM, banding (`diffpaint.fit.banding`: hard steps where the target
is smooth; lower is better) and wall time, the smudge strokes kept, then the mean of each.

Then, for the smudged runs, how well the stroke file's deposits stand in for the smudges in a
renderer without canvas state (Blender): every smudge stroke drawn as plain paint with its
per-stamp deposit colors and strengths (`deposits_as_paint`), against the true render, and, for
reference, the same painting with its smudge strokes left out. PSNR over the whole image and over
the pixels the smudges change (by more than 1/255).
"""

from __future__ import annotations

import argparse
import time

import torch
from quality import PAINTINGS, benchmark_images
from torch import Tensor

from diffpaint.fit.banding import banding
from diffpaint.fit.optimize import Reconstruction, Settings, reconstruct
from diffpaint.metrics import psnr, ssim
from diffpaint.painting import deposits_as_paint, smudge_deposits_of
from diffpaint.render import render


def masked_psnr(a: Tensor, b: Tensor, mask: Tensor) -> float:
    return psnr(a[mask], b[mask]) if bool(mask.any()) else float("nan")


def deposit_check(result: Reconstruction) -> tuple[float, float, float, float]:
    """PSNR vs the true render of (deposits as paint, smudges left out): whole image, then changed pixels."""
    painting, true = result.strokes, result.canvas
    background = torch.tensor(result.background).expand_as(true).contiguous()
    color, strength = smudge_deposits_of(painting, background)
    with torch.no_grad():
        approx = render(deposits_as_paint(painting, color, strength), background).image
        without = render(painting.paint, background).image
    changed = (true - without).abs().amax(dim=-1) > 1 / 255
    return (psnr(approx, true), psnr(without, true),
            masked_psnr(approx, true, changed), masked_psnr(without, true, changed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--strokes", type=int, default=256)
    parser.add_argument("--only", nargs="+", choices=[*PAINTINGS, "photo"], help="subset of images")
    args = parser.parse_args()

    images = benchmark_images(args.size, args.only)

    print(f"{args.size} px long side, {args.strokes} strokes, default settings otherwise, "
          f"{torch.get_num_threads()} CPU threads\n")
    print("| image | smudge | paint + smudge strokes | PSNR (dB) | SSIM | banding | time (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows: dict[bool, list[tuple[float, float, float, float]]] = {False: [], True: []}
    smudged: dict[str, Reconstruction] = {}
    for name, target in images.items():
        background = tuple(target.mean(dim=(0, 1)).tolist())
        for on in (False, True):
            start = time.perf_counter()
            result = reconstruct(target, background, Settings(strokes=args.strokes, smudge=on))  # type: ignore[arg-type]
            seconds = time.perf_counter() - start
            row = (psnr(result.canvas, target), ssim(result.canvas, target), banding(result.canvas, target), seconds)
            rows[on].append(row)
            if on:
                smudged[name] = result
            counts = f"{len(result.strokes.paint)} + {len(result.strokes.smudge)}"
            print(f"| {name} | {'on' if on else 'off'} | {counts} | {row[0]:.2f} | {row[1]:.3f} | {row[2]:.2e} | "
                  f"{seconds:.0f} |", flush=True)

    print("\n| smudge | mean PSNR (dB) | mean SSIM | mean banding | mean time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for on, values in rows.items():
        p, s, b, t = (sum(col) / len(col) for col in zip(*values, strict=True))
        print(f"| {'on' if on else 'off'} | {p:.2f} | {s:.3f} | {b:.2e} | {t:.0f} |")

    print("\nDeposits as plain paint vs the true smudged render (PSNR, dB; higher is closer):\n")
    print("| image | smudge strokes | deposits, whole | no smudges, whole | deposits, changed px | "
          "no smudges, changed px |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, result in smudged.items():
        a, w, am, wm = deposit_check(result)
        print(f"| {name} | {len(result.strokes.smudge)} | {a:.2f} | {w:.2f} | {am:.2f} | {wm:.2f} |", flush=True)


if __name__ == "__main__":
    main()

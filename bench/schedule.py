"""Placement and schedule variants against the default: quality per second, measured in lockstep.

    .venv/bin/python bench/schedule.py [--size 256] [--strokes 200] [--only astronaut met436535]
                                       [--variants default levels4 rounds3 rmsprop]

Each variant is a set of `Settings` overrides (VARIANTS). For every image the variants run one after
the other, alternating, so on a busy machine each variant sees about the same load; time is reported as
seconds and as a ratio to the default's run on the same image, which is the meaningful figure under load.
Images are bench/peers.py's 256×256 targets (resized with --size). Tune on these, never to them.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import torch
from peers import targets

from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.metrics import detail_ratio, psnr, ssim

# name → Settings overrides. Variants that change the step count keep it where the point is the schedule
# (rounds3: three placement rounds of 54 steps against two of 80).
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "levels4": {"levels": 4},
    "levels5": {"levels": 5},
    "rounds3": {"rounds": 3, "iterations": 54},
    "rmsprop": {"optimizer": "rmsprop"},
    "joint200": {"joint_iterations": 200},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--strokes", type=int, default=200)
    parser.add_argument("--only", nargs="+", choices=["astronaut", "coffee", "met436535"])
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    variants = args.variants if "default" in args.variants else ["default", *args.variants]

    print(f"{args.size}² targets, {args.strokes} strokes, {torch.get_num_threads()} CPU threads\n")
    print("| image | variant | PSNR (dB) | SSIM | detail ratio | time (s) | time ÷ default |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for name, target in targets(args.only, args.size).items():
        background = tuple(target.mean(dim=(0, 1)).tolist())
        default_seconds = None
        for variant in variants:
            settings = replace(Settings(strokes=args.strokes), **VARIANTS[variant])
            start = time.perf_counter()
            result = reconstruct(target, background, settings)
            seconds = time.perf_counter() - start
            default_seconds = default_seconds or seconds
            p, s, d = psnr(result.canvas, target), ssim(result.canvas, target), detail_ratio(result.canvas, target)
            print(f"| {name} | {variant} | {p:.2f} | {s:.3f} | {d:.2f} | {seconds:.0f} | "
                  f"{seconds / default_seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()

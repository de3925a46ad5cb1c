"""One-shot vs recursive smudge on the paper's red-circle test (its Fig. 8).

    .venv/bin/python bench/smudge.py [--size 1024] [--radius 100] [--repeats 3] [--png out.png]

A white canvas with a red disc (radius 15 % of the canvas) at its center; one smudge stroke of
radius 100 px (scaled with --size) is dragged left to right through it. Both brush models
(`smudge`, one-shot Beta-kernel initialization; `smudge_recursive`, the classic Eqs. 5–6) run at
10, 20 and 100 stamps with the default SmudgeSettings otherwise. Prints forward and forward+backward
(gradients to the stroke's points and radii) times and the per-pixel mean L1 between the two
results, as a markdown table. --png saves, for each stamp count, the two results side by side
(one-shot left, recursive right), one row per count.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable

import torch
from common import best_time
from torch import Tensor

from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes, smudge, smudge_recursive

Smudger = Callable[[Tensor, SmudgeStrokes, SmudgeSettings], Tensor]


def red_circle(size: int) -> Tensor:
    """White canvas (size, size, 3) with a red disc of radius 0.15·size at its center (1 px soft edge)."""
    c = torch.arange(size, dtype=torch.float32) + 0.5
    py, px = torch.meshgrid(c, c, indexing="ij")
    d = torch.sqrt((px - 0.5 * size) ** 2 + (py - 0.5 * size) ** 2)
    inside = torch.sigmoid(0.15 * size - d)[..., None]
    return inside * torch.tensor([0.9, 0.1, 0.1]) + (1.0 - inside) * torch.ones(3)


def smudge_stroke(size: int, radius: float) -> SmudgeStrokes:
    """One gently bent stroke from 20 % to 80 % of the width, through the canvas center."""
    s = float(size)
    points = torch.tensor([[[0.2 * s, 0.5 * s], [0.5 * s, 0.45 * s], [0.8 * s, 0.5 * s]]])
    return SmudgeStrokes(points, torch.full((1, 2), radius))


def run(fn: Smudger, size: int, radius: float, settings: SmudgeSettings, grad: bool) -> Tensor:
    """One smudge of the test stroke (and a backward pass to its geometry when `grad`)."""
    stroke = smudge_stroke(size, radius)
    stroke.points.requires_grad_(grad)
    stroke.radius.requires_grad_(grad)
    out = fn(red_circle(size), stroke, settings)
    if grad:
        out.mean().backward()
    return out.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--radius", type=float, default=None, help="stroke radius in px (default 100·size/1024)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--png", default=None, help="save both results side by side here")
    args = parser.parse_args()
    radius = args.radius if args.radius is not None else 100.0 * args.size / 1024
    base = SmudgeSettings()
    print(f"canvas {args.size}², stroke radius {radius:g} px, {torch.get_num_threads()} CPU threads, "
          f"best of {args.repeats}; {base}\n")
    print("| stamps | one-shot fwd | recursive fwd | one-shot fwd+bwd | recursive fwd+bwd | mean L1 | "
          "mean change (one-shot / recursive) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    rows = []
    canvas = red_circle(args.size)
    for stamps in (10, 20, 100):
        settings = dataclasses.replace(base, stamps=stamps)
        case = (args.size, radius, settings)
        with torch.no_grad():
            of, o_img = best_time(run, args.repeats, smudge, *case, False)
            rf, r_img = best_time(run, args.repeats, smudge_recursive, *case, False)
        ob, _ = best_time(run, args.repeats, smudge, *case, True)
        rb, _ = best_time(run, args.repeats, smudge_recursive, *case, True)
        l1 = (o_img - r_img).abs().mean().item()
        dc_o = (o_img - canvas).abs().mean().item()
        dc_r = (r_img - canvas).abs().mean().item()
        print(f"| {stamps} | {of:.3f} s | {rf:.3f} s | {ob:.3f} s | {rb:.3f} s | {l1:.2e} | {dc_o:.2e} / {dc_r:.2e} |",
              flush=True)
        rows.append(torch.cat([o_img, r_img], dim=1))
    if args.png:
        from diffpaint.imageio import save_png

        save_png(torch.cat(rows, dim=0).clamp(0, 1), args.png)
        print(f"\nsaved {args.png} (rows: 10, 20, 100 stamps; one-shot left, recursive right)")


if __name__ == "__main__":
    main()

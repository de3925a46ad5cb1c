"""Parallel vs sequential stamp rendering, after the paper's Table 1.

    .venv/bin/python bench/parallel_vs_sequential.py [--size 1024] [--radius 100] [--repeats 3]

One stroke of radius 100 px across a 1,024² canvas, drawn as 10, 20 and 100 discrete stamps by the
parallel renderer (all stamps and pixels at once, RasterSettings(sweep=False)) and by the sequential
reference (stamp after stamp over the whole canvas). Prints forward and forward+backward times,
the speed-up, and the mean per-pixel L1 difference of the two images.
"""

from __future__ import annotations

import argparse

import torch
from common import best_time

from diffpaint.render import RasterSettings, render
from diffpaint.render.reference import render_sequential
from diffpaint.strokes import Strokes


def stroke(size: int, radius: float) -> Strokes:
    s = float(size)
    points = torch.tensor([[[0.15 * s, 0.6 * s], [0.5 * s, 0.15 * s], [0.85 * s, 0.6 * s]]])
    return Strokes(points, torch.full((1, 2), radius), torch.tensor([[[0.9, 0.1, 0.1], [0.9, 0.6, 0.1]]]),
                   torch.tensor([0.9]), torch.zeros(1, dtype=torch.long))


def run(renderer: str, size: int, radius: float, stamps: int, grad: bool) -> torch.Tensor:
    """One render (and backward pass when `grad`) of the test stroke with the named renderer."""
    s = stroke(size, radius)
    s.points.requires_grad_(grad)
    background = torch.ones(size, size, 3)
    if renderer == "parallel":
        image = render(s, background, RasterSettings(samples=stamps, sweep=False)).image
    else:
        image = render_sequential(s, background, stamps=stamps)
    if grad:
        image.mean().backward()
    return image.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--radius", type=float, default=100.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(f"canvas {args.size}², radius {args.radius:g} px, {torch.get_num_threads()} CPU threads, "
          f"best of {args.repeats}\n")
    print("| stamps | parallel fwd | sequential fwd | speed-up | parallel fwd+bwd | sequential fwd+bwd | speed-up "
          "| mean L1 |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for stamps in (10, 20, 100):
        case = (args.size, args.radius, stamps)
        with torch.no_grad():
            pf, p_img = best_time(run, args.repeats, "parallel", *case, False)
            sf, s_img = best_time(run, args.repeats, "sequential", *case, False)
        pb, _ = best_time(run, args.repeats, "parallel", *case, True)
        sb, _ = best_time(run, args.repeats, "sequential", *case, True)
        l1 = (p_img - s_img).abs().mean().item()
        print(f"| {stamps} | {pf:.3f} s | {sf:.3f} s | {sf / pf:.1f}× | {pb:.3f} s | {sb:.3f} s | {sb / pb:.1f}× "
              f"| {l1:.2e} |", flush=True)


if __name__ == "__main__":
    main()

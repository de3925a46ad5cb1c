"""Cost of one fitting step with and without the perceptual term, in lockstep.

    .venv/bin/python bench/perceptual_step.py [--size 256] [--strokes 512] [--repeats 5]

One step = render `--strokes` synthetic strokes (bench/common.py) over a flat canvas, the full loss against
bench/peers.py's astronaut at `--size` px, backward. Steps with perceptual weight 0 and 0.1 alternate, so a
busy machine slows both alike; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from common import random_strokes
from peers import targets

from diffpaint.fit.losses import LossWeights, total_loss
from diffpaint.render import render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--strokes", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    target = targets(["astronaut"])["astronaut"]
    if args.size != target.shape[0]:
        target = F.interpolate(target.permute(2, 0, 1)[None], size=(args.size, args.size), mode="area")[0]
        target = target.permute(1, 2, 0).contiguous()
    init = random_strokes(args.strokes, args.size)
    background = torch.full((args.size, args.size, 3), 0.5)
    times: dict[float, list[float]] = {0.0: [], 0.1: []}
    for repeat in range(args.repeats + 1):  # the first round warms up (and loads the network)
        for weight in times:
            strokes = init.select(torch.arange(len(init)))
            for p in (strokes.points, strokes.radius, strokes.color, strokes.opacity):
                p.requires_grad_()
            start = time.perf_counter()
            rendered = render(strokes, background)
            loss, _ = total_loss(rendered, target, strokes, LossWeights(segmentation=0.0, perceptual=weight),
                                 cell=args.size / 3, labels_tiles=None, num_regions=0)
            loss.backward()
            if repeat:
                times[weight].append(time.perf_counter() - start)
    off, on = statistics.median(times[0.0]), statistics.median(times[0.1])
    print(f"{args.size} px, {args.strokes} strokes, {torch.get_num_threads()} threads: step without perceptual "
          f"{off:.3f} s, with {on:.3f} s, ratio {on / off:.2f}")


if __name__ == "__main__":
    main()

"""Warm-started sequence fitting vs independent per-frame reconstructions, on a camera pan.

    .venv/bin/python bench/sequence.py [--size 256] [--strokes 256] [--frames 6] [--warm-iterations 30]

Frames are cut from a real painting (Van Gogh, "Wheat Field with Cypresses") by a window moving
--step px a frame. The same frames are fitted twice: warm (`diffpaint.batch.sequence.fit_frames`,
each frame from the one before) and cold (every frame reconstructed from scratch). Prints per frame
the time and PSNR of both, and the stroke share carried over; then warm time as a share of cold,
the mean PSNR gap, and flicker: the mean absolute change of the render between consecutive frames,
over the pixels where the target itself changes by less than --still (mean |Δ| over RGB). Timings
on a shared machine are noisy: compare runs made at the same time.
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch import Tensor

from diffpaint import samples
from diffpaint.batch.sequence import SequenceSettings, fit_frames
from diffpaint.batch.synthetic import pan
from diffpaint.fit.optimize import Settings
from diffpaint.imageio import read_image


def flicker(renders: list[Tensor], targets: list[Tensor], still: float) -> tuple[float, float]:
    """Mean |Δ render| between consecutive frames where the target's own |Δ| < `still`; and that
    region's share of the pixels."""
    changes, share = [], []
    for t in range(1, len(renders)):
        calm = (targets[t] - targets[t - 1]).abs().mean(dim=-1) < still
        if calm.any():
            changes.append((renders[t] - renders[t - 1]).abs().mean(dim=-1)[calm].mean().item())
        share.append(calm.float().mean().item())
    return statistics.fmean(changes), statistics.fmean(share)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--strokes", type=int, default=256)
    ap.add_argument("--frames", type=int, default=6)
    ap.add_argument("--iterations", type=int, default=Settings.iterations, help="cold: steps per round")
    ap.add_argument("--warm-iterations", type=int, default=SequenceSettings.warm_iterations)
    ap.add_argument("--warm-step", type=float, default=SequenceSettings.warm_step,
                    help="warm frames' learning rates as a share of a reconstruction's")
    ap.add_argument("--step", type=int, nargs=2, default=(2, 1), metavar=("DX", "DY"))
    ap.add_argument("--still", type=float, default=0.02)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    image = read_image(samples.painting(436535).path, 2 * args.size).rgb
    targets = pan(image, args.size, args.frames, tuple(args.step))
    background = tuple(targets[0].mean(dim=(0, 1)).tolist())
    fit = Settings(strokes=args.strokes, iterations=args.iterations)
    warm, cold = [], []
    fits = {name: fit_frames(targets, background, SequenceSettings(
        fit=fit, warm=name == "warm", warm_iterations=args.warm_iterations, warm_step=args.warm_step))
        for name in ("warm", "cold")}
    # Frame by frame in lockstep, so the two runs see the same load on a shared machine.
    for t, (w, c) in enumerate(zip(fits["warm"], fits["cold"], strict=True)):
        warm.append(w)
        cold.append(c)
        for name, f in (("warm", w), ("cold", c)):
            print(f"{name} frame {t}: {f.seconds:6.1f} s  PSNR {f.psnr:5.2f} dB  "
                  f"{len(f.stroke_ids)} strokes, {f.carried} carried, shift {f.shift}", flush=True)

    print(f"\n{args.size} px, {args.strokes} strokes, {args.frames} frames, pan {tuple(args.step)} px/frame, "
          f"cold {args.iterations} steps/round, warm {args.warm_iterations} steps at {args.warm_step:g}× the learning "
          f"rates, {torch.get_num_threads()} threads\n")
    print("| frame | cold s | warm s | cold PSNR | warm PSNR | carried |")
    print("| --- | --- | --- | --- | --- | --- |")
    for t, (c, w) in enumerate(zip(cold, warm, strict=True)):
        share = f"{w.carried / len(warm[t - 1].stroke_ids):.0%}" if t else "–"
        print(f"| {t} | {c.seconds:.1f} | {w.seconds:.1f} | {c.psnr:.2f} | {w.psnr:.2f} | {share} |")
    later = range(1, len(warm))
    warm_time = statistics.fmean(warm[t].seconds for t in later if warm[t].warm)
    cold_time = statistics.fmean(c.seconds for c in cold)
    gap = statistics.fmean(cold[t].psnr - warm[t].psnr for t in later)
    carried = statistics.fmean(warm[t].carried / len(warm[t - 1].stroke_ids) for t in later)
    still_w, share = flicker([f.canvas for f in warm], targets, args.still)
    still_c, _ = flicker([f.canvas for f in cold], targets, args.still)
    print(f"\nwarm frame time: {warm_time:.1f} s = {warm_time / cold_time:.0%} of a cold reconstruction "
          f"({cold_time:.1f} s)")
    print(f"PSNR, frames 1…: cold − warm = {gap:+.2f} dB (negative: warm is better)")
    print(f"flicker where the target changes < {args.still} ({share:.0%} of pixels): warm {still_w:.4f}, "
          f"independent {still_c:.4f} (ratio {still_w / still_c:.2f})")
    print(f"strokes carried over: {carried:.0%}")


if __name__ == "__main__":
    main()

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
from diffpaint.batch.sequence import FrameFit, SequenceSettings, fit_frames
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
    ap.add_argument("--temporal", type=float, nargs="+", default=[SequenceSettings.temporal],
                    help="temporal term weight(s) of warm frames (several: one warm run each)")
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
    runs = {"cold": SequenceSettings(fit=fit, warm=False)}
    for weight in args.temporal:
        runs[f"warm, temporal {weight:g}"] = SequenceSettings(
            fit=fit, warm_iterations=args.warm_iterations, warm_step=args.warm_step, temporal=weight)
    fitted: dict[str, list[FrameFit]] = {name: [] for name in runs}
    # Frame by frame in lockstep, so every run sees the same load on a shared machine.
    frames = zip(*(fit_frames(targets, background, s) for s in runs.values()), strict=True)
    for t, row in enumerate(frames):
        for name, f in zip(runs, row, strict=True):
            fitted[name].append(f)
            print(f"{name} frame {t}: {f.seconds:6.1f} s  PSNR {f.psnr:5.2f} dB  "
                  f"{len(f.stroke_ids)} strokes, {f.carried} carried, shift {f.shift}", flush=True)

    print(f"\n{args.size} px, {args.strokes} strokes, {args.frames} frames, pan {tuple(args.step)} px/frame, "
          f"cold {args.iterations} steps/round, warm {args.warm_iterations} steps at {args.warm_step:g}× the learning "
          f"rates, {torch.get_num_threads()} threads\n")
    cold = fitted.pop("cold")
    cold_time = statistics.fmean(c.seconds for c in cold)
    still_c, share = flicker([f.canvas for f in cold], targets, args.still)
    print(f"cold: {cold_time:.1f} s a frame, flicker {still_c:.4f} where the target changes < {args.still} "
          f"({share:.0%} of pixels)\n")
    print("| warm run | frame time / cold | PSNR cold − warm (frames 1…) | flicker warm / independent | carried |")
    print("| --- | --- | --- | --- | --- |")
    later = range(1, len(cold))
    for name, warm in fitted.items():
        warm_time = statistics.fmean(warm[t].seconds for t in later if warm[t].warm)
        gap = statistics.fmean(cold[t].psnr - warm[t].psnr for t in later)
        carried = statistics.fmean(warm[t].carried / len(warm[t - 1].stroke_ids) for t in later)
        still_w, _ = flicker([f.canvas for f in warm], targets, args.still)
        print(f"| {name} | {warm_time / cold_time:.0%} ({warm_time:.1f} s) | {gap:+.2f} dB | "
              f"{still_w / still_c:.2f} ({still_w:.4f}) | {carried:.0%} |")


if __name__ == "__main__":
    main()

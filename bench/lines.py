"""Thin strokes on inked lines: quality and the count of line-thin strokes of a reconstruction.

    .venv/bin/python bench/lines.py [--images 48948 39901 astronaut] [--strokes 200 512] [--label NAME]

Targets: two Met paintings with inked outlines (Wu Bin's "The Sixteen Luohans", 48948, and Han Gan's
"Night-Shining White", 39901, from diffpaint.samples, LANCZOS-resized to a long side of 256 px) and
bench/peers.py's 256×256 targets by name. Default settings. One row per run: PSNR / SSIM (scikit-image),
detail ratio (`metrics.detail_ratio`), wall time, and how many strokes end thin enough to be lines (mean
radius ≤ 1.5 px). To compare two versions of the code, run this script under each in turn (alternating,
so a busy machine slows both alike), e.g. with PYTHONPATH pointing at each checkout; `--label` names the
version in the rows.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from peers import targets
from PIL import Image

from diffpaint import samples
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.metrics import detail_ratio, psnr, ssim

SIZE = 256
LINE_THIN = 1.5  # px: strokes at most this wide in mean radius count as lines


def target(name: str) -> torch.Tensor:
    """A Met object ID at a long side of `SIZE`, or one of bench/peers.py's targets by name."""
    if not name.isdigit():
        return targets([name])[name]
    image = Image.open(samples.painting(int(name)).path).convert("RGB")
    scale = SIZE / max(image.size)
    image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", nargs="+", default=["48948", "39901", "astronaut"])
    parser.add_argument("--strokes", type=int, nargs="+", default=[200, 512])
    parser.add_argument("--label", default="this checkout")
    args = parser.parse_args()
    for name in args.images:
        image = target(name)
        background = tuple(image.mean(dim=(0, 1)).tolist())
        for n in args.strokes:
            start = time.perf_counter()
            result = reconstruct(image, background, Settings(strokes=n))
            seconds = time.perf_counter() - start
            canvas, paint = result.canvas, result.strokes.paint
            thin = int((paint.radius.mean(dim=1) <= LINE_THIN).sum())
            print(f"| {args.label} | {name} | {n} | {psnr(canvas, image):.2f} | {ssim(canvas, image):.3f} "
                  f"| {detail_ratio(canvas, image):.2f} | {seconds:.0f} | {thin} |", flush=True)


if __name__ == "__main__":
    main()

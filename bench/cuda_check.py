"""CUDA readiness check: the renderer forward+backward, the smudge operator and a small reconstruction on the GPU.

    .venv/bin/python bench/cuda_check.py [--size 512] [--strokes 1024] [--repeats 5] [--deterministic]

Prints the renderer's throughput (strokes × canvas pixels per second of forward+backward), its
agreement with the CPU render, a smudge forward+backward time, and a small reconstruction's time,
PSNR and host reads per paint step (`diffpaint.fit.sync`). On a machine without CUDA it prints
"no CUDA device: skipped" and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from common import random_strokes  # noqa: E402

from diffpaint import samples  # noqa: E402
from diffpaint.fit.optimize import Settings, reconstruct  # noqa: E402
from diffpaint.fit.sync import count_host_reads  # noqa: E402
from diffpaint.imageio import load_image  # noqa: E402
from diffpaint.render import render  # noqa: E402
from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes, smudge  # noqa: E402


def timed(fn, repeats: int) -> float:  # type: ignore[no-untyped-def]
    """Best wall time of `fn()` over `repeats` runs after a warm-up, waiting for the device each time."""
    fn()
    torch.cuda.synchronize()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--strokes", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--deterministic", action="store_true", help="reconstruct with deterministic kernels")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        built = f"built with CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        sys.exit(f"bench/cuda_check.py needs a CUDA device and PyTorch sees none (torch {torch.__version__}, "
                 f"{built}): nothing was measured")
    cuda = torch.device("cuda")
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name(cuda)}\n")

    cpu_strokes = random_strokes(args.strokes, args.size)
    strokes = cpu_strokes.to(cuda)
    for p in (strokes.points, strokes.radius, strokes.color, strokes.opacity):
        p.requires_grad_()
    background = torch.full((args.size, args.size, 3), 0.5, device=cuda)
    target = torch.rand(args.size, args.size, 3, generator=torch.Generator().manual_seed(1)).to(cuda)

    def step() -> None:
        (render(strokes, background).image - target).abs().mean().backward()

    seconds = timed(step, args.repeats)
    work = args.strokes * args.size * args.size
    print(f"render {args.size}² × {args.strokes} strokes, forward+backward: {seconds * 1e3:.1f} ms, "
          f"{work / seconds:.3g} stroke·px/s")
    with torch.no_grad():
        on_gpu = render(strokes, background).image.cpu()
        on_cpu = render(cpu_strokes, background.cpu()).image
    print(f"CUDA vs CPU render: max |diff| {(on_gpu - on_cpu).abs().max().item():.2e}")

    g = torch.Generator().manual_seed(2)
    center = torch.rand(16, 1, 2, generator=g) * args.size
    smudges = SmudgeStrokes((center + (torch.rand(16, 3, 2, generator=g) - 0.5) * 0.2 * args.size).to(cuda),
                            torch.full((16, 2), 0.02 * args.size).to(cuda))
    smudges.points.requires_grad_()

    def smear() -> None:
        smudge(background + 0.5 * target, smudges, SmudgeSettings()).mean().backward()

    print(f"smudge 16 strokes × 20 stamps on {args.size}², forward+backward: {timed(smear, args.repeats) * 1e3:.1f} ms")

    image, _ = load_image(samples.painting(436535).path, 128)
    settings = Settings(strokes=96, iterations=30, deterministic=args.deterministic)
    with count_host_reads() as reads:
        start = time.perf_counter()
        result = reconstruct(image.to(cuda), (1.0, 1.0, 1.0), settings, on_progress=lambda p: None)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    steps = settings.level_count * settings.rounds * settings.iterations
    print(f"reconstruction 128 px, 96 strokes, 30 iterations: {seconds:.1f} s, PSNR {result.psnr:.2f} dB, "
          f"{reads.total / steps:.2f} host reads per paint step ({sum(reads.implicit.values()) / steps:.2f} "
          "implicit)")


if __name__ == "__main__":
    main()

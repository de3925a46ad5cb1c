"""Renderer benchmark: forward+backward time per optimization step, and peak memory.

    .venv/bin/python bench/renderer.py [--repeats 5]

Each configuration runs in a fresh subprocess so its peak resident memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

CONFIGS = [(256, 512), (512, 1024), (1024, 4000)]  # (canvas px, strokes)


def measure(size: int, count: int, repeats: int) -> dict:
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from common import random_strokes

    from diffpaint.render import render

    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    strokes = random_strokes(count, size)
    params = [strokes.points, strokes.radius, strokes.color, strokes.opacity]
    for p in params:
        p.requires_grad_()
    background = torch.full((size, size, 3), 0.5)
    target = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(1))
    times = []
    for _ in range(repeats + 1):  # the first run warms up allocators and caches (none with repeats 0)
        start = time.perf_counter()
        loss = (render(strokes, background).image - target).abs().mean()
        loss.backward()
        times.append(time.perf_counter() - start)
    peak_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss) / 1024
    timed = sorted(times[1:] or times)  # with no repeats, the warm-up is the one timed pass
    return {"size": size, "strokes": count, "seconds": timed[len(timed) // 2], "peak_mib": peak_mib}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--one", nargs=2, type=int, help=argparse.SUPPRESS)  # internal: size, strokes
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.repeats)))
        return
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU\n")
    print("| canvas | strokes | forward+backward (median) | peak memory |")
    print("| --- | --- | --- | --- |")
    for size, count in CONFIGS:
        cmd = [sys.executable, __file__, "--one", str(size), str(count), "--repeats", str(args.repeats)]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
        print(f"| {size}² | {count} | {r['seconds']:.3f} s | {r['peak_mib']:.0f} MiB |", flush=True)


if __name__ == "__main__":
    main()

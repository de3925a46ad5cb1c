"""A batch in-process vs on a local Ray cluster: Ray's overhead.

    .venv/bin/python bench/batch_ray.py [--images 16] [--size 64] [--strokes 32] [--cpus 2]

Cuts --images crops from a real painting, then runs `diffpaint batch` over them twice into fresh
folders: --engine local (one image at a time, PyTorch using every core) and --engine ray on a local
cluster of --cpus CPUs (one image per CPU at a time; Ray's start-up included). Prints both wall times
and their ratio. On a machine shared with other work, timings are noisy: compare runs made together.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from diffpaint import cli, samples
from diffpaint.imageio import read_image, save_png


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--strokes", type=int, default=32)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--cpus", type=int, default=2)
    args = ap.parse_args()

    import ray

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        image = read_image(samples.painting(436535).path, 3 * args.size).rgb
        for i in range(args.images):
            y, x = (7 * i) % args.size, (13 * i) % (2 * args.size)
            save_png(image[y: y + args.size, x: x + args.size], folder / f"crop{i:02d}.png")
        common = ["--size", str(args.size), "--strokes", str(args.strokes), "--iterations", str(args.iterations)]
        times = {}
        for engine in ("local", "ray"):
            start = time.perf_counter()
            if engine == "ray":
                ray.init(num_cpus=args.cpus, include_dashboard=False)
            assert cli.main(["batch", str(folder), "--out", f"{tmp}/{engine}", "--engine", engine, *common]) == 0
            if engine == "ray":
                ray.shutdown()
            times[engine] = time.perf_counter() - start
        print(f"\n{args.images} images, {args.size} px, {args.strokes} strokes, {args.iterations} steps/round")
        print(f"in-process: {times['local']:.1f} s; Ray ({args.cpus} CPUs, start-up included): {times['ray']:.1f} s; "
              f"ratio {times['ray'] / times['local']:.2f}")


if __name__ == "__main__":
    main()

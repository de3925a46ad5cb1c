"""Grease Pencil import of a long reconstructed sequence, with real bpy.

    .venv/bin/python bench/gp_sequence_import.py [--frames 240] [--strokes 512] [--levels 3] [--repeats 1]

Synthesizes a sequence (a manifest and one stroke file per frame, written with the shared writers; no
fitting): every frame has --strokes random strokes (bench/gp_import.py's random_file, a new draw per
frame) whose ids carry over from frame to frame, as a warm-started sequence's mostly do. Times, best
of --repeats (each into a fresh empty scene): reading and checking the manifest and frame files, the
import into one Grease Pencil object (a keyframe per frame), and the export of one frame back to a
stroke file. Prints a markdown table. Runs bpy in this process: no torch.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gp_import import random_file  # noqa: E402  # bench/gp_import.py, beside this script

from diffpaint_shared import sequence, strokefile  # noqa: E402


def write_sequence(folder: Path, frames: int, strokes: int, levels: int) -> Path:
    """A sequence of ``frames`` random frames in ``folder``; returns its manifest."""
    entries = []
    for i in range(frames):
        name = f"frame-{i:05d}.json"
        strokefile.save(random_file(strokes, levels, smudge_share=0.0, seed=i), folder / name)
        entries.append(sequence.Frame(index=i, strokes=name, stroke_ids=tuple(range(strokes)), warm=i > 0))
    path = folder / sequence.MANIFEST_NAME
    sequence.save(sequence.Sequence(width=1024, height=1024, fps=24.0, frames=tuple(entries)), path)
    return path


def measure(manifest: Path, repeats: int) -> dict[str, float]:
    """Best time over ``repeats`` of each phase (seconds)."""
    import bpy

    from diffpaint_addon import gp_export, gp_sequence

    best = {"read": float("inf"), "import": float("inf"), "export": float("inf")}
    for _ in range(repeats):
        bpy.ops.wm.read_factory_settings(use_empty=True)
        start = time.perf_counter()
        loaded = gp_sequence.load_sequence(manifest)
        read = time.perf_counter()
        obj = gp_sequence.import_sequence(loaded, bpy.context.scene)
        imported = time.perf_counter()
        gp_export.export_strokes(obj, len(loaded.frames) // 2)
        exported = time.perf_counter()
        for key, seconds in (("read", read - start), ("import", imported - read), ("export", exported - imported)):
            best[key] = min(best[key], seconds)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--strokes", type=int, default=512)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_sequence(Path(tmp), args.frames, args.strokes, args.levels)
        best = measure(manifest, args.repeats)
    total = best["read"] + best["import"]
    print(f"{args.frames} frames × {args.strokes} strokes ({args.levels} levels), best of {args.repeats}:\n")
    print("| read + check files (s) | import (s) | read + import (s) | per frame (ms) | export one frame (s) |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    print(f"| {best['read']:.2f} | {best['import']:.2f} | {total:.2f} | {1000 * total / args.frames:.1f} "
          f"| {best['export']:.3f} |")


if __name__ == "__main__":
    main()

"""Grease Pencil import (and export) of a large stroke file, with real bpy.

    .venv/bin/python bench/gp_import.py [--strokes 10000] [--levels 3] [--repeats 3]

Random strokes (the backend's synthetic sizes on a 1024-px canvas) spread over the levels: all
paint, with a tenth of them smudges of 20 stamps each, and all paint textured (the committed oil
bank's textures, one drawn per stroke, the style phase's 16 mix levels, random mappings: Blender
gets a material per texture and mix, and per-stroke mapping attributes). For each, the best of --repeats runs
(each into a fresh empty scene) of: the time spent writing Grease Pencil attributes (the bulk
``foreach_set`` calls of gp_import._set), the whole import, and the whole export back to a stroke
file. Prints a markdown table. Runs bpy in this process: no torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from diffpaint_shared.strokefile import Canvas, Stroke, StrokeFile, Texture, TextureMapping  # noqa: E402

SIZE = 1024
STAMPS = 20
BANK = Path(__file__).resolve().parent.parent / "backend" / "diffpaint" / "style" / "bank"
MIX_LEVELS = 16


def random_file(count: int, levels: int, smudge_share: float, textured: bool = False, seed: int = 0) -> StrokeFile:
    """Strokes 5–15 % of the canvas long, radius 0.5–2 % of it plus 1 px, coarse levels first; with
    ``textured``, each paint stroke textured by one of the oil bank's textures."""
    rng = np.random.default_rng(seed)
    center = rng.random((count, 2)) * SIZE
    angle = rng.random(count) * np.pi
    half = (0.025 + 0.05 * rng.random(count)) * SIZE
    direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    bend = (rng.random((count, 2)) - 0.5) * half[:, None] * 0.5
    ends = np.stack([center - half[:, None] * direction, center + bend, center + half[:, None] * direction], axis=1)
    radius = (0.005 + 0.015 * rng.random((count, 2))) * SIZE + 1.0
    color = rng.random((count, 2, 3))
    smudge = rng.random(count) < smudge_share
    bank = sorted(BANK.glob("oil-*.png")) if textured else []
    textures = {path.stem: Texture("oil", path.read_bytes()) for path in bank}
    keys = sorted(textures)
    strokes = []
    for i in range(count):
        extra: dict[str, Any] = {}
        if textures and not smudge[i]:
            mapping = TextureMapping(u_scale=0.5 + rng.random(), u_translation=rng.random(),
                                     softness=0.5 * rng.random(), mix=rng.integers(MIX_LEVELS + 1) / MIX_LEVELS)
            extra = {"style": {"name": "oil"}, "texture": keys[rng.integers(len(keys))], "mapping": mapping}
        if smudge[i]:
            deposit = rng.random((STAMPS, 3))
            extra = {"kind": "smudge", "deposit_color": tuple(map(tuple, deposit)),
                     "deposit_strength": tuple(rng.random(STAMPS)), "color": (tuple(deposit[0]), tuple(deposit[-1]))}
        strokes.append(Stroke(points=tuple(map(tuple, ends[i])), radius=tuple(radius[i]),  # type: ignore[arg-type]
                              color=extra.pop("color", tuple(map(tuple, color[i]))), opacity=1.0,
                              level=i * levels // count, order=i, **extra))
    return StrokeFile(canvas=Canvas(SIZE, SIZE), strokes=tuple(strokes), textures=textures)


def timed(fn: Callable[..., Any], totals: dict[str, float], key: str) -> Callable[..., Any]:
    """``fn``, adding the wall time of each call to ``totals[key]``."""
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[key] += time.perf_counter() - start
    return wrapper


def measure(doc: StrokeFile, repeats: int) -> dict[str, float]:
    """Best time over ``repeats`` of each phase (seconds)."""
    import bpy

    from diffpaint_addon import gp_export, gp_import

    set_attribute = gp_import._set
    best = {"writes": np.inf, "import": np.inf, "export": np.inf}
    for _ in range(repeats + 1):  # the first run warms up
        bpy.ops.wm.read_factory_settings(use_empty=True)
        totals = {"writes": 0.0}
        gp_import._set = timed(set_attribute, totals, "writes")
        try:
            start = time.perf_counter()
            obj = gp_import.import_strokes(doc, bpy.context.scene)
            totals["import"] = time.perf_counter() - start
        finally:
            gp_import._set = set_attribute
        start = time.perf_counter()
        exported = gp_export.export_strokes(obj)
        totals["export"] = time.perf_counter() - start
        assert len(exported.strokes) == len(doc.strokes)
        if _ > 0:
            best = {k: min(v, totals[k]) for k, v in best.items()}
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strokes", type=int, default=10_000)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import bpy

    print(f"bpy {bpy.app.version_string}, {args.strokes} strokes in {args.levels} levels, best of {args.repeats}\n")
    print("| strokes | smudges | textured | attribute writes (s) | import (s) | export (s) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for share, textured in ((0.0, False), (0.1, False), (0.0, True)):
        doc = random_file(args.strokes, args.levels, share, textured)
        t = measure(doc, args.repeats)
        smudges = sum(s.kind == "smudge" for s in doc.strokes)
        print(f"| {args.strokes} | {smudges} | {sum(s.texture is not None for s in doc.strokes)} | {t['writes']:.3f} "
              f"| {t['import']:.3f} | {t['export']:.3f} |", flush=True)


if __name__ == "__main__":
    main()

"""The smudge phase, today's code against the original per-stamp smudge (issue 14's ≥ 5× target).

    OMP_NUM_THREADS=1 .venv/bin/python bench/smudge_speed.py [--size 128] [--strokes 10] [--stamps 10]
        [--steps 20] [--repeats 3] [--before 77dad44]

The original is read from git history (`--before`, the last commit before the smudge was vectorized):
its `render/smudge.py` and its `prune_smudges` (backward elimination, M² smudge passes). Both run the
pipeline's smudge phase the way `fit.optimize` does at one level: smudge strokes placed on the hard
steps a posterized copy of a sample painting has where the painting is smooth, `--steps` Adam steps of
fwd+bwd through `smudge` with the smudge weights, pruning, and the final smudge of the kept strokes.
Both run in this process, alternately, best of `--repeats`; prints the times, the ratio, and the mean
absolute difference of one smudge of the placed strokes, of the fitted images and of the final canvases.
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from diffpaint.fit.optimize import Settings, _SmudgeParameters
from diffpaint.fit.placement import place_smudges
from diffpaint.fit.smudge_fit import prune_smudges, smudge_loss
from diffpaint.imageio import load_image
from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes, smudge
from diffpaint.samples import paintings

ROOT = Path(__file__).resolve().parent.parent
Smudger = Callable[[Tensor, SmudgeStrokes, SmudgeSettings], Tensor]
Pruner = Callable[..., SmudgeStrokes]


def module_at(rev: str, path: str, name: str, replace: dict[str, object] | None = None) -> types.ModuleType:
    """The module at `path` as it was at git revision `rev`, with names in it replaced after loading (and
    the British spellings renamed since then)."""
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.replace("regulariser", "regularizer")
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:{path}", "exec"), module.__dict__)
    for key, value in (replace or {}).items():
        setattr(module, key, value)
    return module


def smudge_phase(smudger: Smudger, pruner: Pruner, target: Tensor, canvas: Tensor, start: SmudgeStrokes,
                 settings: Settings) -> tuple[Tensor, Tensor, float, float]:
    """`fit.optimize._smudge_phase` at full resolution: (last fitted image, final canvas, fit s, prune s)."""
    brush, weights, cell = settings.smudge_brush, settings.smudge_weights, float(max(target.shape[:2]))
    params = _SmudgeParameters(start, settings, cell)
    begin = time.perf_counter()
    image = canvas
    for _ in range(settings.smudge_iterations):
        strokes = params.strokes()
        image = smudger(canvas, strokes, brush)
        params.step(smudge_loss(image, target, strokes, weights, cell))
    fitted = time.perf_counter()
    with torch.no_grad():
        kept = pruner(target, canvas, params.strokes().detach(), brush, weights)
        final = smudger(canvas, kept, brush)
    return image.detach(), final, fitted - begin, time.perf_counter() - fitted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--strokes", type=int, default=10)
    parser.add_argument("--stamps", type=int, default=10)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", default="77dad44", help="git revision of the original smudge")
    args = parser.parse_args()
    old_render = module_at(args.before, "backend/diffpaint/render/smudge.py", "smudge_before")
    old_fit = module_at(args.before, "backend/diffpaint/fit/smudge_fit.py", "smudge_fit_before",
                        {"smudge": old_render.smudge})
    settings = dataclasses.replace(Settings(), smudge_iterations=args.steps,
                                   smudge_brush=SmudgeSettings(stamps=args.stamps))
    target, _ = load_image(paintings()[0].path, args.size)
    canvas = (target * 4).round() / 4  # hard steps where the painting is smooth
    start = place_smudges(target, canvas, args.strokes, target.shape[1] / 2, torch.Generator().manual_seed(0))
    cases: dict[str, tuple[Smudger, Pruner]] = {
        "before": (old_render.smudge, old_fit.prune_smudges),
        "now": (smudge, prune_smudges),
    }
    best: dict[str, tuple[float, float]] = {}
    images: dict[str, tuple[Tensor, Tensor]] = {}
    for _ in range(args.repeats):
        for name, (smudger, pruner) in cases.items():
            image, final, fit, prune = smudge_phase(smudger, pruner, target, canvas, start, settings)
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], fit), min(old[1], prune))
            images[name] = (image, final)
    print(f"{target.shape[1]}×{target.shape[0]} px, {args.strokes} strokes × {args.stamps} stamps, {args.steps} "
          f"steps, {torch.get_num_threads()} threads, best of {args.repeats}\n")
    print("| | fit (fwd+bwd steps) | pruning + final smudge | phase |")
    print("| --- | --- | --- | --- |")
    for name, (fit, prune) in best.items():
        print(f"| {name} | {fit:.3f} s | {prune:.3f} s | {fit + prune:.3f} s |")
    (bf, bp), (nf, np_) = best["before"], best["now"]
    print(f"| ratio | {bf / nf:.2f}× | {bp / np_:.2f}× | {(bf + bp) / (nf + np_):.2f}× |")
    with torch.no_grad():
        once = (old_render.smudge(canvas, start, settings.smudge_brush) - smudge(canvas, start, settings.smudge_brush))
    fit_diff = (images["before"][0] - images["now"][0]).abs().mean().item()
    final_diff = (images["before"][1] - images["now"][1]).abs().mean().item()
    print(f"\nmean |before − now|: the placed strokes smudged once {once.abs().mean().item():.2e} (max "
          f"{once.abs().max().item():.2e}); after the fit (Adam steps amplify float rounding) {fit_diff:.2e}; "
          f"final canvas (pruning differs: backward elimination before, one forward pass now) {final_diff:.2e}")


if __name__ == "__main__":
    main()

"""One joint-phase optimizer step on real fitted strokes, timed stage by stage (issue 14).

    OMP_NUM_THREADS=1 .venv/bin/python bench/step_profile.py [--size 512] [--strokes 1024] [--repeats 3]
        [--cache /tmp/diffpaint-step-profile] [--profile] [--release-memory]

The strokes are those of a plain reconstruction of the Van Gogh (`diffpaint.samples.painting(436535)`) at
`--size` px with `--strokes` strokes (40 steps a round, 30 joint steps: fitted sizes, in a few minutes), cached
under `--cache` so later runs start at once. The step is the joint phase's (`fit.optimize._joint_phase`, no
smudges, no mask): line floor, render, `total_loss` without segmentation, the segmentation term weighted by
level, backward, Adam step.

Each stage runs on detached copies of its inputs, so forward and backward are timed per stage:
rasterize (sampling, binning, fragments) → composite (over the background) → each loss term on the image
(or the fragments / strokes) → the optimizer step. "step" is the whole step as the joint phase runs it; the
stages add up to about it. Times are the least CPU time of the process (`time.process_time`) over `--repeats`
after one warm-up: on a shared machine wall times swing with the load, and with OMP_NUM_THREADS=1 the CPU time is
the step's work (system time included: page faults count). Freed memory is kept for reuse as `diffpaint` does
(`render.host_memory`), unless `--release-memory`. `--profile` adds torch.profiler's table of the whole step's most
expensive operators. Peak resident memory is printed at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).parent))
from common import plain_fit  # noqa: E402

from diffpaint.fit import losses  # noqa: E402
from diffpaint.fit.optimize import MIN_RADIUS_OF_CELL, Settings, _labels_on_tiles, _Parameters  # noqa: E402
from diffpaint.fit.segmentation import segment  # noqa: E402
from diffpaint.render import render  # noqa: E402
from diffpaint.render.composite import composite  # noqa: E402
from diffpaint.render.host_memory import retain_freed_memory  # noqa: E402
from diffpaint.render.raster import Fragments, bin_segments, rasterize_entries, sample_strokes  # noqa: E402
from diffpaint.render.renderer import canvas_grid  # noqa: E402
from diffpaint_shared.color import srgb_to_linear  # noqa: E402

PAINTING = 436535  # Van Gogh, "Wheat Field with Cypresses"


class Timer:
    """CPU times per stage name, over repeats."""

    def __init__(self) -> None:
        self.times: dict[str, list[float]] = {}

    def __call__(self, name: str, fn: Callable[[], object]) -> object:
        start = time.process_time()
        out = fn()
        self.times.setdefault(name, []).append(time.process_time() - start)
        return out

    def least(self) -> dict[str, float]:
        return {name: min(values) for name, values in self.times.items()}


def leaf(x: Tensor) -> Tensor:
    return x.detach().requires_grad_()


def staged_step(timer: Timer, params: _Parameters, bg_image: Tensor, target: Tensor, settings: Settings,
                context: dict) -> None:
    """The joint step in stages, each on leaf copies of its inputs, forward and backward timed apart."""
    raster, weights = settings.raster, context["weights"]
    strokes = params.strokes()
    min_radius = timer("line floor", lambda: losses.line_floor(
        strokes, context["lines"], MIN_RADIUS_OF_CELL * context["cell"], settings.line_radius, 1.0))
    grid = canvas_grid(bg_image, raster)

    def fragments() -> Fragments:
        samples = sample_strokes(strokes.points, strokes.radius, strokes.color, raster, blend_space=srgb_to_linear)
        return rasterize_entries(samples, bin_segments(samples, grid, raster), grid, raster)

    frags: Fragments = timer("rasterize fwd", fragments)  # type: ignore[assignment]
    coverage, color, opacity = leaf(frags.coverage), leaf(frags.color), leaf(strokes.opacity)
    leaf_frags = replace(frags, coverage=coverage, color=color)
    rendered = timer("composite fwd", lambda: composite(leaf_frags, opacity, bg_image, grid))
    image = leaf(rendered.image)  # type: ignore[attr-defined]
    leaf_strokes = replace(strokes, points=leaf(strokes.points), radius=leaf(strokes.radius),
                           color=leaf(strokes.color), opacity=leaf(strokes.opacity))
    terms: dict[str, Callable[[], Tensor]] = {
        "pixel": lambda: weights.pixel * losses.pixel_l1(image, target),
        "gradient": lambda: weights.gradient * losses.gradient_loss(image, target),
        "ot": lambda: weights.ot * losses.sinkhorn_ot(image, target),
        "area": lambda: weights.area * losses.area_regularizer(leaf_strokes, context["cell"], min_radius),
        "segmentation": lambda: settings.weights.segmentation * losses.segmentation_loss(
            leaf_frags, context["labels_tiles"], len(strokes), context["regions"], opacity * context["level_share"]),
    }
    for name, term in terms.items():
        value: Tensor = timer(f"{name} fwd", term)  # type: ignore[assignment]
        timer(f"{name} bwd", value.backward)
    timer("composite bwd", lambda: rendered.image.backward(image.grad))  # type: ignore[attr-defined]
    timer("rasterize bwd", lambda: torch.autograd.backward(
        [frags.coverage, frags.color], [coverage.grad, color.grad]))
    params.optimizer.zero_grad(set_to_none=True)  # the stages' gradients are not the step's: nothing is stepped


def whole_step(timer: Timer, params: _Parameters, bg_image: Tensor, target: Tensor, settings: Settings,
               context: dict) -> Tensor:
    """The joint phase's step as `_joint_phase` runs it (no smudges, no mask, no hidden-color term)."""
    start = time.process_time()
    strokes = params.strokes()
    min_radius = losses.line_floor(strokes, context["lines"], MIN_RADIUS_OF_CELL * context["cell"],
                                   settings.line_radius, 1.0)
    rendered = render(strokes, bg_image, settings.raster)
    loss, _ = losses.total_loss(rendered, target, strokes, context["weights"], cell=context["cell"],
                                labels_tiles=None, num_regions=context["regions"], min_radius=min_radius)
    loss = loss + settings.weights.segmentation * losses.segmentation_loss(
        rendered.fragments, context["labels_tiles"], len(strokes), context["regions"],
        strokes.opacity * context["level_share"])
    forward = time.process_time()
    params.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    backward = time.process_time()
    params.optimizer.step()
    timer.times.setdefault("step: forward", []).append(forward - start)
    timer.times.setdefault("step: backward", []).append(backward - forward)
    timer.times.setdefault("step: optimizer", []).append(time.process_time() - backward)
    timer.times.setdefault("step", []).append(time.process_time() - start)
    return loss.detach()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--strokes", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/diffpaint-step-profile"))
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's table of one whole step")
    parser.add_argument("--release-memory", action="store_true",
                        help="leave glibc's malloc at its defaults (freed tensors go back to the OS)")
    args = parser.parse_args()
    if not args.release_memory:
        retain_freed_memory()

    args.cache.mkdir(parents=True, exist_ok=True)
    settings = Settings(strokes=args.strokes, iterations=40, joint_iterations=30)
    fit = plain_fit(PAINTING, args.size, settings, args.cache / f"vangogh-{args.size}-{args.strokes}.pt")
    target, bg_image, paint = fit.target, fit.background_image, fit.painting.paint
    long_side = max(target.shape[:2])
    finest = settings.levels - 1
    labels = segment(target, settings.segmenter, settings.regions)
    regions = max(settings.regions, int(labels.max()) + 1)
    context = {
        "weights": replace(settings.weights, segmentation=0.0),
        "cell": long_side / (paint.level + 1).to(paint.radius.dtype),
        "lines": losses.line_strength(target),
        "labels_tiles": _labels_on_tiles(labels, target, settings.raster.tile, regions),
        "regions": regions,
        "level_share": paint.level.to(paint.radius.dtype) / max(1, finest),
    }
    radius = paint.radius.mean(dim=1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {tuple(target.shape[:2])} px, "
          f"{len(paint)} strokes, radius median {radius.median():.1f} px (10–90 %: {radius.quantile(0.1):.1f}–"
          f"{radius.quantile(0.9):.1f})")

    params = _Parameters(paint, settings, long_side)
    timer = Timer()
    for _ in range(args.repeats + 1):  # the first is a warm-up
        staged_step(timer, params, bg_image, target, settings, context)
        whole_step(timer, params, bg_image, target, settings, context)
    for values in timer.times.values():
        del values[0]
    least = timer.least()
    staged = sum(v for k, v in least.items() if not k.startswith("step"))
    print("| stage | CPU seconds | share of the stages |")
    print("| --- | --- | --- |")
    for name, seconds in least.items():
        share = "" if name.startswith("step") else f"{100 * seconds / staged:.0f} %"
        print(f"| {name} | {seconds:.3f} | {share} |")
    print(f"| sum of stages | {staged:.3f} | |")
    print(f"peak resident memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")
    if args.profile:
        with torch.profiler.profile() as prof:
            whole_step(Timer(), params, bg_image, target, settings, context)
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


if __name__ == "__main__":
    main()

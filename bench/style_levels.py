"""Style phase per level against once at the end, on one real painting: PSNR and seconds.

    .venv/bin/python bench/style_levels.py [--id 436535] [--style oil] [--size 128] [--strokes 256]

"per level" is `reconstruct` in the medium: each level's paint strokes are textured after they are
fitted, and the next level is painted over the textured canvas. "once at end" is what the
reconstruction did before: all levels painted plain, then one style phase over every paint stroke,
as many steps as each level gets. Style phase seconds are summed over its steps. Prints a markdown
table.
"""

from __future__ import annotations

import argparse
import time

import torch

from diffpaint import samples
from diffpaint.fit.optimize import Settings, reconstruct, style_steps_per_level
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.style import render_styled_painting, style_phase


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--id", type=int, default=436535, help="Met object ID (Van Gogh, Wheat Field with Cypresses)")
    parser.add_argument("--style", default="oil")
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--strokes", type=int, default=256)
    parser.add_argument("--style-iterations", type=int, default=Settings.style_iterations)
    args = parser.parse_args()

    target, _ = load_image(samples.painting(args.id).path, args.size)
    background = tuple(target.mean(dim=(0, 1)).tolist())
    bg = torch.tensor(background).expand_as(target).contiguous()
    settings = Settings(strokes=args.strokes, style=args.style, style_iterations=args.style_iterations)
    print(f"Met {args.id} at {target.shape[1]}×{target.shape[0]} px, {args.strokes} strokes, {args.style}, "
          f"{args.style_iterations} style steps (per level: {style_steps_per_level(settings)}); "
          f"{torch.get_num_threads()} CPU threads\n")
    print("| style phase | PSNR dB | reconstruction s | style phase s |")
    print("|---|---|---|---|")

    plain = reconstruct(target, background, Settings(strokes=args.strokes))  # type: ignore[arg-type]
    start = time.perf_counter()
    painting, style = style_phase(plain.strokes, args.style, target, bg, args.style_iterations, settings.seed)
    style_seconds = time.perf_counter() - start
    with torch.no_grad():
        once = psnr(render_styled_painting(painting, style, bg), target)
    print(f"| none (plain strokes) | {plain.psnr:.2f} | {plain.seconds:.1f} | – |")
    print(f"| once at end | {once:.2f} | {plain.seconds + style_seconds:.1f} | {style_seconds:.1f} |")

    phases: dict[str, float] = {}
    last = [time.perf_counter()]

    def clock(p: object) -> None:
        now = time.perf_counter()
        phases[p.phase] = phases.get(p.phase, 0.0) + now - last[0]  # type: ignore[attr-defined]
        last[0] = now

    per_level = reconstruct(target, background, settings, clock)  # type: ignore[arg-type]
    print(f"| per level | {per_level.psnr:.2f} | {per_level.seconds:.1f} | {phases.get('style', 0.0):.1f} |")


if __name__ == "__main__":
    main()

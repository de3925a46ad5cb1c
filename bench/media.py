"""Real-media textures per medium on a painting of that medium: PSNR, SSIM and detail ratio for plain strokes,
today's procedural textures and the real-media bank with per-stroke choice, the style phase's share of the
time, and (with --blender) Blender's render of the textured stroke file against the backend's.

    .venv/bin/python bench/media.py [--size 256] [--strokes 256] [--only oil ink] [--out bench-media/] [--blender]

Each Met painting (CC0) is reconstructed once with plain strokes (cached in --out as <id>-<size>-<strokes>.pt,
so reruns fit styles only); then one style phase over the finished painting textures it: "today" = the
procedural variants, each stroke's drawn at random, pixel + gradient loss (the phase before the bank);
"new" = the real-media bank (backend/diffpaint/style/bank), each stroke's texture chosen by the phase, the
detail term, the medium's body-paint prior. Detail ratio: `metrics.detail_ratio` (render ÷ target share of
spectral power at 0.5–1 Nyquist). Style share: the new phase's seconds over plain fit + phase. Side-by-side
PNGs (target | plain | new) go to --out. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

from diffpaint import samples
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image, save_png
from diffpaint.metrics import detail_ratio, psnr, ssim
from diffpaint.painting import Painting, to_stroke_file
from diffpaint.style import StyleSettings, attach_style, initial_style, optimize_style, render_styled_painting
from diffpaint_shared import strokefile

PAINTINGS = {  # medium → Met object ID of a painting in it
    "oil": 436535,  # Van Gogh, Wheat Field with Cypresses
    "watercolor": 37942,  # Devidasa of Nurpur, Shiva and Parvati Playing Chaupar
    "ink": 39668,  # Guo Xi, Old Trees, Level Distance
    "pencil": 39668,  # no pencil drawing in the set: the ink landscape's linework
}
TODAY = StyleSettings(detail_weight=0.0, choose=False, body_weight=0.0)


def plain_fit(pid: int, target: torch.Tensor, background: tuple[float, float, float], strokes: int,
              cache: Path) -> tuple[Painting, torch.Tensor, float]:
    """The plain reconstruction (painting, render, seconds), from the cache when it holds it."""
    if cache.exists():
        saved = torch.load(cache, weights_only=False)
        return saved["painting"], saved["canvas"], saved["seconds"]
    result = reconstruct(target, background, Settings(strokes=strokes, smudge=False))
    torch.save({"painting": result.strokes, "canvas": result.canvas, "seconds": result.seconds}, cache)
    return result.strokes, result.canvas, result.seconds


def blender_psnr(doc: strokefile.StrokeFile, backend: torch.Tensor, folder: Path, name: str) -> float:
    """Import and render `doc` in Blender (a subprocess); PSNR against the backend's render."""
    strokes_path, png = folder / f"{name}.json", folder / f"{name}-blender.png"
    strokefile.save(doc, strokes_path)
    subprocess.run([sys.executable, "-m", "diffpaint_addon.blend_job", str(strokes_path), "--png", str(png)],
                   check=True, capture_output=True)
    blender, _ = load_image(png, max_side=1 << 16)
    return psnr(blender, backend)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--strokes", type=int, default=256)
    parser.add_argument("--style-iterations", type=int, default=StyleSettings.iterations)
    parser.add_argument("--only", nargs="*", choices=sorted(PAINTINGS))
    parser.add_argument("--out", type=Path, default=Path("bench-media"))
    parser.add_argument("--blender", action="store_true", help="also render the new stroke file in Blender")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    print(f"{args.size} px, {args.strokes} strokes, default settings, no smudge; one style phase of "
          f"{args.style_iterations} steps over the finished painting; {torch.get_num_threads()} CPU threads\n")
    print("| medium | painting | plain PSNR / SSIM / detail | today PSNR / SSIM / detail "
          "| new PSNR / SSIM / detail | new − plain (dB) | style s (share) | opaque > 0.9 plain → new "
          "| Blender vs backend (dB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for medium, pid in PAINTINGS.items():
        if args.only and medium not in args.only:
            continue
        target, _ = load_image(samples.painting(pid).path, args.size)
        background = tuple(target.mean(dim=(0, 1)).tolist())
        bg = torch.tensor(background).expand_as(target).contiguous()
        cache = args.out / f"{pid}-{args.size}-{args.strokes}.pt"
        plain, plain_image, plain_seconds = plain_fit(pid, target, background, args.strokes, cache)  # type: ignore[arg-type]
        count = len(plain.paint)
        images, seconds = {}, 0.0
        for name, settings, procedural in (("today", TODAY, True), ("new", StyleSettings(), False)):
            style = initial_style(medium, count, procedural=procedural)
            start = time.perf_counter()
            painting, fitted = optimize_style(plain, style, target, bg,
                                              StyleSettings(**{**settings.__dict__,
                                                               "iterations": args.style_iterations}))
            seconds = time.perf_counter() - start
            with torch.no_grad():
                images[name] = render_styled_painting(painting, fitted, bg)
        versus = "—"
        if args.blender:
            doc = attach_style(to_stroke_file(painting, target.shape[1], target.shape[0], background, {}), fitted)  # type: ignore[arg-type]
            versus = f"{blender_psnr(doc, images['new'], args.out, f'{medium}-{pid}'):.2f}"
        save_png(torch.cat([target, plain_image, images["new"]], dim=1), args.out / f"{medium}-{pid}-side-by-side.png")
        scores = [f"{psnr(x, target):.2f} / {ssim(x, target):.3f} / {detail_ratio(x, target):.2f}"
                  for x in (plain_image, images["today"], images["new"])]
        opaque = [f"{(p.paint.opacity > 0.9).float().mean().item():.0%}" for p in (plain, painting)]
        gain = psnr(images["new"], target) - psnr(plain_image, target)
        print(f"| {medium} | {pid} | {' | '.join(scores)} | {gain:+.2f} "
              f"| {seconds:.1f} ({seconds / (seconds + plain_seconds):.0%}) | {' → '.join(opaque)} | {versus} |",
              flush=True)


if __name__ == "__main__":
    main()

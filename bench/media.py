"""Real-media textures per medium on a painting of that medium: PSNR, SSIM and detail ratio for plain strokes,
today's procedural textures and the real-media bank with per-stroke choice, the style phase's time and share of
the reconstruction's, and (with --blender) Blender's render of the textured stroke file against the backend's.

    .venv/bin/python bench/media.py [--size 512] [--strokes 512] [--only oil ink] [--out bench-media/] [--blender]
        [--detail-weight 0.5] [--detail-credit 0.7]

Each Met painting (CC0) is reconstructed once with plain strokes (bench/common.py `plain_fit`, cached in --out as
<id>-<size>-<strokes>.pt, so reruns fit styles only); then one style phase over the finished painting textures
it: "today" = the procedural variants, each stroke's drawn at random, 60 steps of pixel + gradient loss (the
phase before the bank; --no-today skips it); "new" = the real-media bank (backend/diffpaint/style/bank, each texture
at full strength and solid: `textures.medium_textures`), each stroke's texture, shift and contrast chosen by
`choose_textures`, then the default steps with the detail term and the medium's body-paint prior. Detail ratio:
`metrics.detail_ratio` (render ÷ target share of spectral power at 0.5–1 Nyquist); ρ: `metrics.fine_band_correlation`
(how far that band's detail is the target's own; a fine band of d times the target's power at correlation ρ adds
d − 2ρ√d of the target's fine-band power to the squared error). Style share: the new phase's
seconds over plain fit + phase. Side-by-side PNGs
(target | plain | new) go to --out. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import torch
from common import blender_psnr, plain_fit

from diffpaint.fit.optimize import Settings
from diffpaint.imageio import save_png
from diffpaint.metrics import detail_ratio, fine_band_correlation, psnr, ssim
from diffpaint.painting import to_stroke_file
from diffpaint.style import StyleSettings, attach_style, initial_style, optimize_style, render_styled_painting

PAINTINGS = {  # medium → Met object ID of a painting in it
    "oil": 436535,  # Van Gogh, Wheat Field with Cypresses
    "watercolor": 37942,  # Devidasa of Nurpur, Shiva and Parvati Playing Chaupar
    "ink": 39668,  # Guo Xi, Old Trees, Level Distance
    "pencil": 39668,  # no pencil drawing in the set: the ink landscape's linework
}
TODAY = StyleSettings(iterations=60, detail_weight=0.0, choose=False, body_weight=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--strokes", type=int, default=512)
    parser.add_argument("--style-iterations", type=int, default=StyleSettings.iterations)
    parser.add_argument("--detail-weight", type=float, default=StyleSettings.detail_weight,
                        help="weight of the style phase's detail term")
    parser.add_argument("--detail-credit", type=float, default=StyleSettings.detail_credit,
                        help="share of the fine-band energy a texture adds that the texture choice credits")
    parser.add_argument("--only", nargs="*", choices=sorted(PAINTINGS))
    parser.add_argument("--out", type=Path, default=Path("bench-media"))
    parser.add_argument("--no-today", action="store_true", help="skip today's procedural textures")
    parser.add_argument("--blender", action="store_true", help="also render the new stroke file in Blender")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    new = replace(StyleSettings(), iterations=args.style_iterations, detail_weight=args.detail_weight,
                  detail_credit=args.detail_credit)

    print(f"{args.size} px, {args.strokes} strokes, default settings, no smudge; one style phase over the finished "
          f"painting ({new.iterations} steps after the texture choice, detail weight {new.detail_weight}, "
          f"detail credit {new.detail_credit}); {torch.get_num_threads()} CPU threads\n")
    print("| medium | painting | plain PSNR / SSIM / detail / ρ | today PSNR / SSIM / detail / ρ "
          "| new PSNR / SSIM / detail / ρ | new − plain (dB) | style s (share) | opaque > 0.9 plain → new "
          "| Blender vs backend (dB) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for medium, pid in PAINTINGS.items():
        if args.only and medium not in args.only:
            continue
        cache = args.out / f"{pid}-{args.size}-{args.strokes}.pt"
        plain = plain_fit(pid, args.size, Settings(strokes=args.strokes), cache)
        target, bg, count = plain.target, plain.background_image, len(plain.painting.paint)
        images: dict[str, torch.Tensor] = {}
        runs = [("new", new, False)] + ([] if args.no_today else [("today", TODAY, True)])
        for name, settings, procedural in runs:
            style = initial_style(medium, count, procedural=procedural)
            start = time.perf_counter()
            painting, fitted = optimize_style(plain.painting, style, target, bg, settings)
            elapsed = time.perf_counter() - start
            with torch.no_grad():
                images[name] = render_styled_painting(painting, fitted, bg)
            if name == "new":
                seconds, new_painting, new_style = elapsed, painting, fitted
        versus = "—"
        if args.blender:
            doc = attach_style(to_stroke_file(new_painting, target.shape[1], target.shape[0], plain.background, {}),
                               new_style)
            versus = f"{blender_psnr(doc, images['new'], args.out, f'{medium}-{pid}'):.2f}"
        save_png(torch.cat([target, plain.canvas, images["new"]], dim=1), args.out / f"{medium}-{pid}-side-by-side.png")
        scores = [f"{psnr(x, target):.2f} / {ssim(x, target):.3f} / {detail_ratio(x, target):.2f} / "
                  f"{fine_band_correlation(x, target):.2f}" if x is not None
                  else "—" for x in (plain.canvas, images.get("today"), images["new"])]
        opaque = [f"{(p.paint.opacity > 0.9).float().mean().item():.0%}" for p in (plain.painting, new_painting)]
        gain = psnr(images["new"], target) - psnr(plain.canvas, target)
        print(f"| {medium} | {pid} | {' | '.join(scores)} | {gain:+.2f} "
              f"| {seconds:.1f} ({seconds / (seconds + plain.seconds):.0%}) | {' → '.join(opaque)} | {versus} |",
              flush=True)


if __name__ == "__main__":
    main()

"""Command line: `python -m diffpaint reconstruct|render ...` (also installed as `diffpaint`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import torch

from diffpaint import __version__, samples
from diffpaint.export.process import Timing, build_frames, save_animation, stroke_counts
from diffpaint.fit.losses import LossWeights
from diffpaint.fit.optimize import Progress, Reconstruction, Settings, reconstruct, refine
from diffpaint.imageio import ImageInputError, load_image, read_image, save_png
from diffpaint.metrics import psnr
from diffpaint.painting import from_stroke_file, render_painting, to_stroke_file
from diffpaint.server.config import background_rgb
from diffpaint.style import STYLES, attach_style, render_styled_painting, style_from_file, style_phase
from diffpaint_shared import strokefile

EPILOG = """\
examples:
  diffpaint reconstruct painting.jpg --out result/          # 256 strokes at 256 px, ~1 min on 2 CPU cores
  diffpaint reconstruct painting.jpg --out r/ --strokes 512 --size 384 --levels 4
  diffpaint refine result/strokes.json --target result/target.png --out refined/ --add 64
  diffpaint render result/strokes.json --out big.png --scale 4
  diffpaint video result/strokes.json --out process.mp4 --side-by-side result/target.png
  diffpaint export-svg result/strokes.json --out painting.svg
"""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except (ImageInputError, strokefile.StrokeFileError, ValueError, FileNotFoundError) as e:
        _fail(args, str(e))
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="diffpaint",
        description="Reconstruct how a painting was painted, as an ordered list of editable brush strokes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"diffpaint {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    rec = sub.add_parser(
        "reconstruct",
        help="fit brush strokes to an image",
        description="Fit brush strokes to an image, coarse to fine, and write the stroke file, the "
        "backend's render, the target as fitted, a process animation and a report to --out.",
    )
    rec.add_argument("image", type=Path, help="painting or photo (PNG, JPEG, TIFF, WebP)")
    rec.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    rec.add_argument("--strokes", type=_positive_int, default=256, help="stroke budget over all levels (default 256)")
    rec.add_argument("--levels", type=_positive_int, default=3, help="coarse-to-fine grid levels 1×1…n×n (default 3)")
    rec.add_argument("--size", type=_positive_int, default=256,
                     help="long side in pixels the image is fitted at; larger images are downscaled (default 256)")
    rec.add_argument("--iterations", type=_positive_int, default=Settings.iterations,
                     help=f"optimiser steps per placement round (default {Settings.iterations})")
    rec.add_argument("--rounds", type=_positive_int, default=Settings.rounds,
                     help=f"placement rounds per level (default {Settings.rounds})")
    rec.add_argument("--background", default="mean",
                     help="canvas colour: 'mean' (of the image), 'white', or a hex colour like '#f0e8d8'")
    rec.add_argument("--seed", type=int, default=0, help="random seed; runs on the CPU are deterministic")
    rec.add_argument("--loss", action="append", default=[], metavar="TERM=WEIGHT", type=_loss_weight,
                     help="weight of a loss term, 0 switches it off; repeatable. Terms and defaults: "
                     + ", ".join(f"{f.name}={f.default}" for f in fields(LossWeights)))
    rec.add_argument("--smudge", action=argparse.BooleanOptionalAction, default=Settings.smudge,
                     help="smudge phase on every level but the last: a share of the budget goes to smudge strokes "
                     f"that soften hard steps (default {'on' if Settings.smudge else 'off'})")
    rec.add_argument("--style", choices=STYLES, default="digital",
                     help="painting medium: any but digital (plain strokes) adds a style phase that textures "
                     "the strokes (default digital)")
    rec.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: CUDA when present")
    rec.add_argument("--gif-frames", type=_positive_int, default=48, help="frames in process.gif (default 48)")
    rec.add_argument("--progress-json", action="store_true",
                     help="print progress as JSON lines on stdout (for the Blender add-on) instead of a bar")
    rec.set_defaults(run=_reconstruct)

    ref = sub.add_parser(
        "refine",
        help="continue optimising a stroke file (e.g. one edited in Blender)",
        description="Re-render a stroke file and continue optimising it against its target: optionally add "
        "strokes where the error is high, then fine-tune every paint stroke together. Painting order and "
        "smudge strokes are kept. Writes the same files as reconstruct to --out.",
    )
    ref.add_argument("strokes", type=Path, help="an unstyled stroke file (refine, then stylise)")
    ref.add_argument("--target", type=Path, required=True,
                     help="the image to fit (e.g. target.png); resized to the canvas, whose aspect it must share")
    ref.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    ref.add_argument("--add", type=int, default=0, help="new strokes placed at the finest level first (default 0)")
    ref.add_argument("--levels", type=_positive_int, default=Settings.levels,
                     help=f"the reconstruction's level count, which sizes added strokes (default {Settings.levels})")
    ref.add_argument("--iterations", type=_positive_int, default=Settings.iterations,
                     help=f"optimiser steps for adding and for fine-tuning (default {Settings.iterations})")
    ref.add_argument("--seed", type=int, default=0, help="random seed for placing added strokes")
    ref.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="default: CUDA when present")
    ref.add_argument("--gif-frames", type=_positive_int, default=48, help="frames in process.gif (default 48)")
    ref.add_argument("--progress-json", action="store_true", help="print progress as JSON lines instead of a bar")
    ref.set_defaults(run=_refine)

    ren = sub.add_parser("render", help="render a stroke file to PNG",
                         description="Render a stroke file with the backend's renderer.")
    ren.add_argument("strokes", type=Path, help="stroke file (.json)")
    ren.add_argument("--out", type=Path, required=True, help="PNG to write")
    ren.add_argument("--scale", type=float, default=1.0, help="resolution factor; strokes are vectors (default 1)")
    ren.set_defaults(run=_render)

    cmp = sub.add_parser("compare", help="PSNR between two images of the same size",
                         description="Print the PSNR in dB between two images of the same size.")
    cmp.add_argument("a", type=Path)
    cmp.add_argument("b", type=Path)
    cmp.add_argument("--side-by-side", type=Path, metavar="PNG", help="also write the two images side by side")
    cmp.set_defaults(run=_compare)

    sty = sub.add_parser("stylise", help="texture a reconstruction in a painting medium (style phase)",
                         description="Fit per-stroke texture parameters of a medium to the target, with the "
                         "strokes' geometry and colour fixed, and write the textured stroke file.")
    sty.add_argument("strokes", type=Path, help="an unstyled stroke file (e.g. a reconstruction's strokes.json)")
    sty.add_argument("--target", type=Path, required=True, help="the image fitted, at the canvas size (target.png)")
    sty.add_argument("--style", choices=[s for s in STYLES if s != "digital"], required=True)
    sty.add_argument("--out", type=Path, required=True, help="textured stroke file to write")
    sty.add_argument("--render", type=Path, metavar="PNG", help="also write the backend's render of it")
    sty.add_argument("--iterations", type=_positive_int, default=Settings.style_iterations,
                     help=f"style phase steps (default {Settings.style_iterations})")
    sty.add_argument("--seed", type=int, default=0, help="picks each stroke's texture variant")
    sty.set_defaults(run=_stylise)

    smp = sub.add_parser("samples", help="list the bundled CC0 Met Museum paintings",
                         description="List the CC0 Met Museum paintings installed by the set-up, or print "
                         "the path of one.")
    smp.add_argument("--path", type=int, metavar="OBJECT_ID", help="print the image path of this painting")
    smp.set_defaults(run=_samples)

    from diffpaint.batch.command import add_batch_parsers  # `batch`, `sequence` (diffpaint/batch/)
    from diffpaint.export.command import add_export_parsers  # `export-svg`, `video`, `frames` (diffpaint/export/)
    from diffpaint.server.command import add_serve_parser  # `serve`: the HTTP job service (diffpaint/server/)

    add_export_parsers(sub)
    add_batch_parsers(sub)
    add_serve_parser(sub)
    return parser


def _reconstruct(args: argparse.Namespace) -> int:
    device = _device(args.device)
    image = read_image(args.image, args.size)
    if image.notice:
        print(image.notice, file=sys.stderr)
    background = _background(args.background, image.mean_colour())
    target = image.over(background).to(device)  # transparent areas are fitted as bare canvas
    weights = replace(LossWeights(), **dict(args.loss))
    settings = Settings(strokes=args.strokes, levels=args.levels, iterations=args.iterations, weights=weights,
                        rounds=args.rounds, seed=args.seed, smudge=args.smudge, style=args.style)
    args.out.mkdir(parents=True, exist_ok=True)  # before the run: an unusable --out fails at once

    report_progress = _json_progress if args.progress_json else _BarProgress()
    result = reconstruct(target, background, settings, report_progress, mask=image.alpha)
    if isinstance(report_progress, _BarProgress):
        report_progress.close()
    settings_used = {"strokes": args.strokes, "levels": args.levels, "size": args.size, "seed": args.seed,
                     "smudge": args.smudge, "style": args.style}
    _save_result(args, args.image, result, target, {"source": args.image.name, "settings": settings_used})
    return 0


def _refine(args: argparse.Namespace) -> int:
    if args.add < 0:
        raise ValueError(f"--add must be 0 or more, not {args.add}")
    device = _device(args.device)
    doc = strokefile.load(args.strokes)
    if doc.textures:
        raise ValueError(f"{args.strokes} is textured: refine the unstyled reconstruction, then stylise it again")
    width, height = doc.canvas.width, doc.canvas.height
    image = read_image(args.target, max(width, height))
    if (image.rgb.shape[1], image.rgb.shape[0]) != (width, height):
        raise ValueError(f"the target is {image.rgb.shape[1]}×{image.rgb.shape[0]} at the canvas' scale, the canvas "
                         f"{width}×{height}: give the image the stroke file was fitted to")
    background = doc.canvas.background
    target = image.over(background).to(device)
    settings = Settings(strokes=max(args.levels, len(doc.strokes)), levels=args.levels,
                        iterations=args.iterations, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)  # before the run: an unusable --out fails at once
    report_progress = _json_progress if args.progress_json else _BarProgress()
    result = refine(from_stroke_file(doc, device), target, background, settings, args.add, report_progress,
                    image.alpha)
    if isinstance(report_progress, _BarProgress):
        report_progress.close()
    refined = {"refined_from": args.strokes.name, "psnr_before": doc.metadata.get("psnr"),
               "refine": {"add": args.add, "iterations": args.iterations}}
    _save_result(args, args.target, result, target, {**doc.metadata, **refined})
    return 0


def _save_result(args: argparse.Namespace, source: Path, result: Reconstruction, target: torch.Tensor,
                 metadata: dict) -> None:
    """Write what a reconstruction (or refinement) leaves in --out: stroke file, renders, process, report."""
    device = target.device
    background = result.background
    height, width = target.shape[:2]
    blank = psnr(torch.tensor(background, device=device).expand_as(target), target)
    metadata = {**metadata, "psnr": round(result.psnr, 3), "seconds": round(result.seconds, 2),
                "generator": f"diffpaint {__version__}"}
    doc = to_stroke_file(result.strokes, width, height, background, metadata)
    if result.style is not None:
        doc = attach_style(doc, result.style)
    strokes_path = args.out / "strokes.json"
    strokefile.save(doc, strokes_path)
    save_png(result.canvas, args.out / "render.png")
    save_png(target, args.out / "target.png")
    bg_image = torch.tensor(background, device=device).expand(height, width, 3).contiguous()
    frames = build_frames(result.strokes, bg_image, stroke_counts(len(result.strokes), args.gif_frames),
                          style=result.style)
    save_animation(frames, args.out / "process.gif", Timing(duration=6.0, hold=2.0))
    report = {"image": str(source), "width": width, "height": height, "strokes": len(result.strokes),
              "smudge_strokes": len(result.strokes.smudge), "psnr": result.psnr, "blank_psnr": blank,
              "seconds": result.seconds, "device": str(device)}
    (args.out / "report.json").write_text(json.dumps(report, indent=2))

    summary = (f"{len(result.strokes)} strokes, PSNR {result.psnr:.2f} dB (blank canvas {blank:.2f} dB), "
               f"{result.seconds:.1f} s on {device} → {args.out}")
    if args.progress_json:
        _emit({"event": "done", "strokes": str(strokes_path.resolve()), "psnr": result.psnr,
               "seconds": result.seconds})
    else:
        print(summary)


def _render(args: argparse.Namespace) -> int:
    if not 0 < args.scale <= 16:
        raise ValueError("--scale must lie in (0, 16]")
    doc = strokefile.load(args.strokes)
    strokes = from_stroke_file(doc).scaled(args.scale)  # paint and smudge strokes, in painting order
    width, height = round(doc.canvas.width * args.scale), round(doc.canvas.height * args.scale)
    background = torch.tensor(doc.canvas.background).expand(height, width, 3).contiguous()
    style = style_from_file(doc)
    with torch.no_grad():
        image = (render_painting(strokes, background) if style is None
                 else render_styled_painting(strokes, style, background))
    save_png(image, args.out)
    print(f"{len(strokes)} strokes → {args.out} ({width}×{height})")
    return 0


def _compare(args: argparse.Namespace) -> int:
    a, _ = load_image(args.a, max_side=1 << 16)
    b, _ = load_image(args.b, max_side=1 << 16)
    if a.shape != b.shape:
        raise ValueError(f"images differ in size: {tuple(a.shape[:2])} vs {tuple(b.shape[:2])}")
    print(f"{psnr(a, b):.2f}")
    if args.side_by_side:
        save_png(torch.cat([a, b], dim=1), args.side_by_side)
    return 0


def _stylise(args: argparse.Namespace) -> int:
    doc = strokefile.load(args.strokes)
    if doc.textures:
        raise ValueError(f"{args.strokes} is textured already: stylise the unstyled reconstruction")
    width, height = doc.canvas.width, doc.canvas.height
    target, _ = load_image(args.target, max_side=1 << 16)
    if target.shape[:2] != (height, width):
        raise ValueError(f"the target is {target.shape[1]}×{target.shape[0]}, the canvas {width}×{height}")
    background = torch.tensor(doc.canvas.background).expand(height, width, 3).contiguous()
    start = time.perf_counter()
    painting, style = style_phase(from_stroke_file(doc), args.style, target, background, args.iterations, args.seed)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        image = render_styled_painting(painting, style, background)
    metadata = {**doc.metadata, "psnr": round(psnr(image, target), 3), "style": args.style}
    strokefile.save(attach_style(to_stroke_file(painting, width, height, doc.canvas.background, metadata), style),
                    args.out)
    if args.render:
        save_png(image, args.render)
    print(f"{args.style}: PSNR {psnr(image, target):.2f} dB, style phase {seconds:.1f} s → {args.out}")
    return 0


def _samples(args: argparse.Namespace) -> int:
    if args.path is not None:
        print(samples.painting(args.path).path)
        return 0
    for p in samples.paintings():
        print(f"{p.object_id:>7}  {p.title[:48]:<48}  {p.artist[:28]:<28}  {p.medium[:40]}")
    return 0


class _BarProgress:
    """A tqdm bar over the whole reconstruction (stderr), labelled with level and fit quality."""

    def __init__(self) -> None:
        from tqdm import tqdm

        fmt = "{l_bar}{bar}| {elapsed}<{remaining} {postfix}"
        self.bar = tqdm(total=1000, unit="‰", mininterval=0.5, bar_format=fmt)

    def __call__(self, p: Progress) -> None:
        self.bar.set_description(f"{p.phase} level {p.level}/{p.levels}", refresh=False)
        self.bar.set_postfix_str(f"loss {p.loss:.4f}  PSNR {p.psnr:.2f} dB", refresh=False)
        self.bar.update(round(1000 * p.fraction) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


_last_emit = [0.0]


def _json_progress(p: Progress) -> None:
    now = time.monotonic()
    if now - _last_emit[0] < 0.2 and p.fraction < 1.0:  # the add-on redraws a few times a second at most
        return
    _last_emit[0] = now
    _emit({"event": "progress", "phase": p.phase, "level": p.level, "levels": p.levels, "iteration": p.iteration,
           "iterations": p.iterations, "fraction": round(p.fraction, 4), "loss": p.loss, "psnr": p.psnr,
           "elapsed": round(p.elapsed, 2)})


def _emit(event: dict) -> None:
    print(json.dumps(event), flush=True)


def _fail(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "progress_json", False):
        _emit({"event": "error", "message": message})
    print(f"diffpaint: error: {message}", file=sys.stderr)


def _device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but PyTorch sees no CUDA device")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def _background(choice: str, mean: tuple[float, float, float]) -> tuple[float, float, float]:
    try:
        return background_rgb(choice, mean)
    except ValueError as e:
        raise ValueError(f"--{e}") from None


def _loss_weight(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    terms = [f.name for f in fields(LossWeights)]
    if name not in terms:
        raise argparse.ArgumentTypeError(f"unknown loss term {name!r}; the terms are {', '.join(terms)}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not TERM=WEIGHT with a number for WEIGHT") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text}")
    return value

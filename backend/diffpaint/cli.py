"""Command line: `python -m diffpaint reconstruct|render ...` (also installed as `diffpaint`)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch

from diffpaint import __version__, samples
from diffpaint.fit.losses import LossWeights
from diffpaint.fit.optimize import Progress, Reconstruction, Settings, refine
from diffpaint.grain.fit import file_canvas
from diffpaint.imageio import ImageInputError, load_image, read_image, save_png
from diffpaint.job import fit_settings, torch_device
from diffpaint.metrics import psnr
from diffpaint.options import add_setting, job_settings, positive_int
from diffpaint.painting import from_stroke_file, render_painting, to_stroke_file
from diffpaint.results import ResultFiles, Summary, reconstruct_image
from diffpaint.style import attach_style, render_styled_painting, style_from_file, style_phase
from diffpaint.style.render import styled_paint
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import SETTINGS, STYLES, JobSettings
from diffpaint_shared.progress import ProgressPrinter, done_event, emit, error_event

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
    for setting in SETTINGS:  # --strokes, --levels, --size, … --smudge/--no-smudge
        add_setting(rec, setting.name)
    rec.add_argument("--loss", action="append", default=[], metavar="TERM=WEIGHT", type=_loss_weight,
                     help="weight of a loss term, 0 switches it off; repeatable. Terms and defaults: "
                     + ", ".join(f"{f.name}={f.default}" for f in fields(LossWeights)))
    rec.add_argument("--gif-frames", type=positive_int, default=48, help="frames in process.gif (default 48)")
    rec.add_argument("--progress-json", action="store_true",
                     help="print progress as JSON lines on stdout (for the Blender add-on) instead of a bar")
    rec.set_defaults(run=_reconstruct)

    ref = sub.add_parser(
        "refine",
        help="continue optimizing a stroke file (e.g. one edited in Blender)",
        description="Re-render a stroke file and continue optimizing it against its target: optionally add "
        "strokes where the error is high, then fine-tune every paint stroke together. Painting order and "
        "smudge strokes are kept. Writes the same files as reconstruct to --out.",
    )
    ref.add_argument("strokes", type=Path, help="an unstyled stroke file (refine, then stylize)")
    ref.add_argument("--target", type=Path, required=True,
                     help="the image to fit (e.g. target.png); resized to the canvas, whose aspect it must share")
    ref.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    ref.add_argument("--add", type=int, default=0, help="new strokes placed at the finest level first (default 0)")
    add_setting(ref, "levels", help="the reconstruction's level count, which sizes added strokes")
    add_setting(ref, "iterations", help="optimizer steps for adding and for fine-tuning")
    add_setting(ref, "seed", help="random seed for placing added strokes")
    add_setting(ref, "device")
    ref.add_argument("--gif-frames", type=positive_int, default=48, help="frames in process.gif (default 48)")
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

    sty = sub.add_parser("stylize", help="texture a reconstruction in a painting medium (style phase)",
                         description="Fit per-stroke texture parameters of a medium to the target, with the "
                         "strokes' geometry and color fixed, and write the textured stroke file.")
    sty.add_argument("strokes", type=Path, help="an unstyled stroke file (e.g. a reconstruction's strokes.json)")
    sty.add_argument("--target", type=Path, required=True, help="the image fitted, at the canvas size (target.png)")
    add_setting(sty, "style", choices=[s for s in STYLES if s != "digital"], required=True,
                help="the painting medium to texture the strokes in")
    sty.add_argument("--out", type=Path, required=True, help="textured stroke file to write")
    sty.add_argument("--render", type=Path, metavar="PNG", help="also write the backend's render of it")
    sty.add_argument("--iterations", type=positive_int, default=Settings.style_iterations,
                     help=f"style phase steps (default {Settings.style_iterations})")
    add_setting(sty, "seed", help="picks each stroke's texture variant")
    sty.set_defaults(run=_stylize)

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
    job = job_settings(args)
    with _progress(args) as report_progress:
        summary = reconstruct_image(args.image, job, args.out, report_progress,
                                    notice=lambda text: print(text, file=sys.stderr), process_frames=args.gif_frames,
                                    weights=replace(LossWeights(), **dict(args.loss)))
    _done(args, summary)
    return 0


def _refine(args: argparse.Namespace) -> int:
    if args.add < 0:
        raise ValueError(f"--add must be 0 or more, not {args.add}")
    job = JobSettings(levels=args.levels, iterations=args.iterations, seed=args.seed, device=args.device)
    device = torch_device(job.device)
    doc = strokefile.load(args.strokes)
    if doc.textures:
        raise ValueError(f"{args.strokes} is textured: refine the unstyled reconstruction, then stylize it again")
    if doc.canvas.grain is not None:  # refine fits over a flat canvas and has no grain fit
        raise ValueError(f"{args.strokes} has a canvas grain: refine a reconstruction made without --grain")
    width, height = doc.canvas.width, doc.canvas.height
    image = read_image(args.target, max(width, height))
    if (image.rgb.shape[1], image.rgb.shape[0]) != (width, height):
        raise ValueError(f"the target is {image.rgb.shape[1]}×{image.rgb.shape[0]} at the canvas' scale, the canvas "
                         f"{width}×{height}: give the image the stroke file was fitted to")
    background = doc.canvas.background
    target = image.over(background).to(device)
    settings = fit_settings(job, strokes=max(job.levels, len(doc.strokes)))
    args.out.mkdir(parents=True, exist_ok=True)  # before the run: an unusable --out fails at once
    refined = {"refined_from": args.strokes.name, "psnr_before": doc.metadata.get("psnr"),
               "refine": {"add": args.add, "iterations": args.iterations}}
    files = ResultFiles(args.out, width, height, background, {**doc.metadata, **refined})
    with _progress(args) as report_progress:
        result = refine(from_stroke_file(doc, device), target, background, settings, args.add, report_progress,
                        image.alpha)
    _finish(args, files, result, target, str(args.target))
    return 0


def _finish(args: argparse.Namespace, files: ResultFiles, result: Reconstruction, target: torch.Tensor,
            source: str) -> None:
    _done(args, files.finish(result, target, source, process_frames=args.gif_frames))


def _done(args: argparse.Namespace, summary: Summary) -> None:
    if args.progress_json:
        emit(done_event(str(summary.strokes_path.resolve()), summary.report["psnr"], summary.report["seconds"]))
    else:
        print(summary.line())


def _render(args: argparse.Namespace) -> int:
    if not 0 < args.scale <= 16:
        raise ValueError("--scale must lie in (0, 16]")
    doc = strokefile.load(args.strokes)
    strokes = from_stroke_file(doc).scaled(args.scale)  # paint and smudge strokes, in painting order
    background = file_canvas(doc.canvas, args.scale)  # its grain too
    height, width = background.shape[:2]
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


def _stylize(args: argparse.Namespace) -> int:
    doc = strokefile.load(args.strokes)
    if doc.textures:
        raise ValueError(f"{args.strokes} is textured already: stylize the unstyled reconstruction")
    width, height = doc.canvas.width, doc.canvas.height
    target, _ = load_image(args.target, max_side=1 << 16)
    if target.shape[:2] != (height, width):
        raise ValueError(f"the target is {target.shape[1]}×{target.shape[0]}, the canvas {width}×{height}")
    background = file_canvas(doc.canvas)  # its grain too
    start = time.perf_counter()
    painting, style = style_phase(from_stroke_file(doc), args.style, target, background, args.iterations, args.seed)
    seconds = time.perf_counter() - start
    with torch.no_grad():
        image = render_styled_painting(painting, style, background)
    metadata = {**doc.metadata, "psnr": round(psnr(image, target), 3), "style": args.style}
    textured = styled_paint(style.detach())  # smudges drag the textured paint
    strokefile.save(attach_style(to_stroke_file(painting, width, height, doc.canvas.background, metadata, textured,
                                                doc.canvas.grain), style), args.out)
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
    """A tqdm bar over the whole reconstruction (stderr), labelled with level and fit quality. It appears
    at the first step, so what is printed while the image is read comes before it."""

    def __init__(self) -> None:
        self._bar: Any = None

    @property
    def bar(self) -> Any:
        if self._bar is None:
            from tqdm import tqdm

            fmt = "{l_bar}{bar}| {elapsed}<{remaining} {postfix}"
            self._bar = tqdm(total=1000, unit="‰", mininterval=0.5, bar_format=fmt)
        return self._bar

    def __call__(self, p: Progress) -> None:
        self.bar.set_description(f"{p.phase} level {p.level}/{p.levels}", refresh=False)
        self.bar.set_postfix_str(f"loss {p.loss:.4f}  PSNR {p.psnr:.2f} dB", refresh=False)
        self.bar.update(round(1000 * p.fraction) - self.bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@contextmanager
def _progress(args: argparse.Namespace) -> Iterator[Callable[[Progress], None]]:
    """The run's progress report: JSON lines on stdout for a front end, else a bar on stderr."""
    if args.progress_json:
        yield ProgressPrinter()
        return
    bar = _BarProgress()
    try:
        yield bar
    finally:
        bar.close()


def _fail(args: argparse.Namespace, message: str) -> None:
    if getattr(args, "progress_json", False):
        emit(error_event(message))
    print(f"diffpaint: error: {message}", file=sys.stderr)


def _loss_weight(text: str) -> tuple[str, float]:
    name, _, value = text.partition("=")
    terms = [f.name for f in fields(LossWeights)]
    if name not in terms:
        raise argparse.ArgumentTypeError(f"unknown loss term {name!r}; the terms are {', '.join(terms)}")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not TERM=WEIGHT with a number for WEIGHT") from None


"""The `diffpaint export-svg`, `video` and `frames` subcommands: a stroke file as other media."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import Tensor

from diffpaint_shared import strokefile

if TYPE_CHECKING:
    from diffpaint.painting import Painting


def add_export_parsers(sub: Any) -> None:
    svg = sub.add_parser("export-svg", help="write a stroke file as SVG",
                         description="Write every stroke as a vector path (width profile, color gradient, "
                         "opacity) in painting order, one Inkscape layer per level.")
    svg.add_argument("strokes", type=Path, help="stroke file (.json)")
    svg.add_argument("--out", type=Path, required=True, help="SVG to write")
    svg.set_defaults(run=_export_svg)

    vid = sub.add_parser("video", help="the painting being built, stroke by stroke, as MP4 or GIF",
                         description="Render the canvas after each prefix of the painting order and write it "
                         "as an H.264 MP4 or a looping GIF (chosen by --out's suffix).")
    vid.add_argument("strokes", type=Path, help="stroke file (.json)")
    vid.add_argument("--out", type=Path, required=True, help="process.mp4 or process.gif")
    vid.add_argument("--duration", type=float, default=6.0, help="seconds to build the painting (default 6)")
    vid.add_argument("--hold", type=float, default=2.0, help="seconds to hold the finished painting (default 2)")
    vid.add_argument("--fps", type=float, default=None, help="frames per second (default 24 for MP4, 10 for GIF)")
    vid.add_argument("--scale", type=float, default=1.0, help="resolution factor; strokes are vectors (default 1)")
    vid.add_argument("--side-by-side", type=Path, metavar="TARGET",
                     help="show this image (e.g. the target.png of a reconstruction) left of the painting")
    vid.set_defaults(run=_video)

    frm = sub.add_parser("frames", help="PNG stills of the painting after chosen numbers of strokes",
                         description="Write DIR/strokes-NNNN.png, the canvas after NNNN strokes, for each step.")
    frm.add_argument("strokes", type=Path, help="stroke file (.json)")
    frm.add_argument("--out", type=Path, required=True, help="folder to write (created if missing)")
    steps = frm.add_mutually_exclusive_group()
    steps.add_argument("--steps", type=_counts, help="comma-separated stroke counts, e.g. 10,50,200")
    steps.add_argument("--every", type=int, help="a frame every N strokes, and the finished painting")
    frm.add_argument("--scale", type=float, default=1.0, help="resolution factor; strokes are vectors (default 1)")
    frm.set_defaults(run=_frames)


def _export_svg(args: argparse.Namespace) -> int:
    from diffpaint.export.svg import save_svg

    doc = strokefile.load(args.strokes)
    save_svg(doc, args.out)
    print(f"{len(doc.strokes)} strokes → {args.out}")
    return 0


def _video(args: argparse.Namespace) -> int:
    from diffpaint.export.process import Timing, build_frames, save_animation, side_by_side, stroke_counts
    from diffpaint.style import style_from_file

    fps = args.fps or (10.0 if args.out.suffix.lower() == ".gif" else 24.0)
    timing = Timing(duration=args.duration, hold=args.hold, fps=fps)
    doc = strokefile.load(args.strokes)
    strokes, background = _painting(doc, args.scale)
    frames = build_frames(strokes, background, stroke_counts(len(strokes), timing.build_frames),
                          style=style_from_file(doc))
    if args.side_by_side:
        target = _image_at(args.side_by_side, background.shape[1], background.shape[0])
        frames = [side_by_side(f, target) for f in frames]
    save_animation(frames, args.out, timing)
    print(f"{len(strokes)} strokes in {timing.duration:g} s + {timing.hold:g} s hold → {args.out}")
    return 0


def _frames(args: argparse.Namespace) -> int:
    from diffpaint.export.process import build_frames, save_frames
    from diffpaint.style import style_from_file

    doc = strokefile.load(args.strokes)
    strokes, background = _painting(doc, args.scale)
    total = len(strokes)
    if args.steps:
        counts = sorted(set(args.steps))
        if counts[-1] > total:
            raise ValueError(f"--steps asks for {counts[-1]} strokes; the file has {total}")
    else:
        every = args.every or max(1, total // 8)
        if every < 1:
            raise ValueError("--every must be a positive number of strokes")
        counts = sorted({*range(every, total, every), total})
    paths = save_frames(build_frames(strokes, background, counts, style=style_from_file(doc)), counts, args.out)
    print(f"{len(paths)} frames → {args.out}")
    return 0


def _painting(doc: strokefile.StrokeFile, scale: float) -> tuple[Painting, Tensor]:
    """A stroke file's painting (paint and smudge strokes) and bare canvas (its grain too), resized by `scale`."""
    from diffpaint.grain.fit import file_canvas
    from diffpaint.painting import from_stroke_file

    if not 0 < scale <= 16:
        raise ValueError("--scale must lie in (0, 16]")
    return from_stroke_file(doc).scaled(scale), file_canvas(doc.canvas, scale)


def _image_at(path: Path, width: int, height: int) -> Tensor:
    """An image resized to width × height; refused when its shape differs from that."""
    from diffpaint.imageio import load_image, resize

    image, _ = load_image(path, max_side=1 << 16)
    h, w = image.shape[:2]
    if abs(w / h - width / height) > 0.02:
        raise ValueError(f"{path.name} is {w}×{h} px, not the painting's shape ({width}×{height})")
    return resize(image, width, height)


def _counts(text: str) -> list[int]:
    try:
        counts = [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of stroke counts") from None
    if not counts or min(counts) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: stroke counts must be 0 or more")
    return counts

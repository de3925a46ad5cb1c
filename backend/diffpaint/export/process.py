"""The painting process as media: the canvas after each prefix of the stroke order.

One way to make every process medium: `build_frames` renders the canvas after chosen stroke
counts, incrementally (each frame paints only its new strokes over the previous canvas, which is
exact for "over" compositing, so the whole animation costs about one render plus a call per
frame; a textured painting's frames are textured, as its final render is); `save_animation` writes
them as an MP4 (the ffmpeg shipped by imageio-ffmpeg) or a GIF with a build time and a hold on the
finished painting, optionally beside the target; and `save_frames` writes PNG stills.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from diffpaint.imageio import to_pil
from diffpaint.painting import Painting, render_painting
from diffpaint.render import RasterSettings
from diffpaint.style import StrokeStyle, render_styled_painting

FORMATS = (".mp4", ".gif")


@dataclass(frozen=True)
class Timing:
    duration: float = 6.0  # seconds from the first stroke to the finished painting
    hold: float = 2.0  # seconds the finished painting stays on screen
    fps: float = 24.0

    def __post_init__(self) -> None:
        if not (self.duration > 0 and self.hold >= 0 and 1 <= self.fps <= 60):
            raise ValueError(f"need duration > 0 s, hold ≥ 0 s and 1 ≤ fps ≤ 60, not {self}")

    @property
    def build_frames(self) -> int:
        return max(1, round(self.duration * self.fps))


def stroke_counts(total: int, frames: int) -> list[int]:
    """Strokes painted in each of `frames` frames, evenly from 1 to `total` (repeats when frames > total)."""
    if total == 0:
        return [0] * frames
    return torch.linspace(1, total, frames).round().long().tolist()


def build_frames(
    strokes: Painting, background: Tensor, counts: Sequence[int], settings: RasterSettings | None = None,
    style: StrokeStyle | None = None,
) -> list[Tensor]:
    """The canvas (H, W, 3) sRGB after the first counts[i] strokes, for non-decreasing counts; with
    `style` (its paint strokes' textures, in painting order) the strokes are rendered textured."""
    frames: list[Tensor] = []
    canvas, painted = background, 0
    with torch.no_grad():
        for n in counts:
            if n < painted:
                raise ValueError("stroke counts must not decrease")
            if n > painted:
                canvas = _render_span(strokes, style, painted, n, canvas, settings)
                painted = n
            frames.append(canvas)
    return frames


def _render_span(painting: Painting, style: StrokeStyle | None, start: int, stop: int, canvas: Tensor,
                 settings: RasterSettings | None) -> Tensor:
    """Strokes start … stop−1 of the painting order over `canvas`, textured when there is a style."""
    span = painting.span(start, stop)
    if style is None:
        return render_painting(span, canvas, settings)
    first = len(painting.span(0, start).paint)  # the span's first paint stroke, as the style indexes them
    own = style.select(slice(first, first + len(span.paint)))
    return render_styled_painting(span, own, canvas, settings)


def side_by_side(frame: Tensor, target: Tensor) -> Tensor:
    """The target to the left of the frame, both (H, W, 3)."""
    if target.shape != frame.shape:
        raise ValueError(f"the target is {tuple(target.shape[:2])} px, the frames {tuple(frame.shape[:2])} px")
    return torch.cat([target, frame], dim=1)


def save_animation(frames: Sequence[Tensor], path: str | os.PathLike[str], timing: Timing) -> None:
    """Write frames played over timing.duration, then the last one held for timing.hold, as .mp4 or .gif."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{Path(path).name}: the process animation is written as {' or '.join(FORMATS)}")
    if suffix == ".gif":
        _save_gif(frames, path, timing)
    else:
        _save_mp4(frames, path, timing)


def save_frames(frames: Sequence[Tensor], counts: Sequence[int], folder: str | os.PathLike[str]) -> list[Path]:
    """Write each frame as FOLDER/strokes-NNNN.png, named by the strokes it shows."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"strokes-{n:04d}.png" for n in counts]
    for frame, p in zip(frames, paths, strict=True):
        to_pil(frame).save(p)
    return paths


def _save_gif(frames: Sequence[Tensor], path: str | os.PathLike[str], timing: Timing) -> None:
    """All frames in one 256-color palette, made from the first and the last frame (the canvas the painting
    starts on and the finished painting hold the colors the frames pass through): a palette per frame, PIL's
    default, took ~3 s for 48 frames at 512 px, this ~0.1 s (bench/RESULTS.md "process.gif in one palette")."""
    images = [to_pil(f) for f in frames]
    ends = Image.new("RGB", (images[0].width, 2 * images[0].height))
    ends.paste(images[0], (0, 0))
    ends.paste(images[-1], (0, images[0].height))
    palette = ends.quantize(256, method=Image.Quantize.FASTOCTREE)
    indexed = [image.quantize(palette=palette, dither=Image.Dither.NONE) for image in images]
    step_ms = max(20, round(1000 * timing.duration / len(images)))  # browsers slow down faster GIF frames
    durations = [step_ms] * (len(images) - 1) + [step_ms + round(1000 * timing.hold)]
    indexed[0].save(path, save_all=True, append_images=indexed[1:], duration=durations, loop=0, optimize=True)


def _save_mp4(frames: Sequence[Tensor], path: str | os.PathLike[str], timing: Timing) -> None:
    """H.264 in yuv420p (plays everywhere), which needs even sides: odd ones get an edge column/row."""
    import imageio_ffmpeg

    height, width = frames[0].shape[:2]
    pad = ((0, height % 2), (0, width % 2), (0, 0))
    per_frame = timing.build_frames / len(frames)
    shown = [frames[min(len(frames) - 1, int(i / per_frame))] for i in range(timing.build_frames)]
    shown += [frames[-1]] * round(timing.hold * timing.fps)
    writer = imageio_ffmpeg.write_frames(os.fspath(path), (width + width % 2, height + height % 2), fps=timing.fps,
                                         macro_block_size=2, quality=8, ffmpeg_log_level="error")
    writer.send(None)
    try:
        for frame in shown:
            writer.send(np.ascontiguousarray(np.pad(np.asarray(to_pil(frame)), pad, mode="edge")))
    finally:
        writer.close()

"""The painting process as an animation: the canvas after each prefix of the stroke order."""

from __future__ import annotations

import os

import torch
from torch import Tensor

from diffpaint.imageio import to_pil
from diffpaint.render import RasterSettings, render
from diffpaint.strokes import Strokes


def process_frames(strokes: Strokes, background: Tensor, frames: int, settings: RasterSettings) -> list[Tensor]:
    """`frames` canvases, from the first stroke painted to the finished painting."""
    counts = torch.linspace(1, len(strokes), frames).round().long().unique().tolist()
    with torch.no_grad():
        return [render(strokes.select(torch.arange(n)), background, settings).image for n in counts]


def save_gif(frames: list[Tensor], path: str | os.PathLike[str], seconds: float, hold: float) -> None:
    """Write frames as a looping GIF lasting `seconds`, then holding the last frame for `hold` seconds."""
    images = [to_pil(f) for f in frames]
    step_ms = max(20, round(1000 * seconds / len(images)))
    durations = [step_ms] * (len(images) - 1) + [round(1000 * hold)]
    images[0].save(path, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)

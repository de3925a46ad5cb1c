from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageSequence

from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import render_painting
from diffpaint.results import PROCESS_MAX_SIDE, ResultFiles


def test_a_large_canvas_is_animated_as_a_preview_ending_on_its_render(painting_path: Path, tmp_path: Path) -> None:
    small, _ = load_image(painting_path, 40)
    background = tuple(small.mean((0, 1)).tolist())
    rec = reconstruct(small, background, Settings(strokes=12, levels=1, iterations=4, rounds=1))
    scale = 16  # a 640 px canvas: more than the preview's long side
    height, width = small.shape[0] * scale, small.shape[1] * scale
    strokes = rec.strokes.scaled(scale)
    with torch.no_grad():
        canvas = render_painting(strokes, torch.tensor(background).expand(height, width, 3).contiguous())
    large = replace(rec, strokes=strokes, canvas=canvas)
    target = torch.nn.functional.interpolate(small.permute(2, 0, 1)[None], scale_factor=scale)[0].permute(1, 2, 0)

    ResultFiles(tmp_path, width, height, background, {}).finish(large, target, "test", process_frames=4)

    with Image.open(tmp_path / "process.gif") as gif:
        assert max(gif.size) == PROCESS_MAX_SIDE
        last = [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)][-1]
    with Image.open(tmp_path / "render.png") as render:
        assert render.size == (width, height)  # the render stays full size
        expected = render.convert("RGB").resize(last.size, Image.Resampling.BOX)
    as_tensor = [torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0) for im in (last, expected)]
    assert psnr(*as_tensor) > 30.0

"""What a run leaves in its folder, written the same by `diffpaint reconstruct|refine|batch` and the
server's job worker: ``level-N.json`` as each level completes (the worker), then ``strokes.json``,
``render.png``, ``target.png``, ``process.gif`` (unless asked for none) and ``report.json``.

Each file is written under a temporary name and renamed, so a reader (the server serving a running
job's files) never sees half a file. Metrics in them are finite (`metrics.MAX_PSNR`): strict JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from diffpaint import __version__
from diffpaint.export.process import Timing, build_frames, save_animation, stroke_counts
from diffpaint.fit.optimize import Progress, Reconstruction, reconstruct
from diffpaint.grain.fit import canvas_image, file_canvas
from diffpaint.imageio import save_png
from diffpaint.job import fit_settings, fit_target, torch_device
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, to_stroke_file
from diffpaint.style import StrokeStyle, attach_style
from diffpaint.style.render import styled_paint
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import JobSettings

PROCESS_TIMING = Timing(duration=6.0, hold=2.0)
# process.gif is a preview: a larger canvas is animated at this long side (the strokes are vectors, rendered
# smaller); at 2,048 px its frames cost as much as the final render. `diffpaint video` makes full-size ones.
PROCESS_MAX_SIDE = 512


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to a temporary name beside ``path`` (same suffix, so the format is kept), then rename."""
    tmp = path.with_name(f"{path.stem}.tmp{path.suffix}")
    write(tmp)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Summary:
    strokes_path: Path
    report: dict[str, Any]  # as written to report.json

    def line(self) -> str:
        r = self.report
        return (f"{r['strokes']} strokes, PSNR {r['psnr']:.2f} dB (blank canvas {r['blank_psnr']:.2f} dB), "
                f"{r['seconds']:.1f} s on {r['device']} → {self.strokes_path.parent}")


class ResultFiles:
    """One run's output folder. ``metadata`` goes into every stroke file written (source, settings…)."""

    def __init__(self, out: Path, width: int, height: int, background: tuple[float, float, float],
                 metadata: dict[str, Any]):
        self.dir = out
        self.width, self.height = width, height
        self.background = background
        self.metadata = {**metadata, "generator": f"diffpaint {__version__}"}

    def stroke_file(self, strokes: Painting, style: StrokeStyle | None = None,
                    metadata: dict[str, Any] | None = None,
                    grain: strokefile.CanvasGrain | None = None) -> strokefile.StrokeFile:
        """``strokes`` on this run's canvas (with ``grain`` under them when given), with its metadata and
        ``metadata``."""
        # Smudges drag what the painting shows: their deposits are sampled from the textured canvas when styled.
        paint = None if style is None else styled_paint(style.detach().to(torch.device("cpu")))
        doc = to_stroke_file(strokes, self.width, self.height, self.background, {**self.metadata, **(metadata or {})},
                             paint, grain)
        return doc if style is None else attach_style(doc, style)  # textured strokes import textured

    def level(self, level: int, strokes: Painting, style: StrokeStyle | None = None) -> str:
        """Write ``level-N.json``: every stroke through ``level``; returns its file name."""
        name = f"level-{level}.json"
        strokefile.save(self.stroke_file(strokes, style, {"level": level, "complete": False}), self.dir / name)
        return name

    def finish(self, result: Reconstruction, target: Tensor, source: str, process_frames: int | None) -> Summary:
        """Write the finished run's files; ``process_frames`` frames in process.gif, or no animation if None."""
        device = target.device
        canvas = canvas_image(self.background, result.grain, self.width, self.height, device)
        blank = psnr(canvas, target)
        doc = self.stroke_file(result.strokes, result.style,
                                {"psnr": round(result.psnr, 3), "seconds": round(result.seconds, 2)}, result.grain)
        strokes_path = self.dir / "strokes.json"
        strokefile.save(doc, strokes_path)
        write_atomically(self.dir / "render.png", lambda p: save_png(result.canvas, p))
        write_atomically(self.dir / "target.png", lambda p: save_png(target, p))
        if process_frames is not None:
            scale = min(1.0, PROCESS_MAX_SIDE / max(self.width, self.height))
            frames = build_frames(result.strokes.scaled(scale), file_canvas(doc.canvas, scale, device),
                                  stroke_counts(len(result.strokes), process_frames), style=result.style)
            write_atomically(self.dir / "process.gif", lambda p: save_animation(frames, p, PROCESS_TIMING))
        report = {"image": source, "width": self.width, "height": self.height, "strokes": len(result.strokes),
                  "smudge_strokes": len(result.strokes.smudge), "psnr": result.psnr, "blank_psnr": blank,
                  "seconds": result.seconds, "device": str(device)}
        text = json.dumps(report, indent=2, allow_nan=False)
        write_atomically(self.dir / "report.json", lambda p: p.write_text(text))
        return Summary(strokes_path, report)


def reconstruct_image(source: Path, job: JobSettings, out: Path, on_progress: Callable[[Progress], None] | None = None,
                      notice: Callable[[str], None] | None = None, process_frames: int | None = 48,
                      **overrides: Any) -> Summary:
    """Fit the image at ``source`` as ``job`` says and write the run's files to ``out`` (created): what
    `diffpaint reconstruct` and each image of `diffpaint batch` do. ``notice`` is told what was done to the
    image (downscaling); ``overrides`` go to `job.fit_settings` (loss weights)."""
    target = fit_target(source, job, torch_device(job.device))
    if target.notice and notice is not None:
        notice(target.notice)
    settings = fit_settings(job, target.image, **overrides)
    height, width = target.image.shape[:2]
    out.mkdir(parents=True, exist_ok=True)  # before the run: an unusable folder fails at once
    # "medium" is the one fitted: what style auto chose, or the style asked for
    metadata = {"source": source.name, "settings": job.as_dict(), "medium": settings.style}
    files = ResultFiles(out, width, height, target.background, metadata)
    result = reconstruct(target.image, target.background, settings, on_progress, mask=target.mask)
    return files.finish(result, target.image, str(source), process_frames)

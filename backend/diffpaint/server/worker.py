"""One job, in its own process: ``python -m diffpaint.server.worker JOB_DIR``.

Reads ``JOB_DIR/job.json`` ({"image", "device", "settings"}), fits the strokes and writes its outputs
into JOB_DIR. Talks to the server in JSON lines on stdout, as ``diffpaint reconstruct
--progress-json`` does, with two more events:

- ``{"event": "progress", "phase", "level", "levels", "iteration", "iterations", "fraction", "loss",
  "psnr", "elapsed"}`` at most every PROGRESS_INTERVAL seconds;
- ``{"event": "preview"}`` when preview.png holds a newer canvas;
- ``{"event": "level", "level": N, "strokes": "level-N.json"}`` when a level is complete;
- then ``{"event": "done", "strokes": PATH}`` (exit 0) or ``{"event": "error", "message"}`` (exit 1/2).

Files are written to a temporary name and renamed, so the server never serves half a file.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from diffpaint import __version__
from diffpaint.fit.optimize import Progress, Settings
from diffpaint.imageio import ImageInputError, read_image, save_png
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, to_stroke_file
from diffpaint.server.reconstructor import Reconstructor
from diffpaint.style import StrokeStyle, attach_style
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import JobSettings, background_rgb

PROGRESS_INTERVAL = 0.2
PREVIEW_INTERVAL = 1.0


def emit(**event: Any) -> None:
    print(json.dumps(event), flush=True)


class JobFiles:
    """The JobSink that writes a job's folder and tells the server about it."""

    def __init__(self, job_dir: Path, width: int, height: int, background: tuple[float, float, float],
                 metadata: dict[str, Any]):
        self.dir = job_dir
        self.width, self.height = width, height
        self.background = background
        self.metadata = metadata
        self._last_progress = self._last_preview = 0.0

    def progress(self, p: Progress) -> None:
        now = time.monotonic()
        if now - self._last_progress < PROGRESS_INTERVAL and p.fraction < 1.0:
            return
        self._last_progress = now
        emit(event="progress", phase=p.phase, level=p.level, levels=p.levels, iteration=p.iteration,
             iterations=p.iterations, fraction=round(p.fraction, 4), loss=p.loss, psnr=p.psnr,
             elapsed=round(p.elapsed, 2))

    def canvas(self, image: Tensor, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_preview < PREVIEW_INTERVAL:
            return
        self._last_preview = now
        tmp = self.dir / "preview.tmp.png"
        save_png(image, tmp)
        os.replace(tmp, self.dir / "preview.png")
        emit(event="preview")

    def level(self, level: int, strokes: Painting, canvas: Tensor, style: StrokeStyle | None = None) -> None:
        doc = to_stroke_file(strokes, self.width, self.height, self.background,
                             {**self.metadata, "level": level, "complete": False})
        if style is not None:  # a textured run's levels import textured, as the final file does
            doc = attach_style(doc, style)
        name = f"level-{level}.json"
        strokefile.save(doc, self.dir / name)
        self.canvas(canvas, force=True)
        emit(event="level", level=level, strokes=name)


def run_job(job_dir: Path) -> Path:
    spec = json.loads((job_dir / "job.json").read_text())
    job = JobSettings(**spec["settings"])
    device = torch.device(spec["device"])
    image = read_image(job_dir / spec["image"], job.size)
    background = background_rgb(job.background, image.mean_colour())
    target = image.over(background).to(device)  # transparent areas are fitted as bare canvas
    settings = Settings(strokes=job.strokes, levels=job.levels, iterations=job.iterations, rounds=job.rounds,
                        seed=job.seed, style=job.style, smudge=job.smudge)
    height, width = target.shape[:2]
    metadata = {"source": spec.get("source") or spec["image"], "settings": job.as_dict(),
                "generator": f"diffpaint {__version__}"}
    files = JobFiles(job_dir, width, height, background, metadata)

    result = Reconstructor().run(target, background, settings, files, image.alpha)

    blank = psnr(torch.tensor(background, device=device).expand_as(target), target)
    doc = to_stroke_file(result.strokes, width, height, background,
                         {**metadata, "psnr": round(result.psnr, 3), "seconds": round(result.seconds, 2)})
    if result.style is not None:
        doc = attach_style(doc, result.style)
    strokes_path = job_dir / "strokes.json"
    strokefile.save(doc, strokes_path)
    tmp = job_dir / "render.tmp.png"
    save_png(result.canvas, tmp)
    os.replace(tmp, job_dir / "render.png")
    report = {"width": width, "height": height, "strokes": len(result.strokes), "psnr": result.psnr,
              "blank_psnr": blank, "seconds": result.seconds, "device": str(device)}
    (job_dir / "report.json").write_text(json.dumps(report, indent=2))
    return strokes_path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m diffpaint.server.worker JOB_DIR", file=sys.stderr)
        return 2
    try:
        strokes_path = run_job(Path(args[0]))
    except (ImageInputError, ValueError, strokefile.StrokeFileError) as e:
        emit(event="error", message=str(e))
        return 2
    except Exception as e:  # out of memory, a CUDA error…: reported, and the server goes on
        traceback.print_exc()
        emit(event="error", message=f"{type(e).__name__}: {e}")
        return 1
    emit(event="done", strokes=str(strokes_path.resolve()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

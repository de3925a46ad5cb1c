"""One job, in its own process: ``python -m diffpaint.server.worker JOB_DIR``.

Reads ``JOB_DIR/job.json`` ({"kind", "image", "source", "device", "settings"}), fits the strokes and writes
its outputs into JOB_DIR (`diffpaint.results`, as ``diffpaint reconstruct`` does, less the process
animation). Talks to the server in the JSON lines of ``diffpaint reconstruct --progress-json``
(`diffpaint_shared.progress`), with two more events:

- ``{"event": "preview"}`` when preview.png holds a newer canvas;
- ``{"event": "level", "level": N, "strokes": "level-N.json"}`` when a level is complete;

and ends with ``done`` (exit 0) or ``error`` (exit 1/2). Files are written to a temporary name and
renamed, so the server never serves half a file. A sequence job (kind "sequence") runs in
`sequence_worker`.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from pathlib import Path

from torch import Tensor

from diffpaint.fit.optimize import Progress
from diffpaint.imageio import ImageInputError, save_png
from diffpaint.job import fit_settings, fit_target, torch_device
from diffpaint.painting import Painting
from diffpaint.results import ResultFiles, write_atomically
from diffpaint.server.job import SEQUENCE
from diffpaint.server.reconstructor import Reconstructor
from diffpaint.server.sequence_worker import run_sequence_job
from diffpaint.style import StrokeStyle
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import JobSettings
from diffpaint_shared.progress import ProgressPrinter, done_event, emit, error_event

PREVIEW_INTERVAL = 1.0


class JobFiles:
    """The JobSink that writes a job's folder and tells the server about it."""

    def __init__(self, files: ResultFiles):
        self.files = files
        self._progress = ProgressPrinter()
        self._last_preview = 0.0

    def progress(self, p: Progress) -> None:
        self._progress(p)

    def canvas(self, image: Tensor, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_preview < PREVIEW_INTERVAL:
            return
        self._last_preview = now
        write_atomically(self.files.dir / "preview.png", lambda p: save_png(image, p))
        emit({"event": "preview"})

    def level(self, level: int, strokes: Painting, canvas: Tensor, style: StrokeStyle | None = None) -> None:
        name = self.files.level(level, strokes, style)
        self.canvas(canvas, force=True)
        emit({"event": "level", "level": level, "strokes": name})


def run_job(job_dir: Path) -> None:
    spec = json.loads((job_dir / "job.json").read_text())
    if spec.get("kind") == SEQUENCE:
        run_sequence_job(job_dir, spec)
        return
    job = JobSettings(**spec["settings"])
    target = fit_target(job_dir / spec["image"], job, torch_device(spec["device"]))
    height, width = target.image.shape[:2]
    source = spec.get("source") or spec["image"]
    files = ResultFiles(job_dir, width, height, target.background, {"source": source, "settings": job.as_dict()})
    result = Reconstructor().run(target.image, target.background, fit_settings(job, target.image), JobFiles(files),
                                 target.mask)
    summary = files.finish(result, target.image, source, process_frames=None)
    emit(done_event(str(summary.strokes_path.resolve()), result.psnr, result.seconds))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m diffpaint.server.worker JOB_DIR", file=sys.stderr)
        return 2
    try:
        run_job(Path(args[0]))
    except (ImageInputError, ValueError, strokefile.StrokeFileError) as e:
        emit(error_event(str(e)))
        return 2
    except Exception as e:  # out of memory, a CUDA error…: reported, and the server goes on
        traceback.print_exc()
        emit(error_event(f"{type(e).__name__}: {e}"))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

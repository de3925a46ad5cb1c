"""A sequence job in the worker process (``job.json`` with ``"kind": "sequence"``): the frames fitted one
from the other by the code ``diffpaint sequence`` runs (`diffpaint.batch`: one chunk, so strokes carry
over from the first frame to the last), on the job's device, into ``JOB_DIR/sequence/``.

After each frame the worker rewrites the manifest (atomically) to list the frames done so far, saves
that frame's render as the preview, and prints ``{"event": "frame", "frame": I, "frames_done": N}`` and a
progress event whose ``fraction`` is frames done over frames (``phase`` "frame", ``iteration``/``iterations``
the frames). A cancel kills the worker; the frames the manifest lists stay complete.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from diffpaint.batch.command import sequence_job
from diffpaint.batch.sequence import FrameFit
from diffpaint.batch.tasks import BatchSettings
from diffpaint.imageio import save_png
from diffpaint.results import write_atomically
from diffpaint.server.job import SEQUENCE_DIR
from diffpaint_shared import sequence
from diffpaint_shared.jobschema import JobSettings
from diffpaint_shared.progress import PROGRESS_FIELDS, done_event, emit


def run_sequence_job(job_dir: Path, spec: dict[str, Any]) -> None:
    settings = BatchSettings(JobSettings(**spec["settings"]), warm=bool(spec.get("warm", True)))
    fps = spec.get("fps")
    job = sequence_job(str(job_dir / spec["image"]), job_dir / SEQUENCE_DIR, float(fps) if fps else None, 0,
                       settings)
    job.source = spec.get("source") or spec["image"]
    [task] = job.tasks()
    total, start = len(job.frames), time.perf_counter()
    _progress(0, total, None, 0.0)

    def on_frame(frames: list[sequence.Frame], fit: FrameFit) -> None:
        sequence.save(job.manifest_of(tuple(frames)), job.manifest)
        write_atomically(job_dir / "preview.png", lambda p: save_png(fit.canvas, p))
        emit({"event": "frame", "frame": frames[-1].index, "frames_done": len(frames)})
        _progress(len(frames), total, fit.psnr, time.perf_counter() - start)

    task.out.mkdir(parents=True, exist_ok=True)  # written in place, frame by frame: a cancel keeps what is done
    frames = task.write(task.out, on_frame)
    mean = sum(f.psnr or 0.0 for f in frames) / len(frames)
    emit(done_event(str(job.manifest.resolve()), mean, round(time.perf_counter() - start, 2)))


def _progress(done: int, total: int, psnr: float | None, elapsed: float) -> None:
    fields: dict[str, Any] = dict.fromkeys(PROGRESS_FIELDS)
    fields.update(phase="frame", iteration=done, iterations=total, fraction=round(done / total, 4),
                  psnr=psnr if psnr is not None and math.isfinite(psnr) else None, elapsed=round(elapsed, 2))
    emit({"event": "progress", **fields})

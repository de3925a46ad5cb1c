"""The job queue: one job at a time per device, each job in its own worker process.

A dispatcher thread per device takes jobs in submission order and drives the worker through
``BackendJob`` (the same process driver the Blender add-on uses: JSON-lines events on stdout, one
terminal event, process-group kill on cancel). Whatever a job does — fail, crash, hang until
cancelled — its dispatcher records it and moves on to the next job.

A job's folder holds ``job.json`` (what the worker reads), the upload, ``target.png`` (the image as
it will be fitted), and what the worker writes: ``preview.png`` (latest canvas), ``level-N.json``
(strokes through level N), ``strokes.json``, ``render.png`` and ``report.json``.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffpaint.server.config import JobSettings, ServerConfig
from diffpaint_shared.backend_process import BackendJob, Event

log = logging.getLogger("diffpaint.server")

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED_STATES = (DONE, FAILED, CANCELLED)
POLL_SECONDS = 0.05
MIN_FRACTION_FOR_ETA = 0.02  # before this, an estimate is mostly start-up noise


class QueueFull(RuntimeError):
    pass


@dataclass
class Job:
    id: str
    device: str
    settings: JobSettings
    dir: Path
    image_name: str  # the upload, inside dir
    width: int  # as fitted
    height: int
    source: str = ""  # the upload's own file name
    created: float = field(default_factory=time.time)
    state: str = QUEUED
    started: float | None = None
    finished: float | None = None
    progress: dict[str, Any] | None = None
    levels_done: list[int] = field(default_factory=list)
    preview_version: int = 0  # bumped when the worker writes a new preview.png
    error: str | None = None
    result: dict[str, Any] | None = None
    cancel_requested: bool = False

    @property
    def strokes_path(self) -> Path:
        return self.dir / "strokes.json"

    def level_path(self, level: int) -> Path:
        return self.dir / f"level-{level}.json"

    def preview(self) -> tuple[Path, str]:
        """The most telling image there is: the final render, else the live canvas, else the
        target as it will be fitted; and which of the three it is."""
        for name, kind in (("render.png", "result"), ("preview.png", "canvas")):
            if (self.dir / name).is_file() and (kind != "result" or self.state == DONE):
                return self.dir / name, kind
        return self.dir / "target.png", "target"


def eta_seconds(progress: dict[str, Any]) -> float | None:
    fraction, elapsed = progress.get("fraction"), progress.get("elapsed")
    if not isinstance(fraction, int | float) or not isinstance(elapsed, int | float):
        return None
    if fraction < MIN_FRACTION_FOR_ETA:
        return None
    return max(0.0, elapsed * (1.0 - fraction) / fraction)


class JobManager:
    def __init__(self, config: ServerConfig, devices: list[str]):
        self.config = config
        self.devices = devices
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, deque[Job]] = {d: deque() for d in devices}
        self._lock = threading.Condition()
        self._running: dict[str, BackendJob] = {}
        self._stopping = False
        self._threads = [threading.Thread(target=self._dispatch, args=(d,), name=f"jobs-{d}", daemon=True)
                         for d in devices]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def shutdown(self) -> None:
        """Stop every job and the dispatchers."""
        with self._lock:
            self._stopping = True
            for job in self._jobs.values():
                if job.state in (QUEUED, RUNNING):
                    job.cancel_requested = True
            self._lock.notify_all()
        for t in self._threads:
            t.join(10)

    # --- requests ---------------------------------------------------------------------------

    def new_job_dir(self) -> tuple[str, Path]:
        job_id = secrets.token_hex(8)
        path = self.config.work_dir / job_id
        path.mkdir(parents=True)
        return job_id, path

    def submit(self, job: Job) -> None:
        with self._lock:
            waiting = sum(len(q) for q in self._queues.values())
            if waiting >= self.config.limits.max_queued:
                raise QueueFull(f"the queue is full ({waiting} jobs waiting); try again when one has finished")
            spec = {"image": job.image_name, "source": job.source, "device": job.device,
                    "settings": job.settings.as_dict()}
            (job.dir / "job.json").write_text(json.dumps(spec, indent=2))
            self._jobs[job.id] = job
            self._queues[job.device].append(job)
            self._lock.notify_all()
        self._forget_old()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created)

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start on its device; None unless queued."""
        with self._lock:
            if job.state != QUEUED:
                return None
            return next((i + 1 for i, j in enumerate(self._queues[job.device]) if j is job), None)

    def queued(self) -> dict[str, int]:
        with self._lock:
            return {d: len(q) for d, q in self._queues.items()}

    def cancel(self, job: Job) -> None:
        """Queued: dropped at once. Running: its worker is stopped by the dispatcher (within
        POLL_SECONDS plus the worker's exit). Finished: nothing changes."""
        with self._lock:
            if job.state == QUEUED:
                self._queues[job.device].remove(job)
                self._finish(job, CANCELLED)
            elif job.state == RUNNING:
                job.cancel_requested = True

    def wait_finished(self, job: Job, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            while job.state not in FINISHED_STATES:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def delete(self, job: Job) -> None:
        self.cancel(job)
        self.wait_finished(job, 15)
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.dir, ignore_errors=True)

    # --- dispatching ------------------------------------------------------------------------

    def _dispatch(self, device: str) -> None:
        while True:
            with self._lock:
                while not self._queues[device] and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    for job in self._queues[device]:
                        self._finish(job, CANCELLED)
                    self._queues[device].clear()
                    return
                job = self._queues[device].popleft()
                job.state, job.started = RUNNING, time.time()
            try:
                self._run(job)
            except Exception as e:  # a job's failure must never stop the dispatcher
                log.exception("job %s failed inside the server", job.id)
                with self._lock:
                    if job.state not in FINISHED_STATES:
                        self._finish(job, FAILED, f"internal error: {type(e).__name__}: {e}")

    def _run(self, job: Job) -> None:
        proc = BackendJob([*self.config.worker_command, str(job.dir)], cwd=str(job.dir))
        try:
            proc.start()
        except OSError as e:
            with self._lock:
                self._finish(job, FAILED, str(e))
            return
        while True:
            if job.cancel_requested:
                proc.cancel()
                with self._lock:
                    self._finish(job, CANCELLED)
                return
            for event in proc.poll():
                with self._lock:
                    self._handle(job, event)
            if proc.finished:
                return
            time.sleep(POLL_SECONDS)

    def _handle(self, job: Job, event: Event) -> None:
        kind = event["event"]
        if kind == "progress":
            progress = {k: event.get(k) for k in ("phase", "level", "levels", "iteration", "iterations",
                                                  "fraction", "loss", "psnr", "elapsed")}
            progress["eta"] = eta_seconds(progress)
            job.progress = progress
        elif kind == "preview":
            job.preview_version += 1
        elif kind == "level" and isinstance(event.get("level"), int):
            if job.level_path(event["level"]).is_file() and event["level"] not in job.levels_done:
                job.levels_done.append(event["level"])
                job.preview_version += 1
        elif kind == "done":
            report: dict[str, Any] = {}
            try:
                report = json.loads((job.dir / "report.json").read_text())
            except (OSError, ValueError):
                pass
            job.result = {k: report.get(k) for k in ("strokes", "psnr", "blank_psnr", "seconds", "width", "height")}
            if job.progress is not None:
                job.progress = {**job.progress, "fraction": 1.0, "eta": 0.0}
            job.preview_version += 1
            self._finish(job, DONE)
        elif kind == "error":
            self._finish(job, FAILED, str(event.get("message") or "the job failed"))

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        """Under the lock."""
        job.state, job.finished, job.error = state, time.time(), error
        self._lock.notify_all()

    def _forget_old(self) -> None:
        with self._lock:
            finished = [j for j in self._jobs.values() if j.state in FINISHED_STATES]
            finished.sort(key=lambda j: j.finished or 0.0)
            old = finished[: max(0, len(finished) - self.config.keep_finished)]
            for job in old:
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(job.dir, ignore_errors=True)

"""The job queue: one job at a time per device, each job in its own worker process.

A dispatcher thread per device takes jobs in submission order and drives the worker through
``WorkerProcess`` (JSON-lines events on stdout, one terminal event, process-group kill on cancel).
Whatever a job does — fail, crash, hang until cancelled — its dispatcher records it and moves on.

A job's folder holds ``job.json`` (what the worker reads), ``state.json`` (the job's record, see
``job``), the upload, ``target.png`` (the image as it will be fitted), and what the worker writes:
``preview.png`` (latest canvas), ``level-N.json`` (strokes through level N), ``strokes.json``,
``render.png`` and ``report.json``; a sequence job holds ``frames/`` or its video, and the worker
writes ``sequence/`` (the manifest, rewritten after each frame, and the frames' files). Finished
jobs are kept for fetching within two bounds, checked whenever a job finishes or arrives: the newest
``keep_finished`` of them, and ``max_disk_bytes`` for all job folders together; the oldest finished go
first, queued and running jobs never.
"""

from __future__ import annotations

import json
import logging
import secrets
import shutil
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from diffpaint.server.config import ServerConfig
from diffpaint.server.job import (
    CANCELLED,
    DONE,
    FAILED,
    FINISHED_STATES,
    JOB_ID,
    QUEUED,
    RUNNING,
    SEQUENCE,
    Job,
    eta_seconds,
    folder_bytes,
)
from diffpaint.server.worker_process import WorkerProcess
from diffpaint_shared.progress import PROGRESS_FIELDS, Event

log = logging.getLogger("diffpaint.server")

POLL_SECONDS = 0.05
PRIVATE_DIR = 0o700  # uploads and results are the client's: no other local user may read them


class QueueFull(RuntimeError):
    pass


class JobManager:
    def __init__(self, config: ServerConfig, devices: list[str]):
        self.config = config
        self.devices = devices
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, deque[Job]] = {d: deque() for d in devices}
        self._lock = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._dispatch, args=(d,), name=f"jobs-{d}", daemon=True)
                         for d in devices]

    def start(self) -> None:
        self.config.work_dir.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
        self._recover()
        for t in self._threads:
            t.start()

    def shutdown(self) -> None:
        """Stop every job and the dispatchers; each stopped job is recorded as cancelled."""
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
        path.mkdir(mode=PRIVATE_DIR)
        return job_id, path

    def check_room(self) -> None:
        """QueueFull unless a new job could be queued now: asked before an upload is decoded, so a
        refusal costs the server nothing (and asked again by submit)."""
        self._evict()
        with self._lock:
            waiting = sum(len(q) for q in self._queues.values())
            if waiting >= self.config.limits.max_queued:
                raise QueueFull(f"the queue is full ({waiting} jobs waiting); try again when one has finished")
        budget = self.config.max_disk_bytes
        if budget is not None and self.disk_bytes() >= budget:
            raise QueueFull(f"the jobs on this server fill its disk budget of {budget / 2**20:.0f} MiB; try again "
                            "when one has finished, or delete finished jobs")

    def submit(self, job: Job) -> None:
        self.check_room()
        with self._lock:
            spec = {"kind": job.kind, "image": job.image_name, "source": job.source, "device": job.device,
                    "settings": job.settings.as_dict(), **job.options}
            (job.dir / "job.json").write_text(json.dumps(spec, indent=2))
            job.save()
            self._jobs[job.id] = job
            self._queues[job.device].append(job)
            self._lock.notify_all()

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

    def disk_bytes(self) -> int:
        """What every job folder holds together."""
        return folder_bytes(self.config.work_dir)

    def kept(self) -> int:
        with self._lock:
            return len(self._jobs)

    def cancel(self, job: Job) -> None:
        """Queued: dropped at once. Running: its worker is stopped by the dispatcher (within
        POLL_SECONDS plus the worker's exit). Finished: nothing changes."""
        with self._lock:
            if job.state == QUEUED:
                self._queues[job.device].remove(job)
                self._finish(job, CANCELLED)
            elif job.state == RUNNING:
                job.cancel_requested = True
        self._evict()

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

    # --- restart ----------------------------------------------------------------------------

    def _recover(self) -> None:
        """Take back the jobs a previous server left in work_dir. One that was queued or running
        was interrupted: it becomes failed, keeping the levels it completed. A job folder without
        a readable record is a submission that never completed, and goes."""
        for path in sorted(self.config.work_dir.iterdir()):
            if not (path.is_dir() and JOB_ID.match(path.name)):
                continue  # not the server's: a user-given work dir may hold other things
            try:
                job = Job.load(path)
            except (OSError, ValueError, KeyError, TypeError):
                log.warning("removing %s: it holds no complete job", path)
                shutil.rmtree(path, ignore_errors=True)
                continue
            if job.state not in FINISHED_STATES:
                kept = "finished frames" if job.kind == SEQUENCE else "completed levels"
                job.error = f"interrupted: the server stopped while the job was {job.state}; its {kept} are kept"
                job.levels_done = job.completed_levels_on_disk()
                job.frames_done = job.frames_on_disk()
                job.state, job.finished = FAILED, time.time()
                job.save()
            self._jobs[job.id] = job
        self._evict()

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
                job.save()
            try:
                self._run(job)
            except Exception as e:  # a job's failure must never stop the dispatcher
                log.exception("job %s failed inside the server", job.id)
                with self._lock:
                    if job.state not in FINISHED_STATES:
                        self._finish(job, FAILED, f"internal error: {type(e).__name__}: {e}")
            self._evict()

    def _run(self, job: Job) -> None:
        proc = WorkerProcess([*self.config.worker_command, str(job.dir)], cwd=str(job.dir))
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
            for event in proc.poll(timeout=POLL_SECONDS):
                with self._lock:
                    self._handle(job, event)
            if proc.finished:
                return

    def _handle(self, job: Job, event: Event) -> None:
        kind = event["event"]
        if kind == "progress":
            progress = {k: event.get(k) for k in PROGRESS_FIELDS}
            progress["eta"] = eta_seconds(progress)
            job.progress = progress
        elif kind == "preview":
            job.preview_version += 1
        elif kind == "level" and isinstance(event.get("level"), int):
            if job.level_path(event["level"]).is_file() and event["level"] not in job.levels_done:
                job.levels_done.append(event["level"])
                job.preview_version += 1
                job.save()
        elif kind == "frame" and isinstance(event.get("frames_done"), int):
            job.frames_done = event["frames_done"]
            job.preview_version += 1
            job.save()
        elif kind == "done":
            job.result = self._result(job, event)
            if job.progress is not None:
                job.progress = {**job.progress, "fraction": 1.0, "eta": 0.0}
            job.preview_version += 1
            self._finish(job, DONE)
        elif kind == "error":
            self._finish(job, FAILED, str(event.get("message") or "the job failed"))

    @staticmethod
    def _result(job: Job, done: Event) -> dict[str, Any]:
        if job.kind == SEQUENCE:  # the worker's done event carries the mean PSNR and the total time
            return {"psnr": done.get("psnr"), "seconds": done.get("seconds"), "frames": job.frames_on_disk(),
                    "width": job.width, "height": job.height}
        report: dict[str, Any] = {}
        try:
            report = json.loads((job.dir / "report.json").read_text())
        except (OSError, ValueError):
            pass
        return {k: report.get(k) for k in ("strokes", "psnr", "blank_psnr", "seconds", "width", "height")}

    def _finish(self, job: Job, state: str, error: str | None = None) -> None:
        """Under the lock. Levels and frames the worker completed but had not yet reported still count."""
        job.state, job.finished, job.error = state, time.time(), error
        job.levels_done = sorted(set(job.levels_done) | set(job.completed_levels_on_disk()))
        job.frames_done = max(job.frames_done, job.frames_on_disk())
        try:
            job.save()
        except OSError:
            log.exception("cannot record job %s", job.id)  # e.g. deleted meanwhile; the memory copy stands
        self._lock.notify_all()

    def _evict(self) -> None:
        """Delete the oldest finished jobs while more than keep_finished are kept or the job
        folders together exceed max_disk_bytes."""
        budget = self.config.max_disk_bytes
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.state in FINISHED_STATES),
                              key=lambda j: j.finished or 0.0)
            sizes = {j.id: j.disk_bytes() for j in finished} if budget is not None else {}
            total = self.disk_bytes() if budget is not None else 0
            old: list[Job] = []
            for job in finished:
                over_count = len(finished) - len(old) > self.config.keep_finished
                over_disk = budget is not None and total > budget
                if not (over_count or over_disk):
                    break
                old.append(job)
                total -= sizes.get(job.id, 0)
                del self._jobs[job.id]
        for job in old:
            shutil.rmtree(job.dir, ignore_errors=True)

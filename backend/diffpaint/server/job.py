"""One job's record, and its copy on disk: ``state.json`` beside the job's files.

The record is written (atomically: a temporary file, then a rename) whenever the job changes state
or completes a level, so a server restarted on the same ``--work-dir`` finds every job again: a
finished one with its results, an interrupted one as failed with the levels it had completed.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diffpaint_shared import sequence
from diffpaint_shared.jobschema import JobSettings, levels_for_budget

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"
FINISHED_STATES = (DONE, FAILED, CANCELLED)
STATE_FILE = "state.json"
JOB_ID = re.compile(r"^[0-9a-f]{16}$")  # secrets.token_hex(8): only such folders are the server's to manage
MIN_FRACTION_FOR_ETA = 0.02  # before this, an estimate is mostly start-up noise
IMAGE, SEQUENCE = "image", "sequence"  # what a job fits: one image (POST /jobs) or a sequence (POST /sequences)
SEQUENCE_DIR = "sequence"  # a sequence job's result folder: the manifest, the frames' stroke files and renders
_SAVED = ("id", "device", "image_name", "width", "height", "source", "created", "state", "started", "finished",
          "progress", "levels_done", "preview_version", "error", "result", "kind", "frames", "frames_done", "options")


@dataclass
class Job:
    id: str
    device: str
    settings: JobSettings
    dir: Path
    image_name: str  # the upload inside dir; a sequence's frames folder or video
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
    kind: str = IMAGE
    frames: int = 0  # a sequence's frames
    frames_done: int = 0  # frames whose files are complete and listed in the manifest (kept by a cancel)
    options: dict[str, Any] = field(default_factory=dict)  # a sequence's warm and fps, as job.json passes them

    @property
    def manifest_path(self) -> Path:
        return self.dir / SEQUENCE_DIR / sequence.MANIFEST_NAME

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

    def save(self) -> None:
        """Write state.json; a crash mid-write leaves the previous copy."""
        record = {name: getattr(self, name) for name in _SAVED} | {"settings": self.settings.as_dict()}
        tmp = self.dir / f"{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(record, indent=2))
        os.replace(tmp, self.dir / STATE_FILE)

    @classmethod
    def load(cls, job_dir: Path) -> Job:
        """The job a folder's state.json describes; OSError, ValueError, KeyError or TypeError if it
        is missing or not one."""
        record = json.loads((job_dir / STATE_FILE).read_text())
        # A record from before sequences lacks their fields, and is an image job.
        saved = {k: record[k] for k in _SAVED if k in record}
        job = cls(settings=JobSettings(**record["settings"]), dir=job_dir, **saved)
        if job.id != job_dir.name:
            raise ValueError(f"{job_dir / STATE_FILE} describes job {job.id!r}")
        return job

    def completed_levels_on_disk(self) -> list[int]:
        """The levels whose stroke files the worker finished writing (it renames them into place)."""
        levels = levels_for_budget(self.settings.strokes, self.settings.levels)
        return sorted(level for level in range(1, levels + 1) if self.level_path(level).is_file())

    def frames_on_disk(self) -> int:
        """The frames the sequence's manifest lists: those the worker finished (it rewrites the manifest,
        atomically, after each)."""
        if self.kind != SEQUENCE or not self.manifest_path.is_file():
            return 0
        try:
            return len(sequence.load(self.manifest_path).frames)
        except sequence.SequenceFileError:
            return 0

    def disk_bytes(self) -> int:
        return folder_bytes(self.dir)


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass  # removed while we looked
    return total


def eta_seconds(progress: dict[str, Any]) -> float | None:
    fraction, elapsed = progress.get("fraction"), progress.get("elapsed")
    if not isinstance(fraction, int | float) or not isinstance(elapsed, int | float):
        return None
    if fraction < MIN_FRACTION_FOR_ETA:
        return None
    return max(0.0, elapsed * (1.0 - fraction) / fraction)

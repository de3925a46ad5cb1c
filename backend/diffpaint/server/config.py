"""What this server allows (`Limits`) and how it runs (`ServerConfig`). Standard library only.

The settings a job may ask for are defined once, in ``diffpaint_shared.jobschema``; the limits here
lower some of their maxima (`Limits.maxima`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Limits:
    """What one request may ask of this server. The defaults suit a workstation GPU; a CPU-only
    or shared server can lower them (`diffpaint serve --help`)."""

    max_upload_bytes: int = 64 * 1024 * 1024
    max_pixels: int = 40_000_000  # of the uploaded image, before it is downscaled to `size`
    max_strokes: int = 8192
    max_levels: int = 6
    max_size: int = 1024  # long side a job may fit at
    max_iterations: int = 1000
    max_rounds: int = 8
    max_queued: int = 8  # jobs waiting, over all devices; more get 503
    max_frames: int = 240  # of a submitted sequence (POST /sequences): 10 s of film

    def maxima(self) -> dict[str, int]:
        """The job settings these limits cap, by setting name (`JobSettings.problems`)."""
        return {"strokes": self.max_strokes, "levels": self.max_levels, "size": self.max_size,
                "iterations": self.max_iterations, "rounds": self.max_rounds}


@dataclass(frozen=True)
class ServerConfig:
    token: str
    work_dir: Path
    limits: Limits = field(default_factory=Limits)
    # The per-job process: the job folder is appended. Tests put a stand-in here.
    worker_command: tuple[str, ...] = (sys.executable, "-m", "diffpaint.server.worker")
    keep_finished: int = 32  # finished jobs (and their files) kept for fetching; older ones go
    max_disk_bytes: int | None = None  # all job folders together; the oldest finished jobs go first
    request_timeout: float = 30.0  # seconds a client may take to send a request's headers, or between body chunks

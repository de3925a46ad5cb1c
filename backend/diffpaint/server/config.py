"""Server limits and the settings one job may ask for (the canvas-colour rule is the CLI's too).
Standard library only."""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The painting media (diffpaint.style.STYLES; repeated here as this module is standard library only).
STYLES = ("digital", "oil", "watercolor", "ink", "pencil")
DEVICES = ("auto", "cpu", "cuda")
HEX_COLOUR = re.compile(r"^#?[0-9a-fA-F]{6}$")
BACKGROUND_PATTERN = r"^(mean|white|#?[0-9a-fA-F]{6})$"


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


@dataclass(frozen=True)
class ServerConfig:
    token: str
    work_dir: Path
    limits: Limits = field(default_factory=Limits)
    # The per-job process: the job folder is appended. Tests put a stand-in here.
    worker_command: tuple[str, ...] = (sys.executable, "-m", "diffpaint.server.worker")
    keep_finished: int = 32  # finished jobs (and their files) kept for fetching; older ones go


@dataclass(frozen=True)
class JobSettings:
    """A job's reconstruction settings, as the worker gets them in job.json."""

    strokes: int = 256
    levels: int = 3
    size: int = 256
    iterations: int = 80
    rounds: int = 2
    seed: int = 0
    background: str = "mean"
    device: str = "auto"
    style: str = "digital"
    smudge: bool = False  # smudge phase on every level but the last (off like the optimiser: see Settings)

    def check(self, limits: Limits) -> list[str]:
        """Problems, each phrased as what to change; empty when the settings are usable."""
        problems = []
        for name, low, high in (
            ("strokes", 1, limits.max_strokes),
            ("levels", 1, limits.max_levels),
            ("size", 8, limits.max_size),
            ("iterations", 1, limits.max_iterations),
            ("rounds", 1, limits.max_rounds),
            ("seed", 0, 2**31 - 1),
        ):
            value = getattr(self, name)
            if not low <= value <= high:
                problems.append(f"{name} must be between {low} and {high} on this server, not {value}")
        if self.strokes < self.levels:
            problems.append(f"a budget of {self.strokes} strokes cannot cover {self.levels} levels: "
                            f"ask for at least {self.levels} strokes or fewer levels")
        try:
            background_rgb(self.background, (0.0, 0.0, 0.0))
        except ValueError as e:
            problems.append(str(e))
        if self.device not in DEVICES:
            problems.append(f"device must be one of {', '.join(DEVICES)}, not {self.device!r}")
        if self.style not in STYLES:
            problems.append(f"style {self.style!r} is not implemented yet; available: {', '.join(STYLES)}")
        return problems

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def background_rgb(choice: str, mean: tuple[float, float, float]) -> tuple[float, float, float]:
    """The canvas colour a background setting names ('mean': `mean`, the image's mean colour; 'white';
    or a hex colour); ValueError for anything else."""
    if choice == "mean":
        return mean
    if choice == "white":
        return (1.0, 1.0, 1.0)
    if not HEX_COLOUR.match(choice):
        raise ValueError(f"background must be 'mean', 'white' or a hex colour like '#f0e8d8', not {choice!r}")
    h = choice.lstrip("#")
    return (int(h[0:2], 16) / 255.0, int(h[2:4], 16) / 255.0, int(h[4:6], 16) / 255.0)

"""The events a backend run prints, one JSON object per line on stdout, and how a front end reads them.

Every run (``diffpaint reconstruct|refine --progress-json``, the server's job worker) speaks the same
lines, built here:

- ``{"event": "progress", "phase", "level", "levels", "iteration", "iterations", "fraction", "loss",
  "psnr", "elapsed"}`` at most every PROGRESS_INTERVAL seconds, and always at the end;
- then ``{"event": "done", "strokes": PATH, "psnr", "seconds"}`` or ``{"event": "error", "message"}``.

The server's worker adds ``preview`` and ``level`` events of its own. Numbers that are not finite
(a diverged loss) are sent as null, so every line is strict JSON. Standard library only.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any, Protocol

Event = dict[str, Any]
PROGRESS_INTERVAL = 0.2  # seconds; the panel redraws a few times a second at most
PROGRESS_FIELDS = ("phase", "level", "levels", "iteration", "iterations", "fraction", "loss", "psnr", "elapsed")


class ProgressReport(Protocol):
    """What the optimizer reports each step (``diffpaint.fit.optimize.Progress``), read-only."""

    @property
    def phase(self) -> str: ...

    @property
    def level(self) -> int: ...

    @property
    def levels(self) -> int: ...

    @property
    def iteration(self) -> int: ...

    @property
    def iterations(self) -> int: ...

    @property
    def fraction(self) -> float: ...

    @property
    def loss(self) -> float: ...

    @property
    def psnr(self) -> float: ...

    @property
    def elapsed(self) -> float: ...


def _number(value: float) -> float | None:
    return value if math.isfinite(value) else None


def progress_event(p: ProgressReport) -> Event:
    return {"event": "progress", "phase": p.phase, "level": p.level, "levels": p.levels, "iteration": p.iteration,
            "iterations": p.iterations, "fraction": round(p.fraction, 4), "loss": _number(p.loss),
            "psnr": _number(p.psnr), "elapsed": round(p.elapsed, 2)}


def done_event(strokes: str, psnr: float, seconds: float) -> Event:
    return {"event": "done", "strokes": strokes, "psnr": _number(psnr), "seconds": seconds}


def error_event(message: str) -> Event:
    return {"event": "error", "message": message}


def emit(event: Event) -> None:
    print(json.dumps(event, allow_nan=False), flush=True)


class ProgressPrinter:
    """Prints a run's progress events, throttled to one per PROGRESS_INTERVAL (the last one, at
    fraction 1, always gets through)."""

    def __init__(self) -> None:
        self._last = -math.inf

    def __call__(self, p: ProgressReport) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL and p.fraction < 1.0:
            return
        self._last = now
        emit(progress_event(p))


def progress_fraction(event: Event) -> float:
    f = event.get("fraction")
    return min(max(float(f), 0.0), 1.0) if isinstance(f, int | float) else 0.0


def describe_progress(event: Event) -> str:
    """One status line, e.g. 'Level 1/3 · paint 10/150 · PSNR 20.1 dB · ~2 min left'; fields the
    backend left out are skipped."""
    if event.get("phase") == "queued":
        position = event.get("queue_position")
        return f"Queued on the backend (position {position})" if isinstance(position, int) else "Queued"
    parts = []
    if isinstance(event.get("level"), int) and isinstance(event.get("levels"), int):
        parts.append(f"Level {event['level']}/{event['levels']}")
    step = str(event.get("phase") or "")
    if isinstance(event.get("iteration"), int) and isinstance(event.get("iterations"), int):
        step = f"{step} {event['iteration']}/{event['iterations']}".strip()
    if step:
        parts.append(step)
    if isinstance(event.get("psnr"), int | float):
        parts.append(f"PSNR {event['psnr']:.1f} dB")
    eta = event.get("eta")
    if isinstance(eta, int | float) and eta > 0:
        parts.append(f"~{eta:.0f} s left" if eta < 90 else f"~{eta / 60:.0f} min left")
    return " · ".join(parts)

"""The backend's progress events as the add-on shows them. Standard library only.

The backend reports ``{"event": "progress", ...}`` objects while it works (the server's job status
carries the same fields); these helpers turn one into a fraction and a status line. (The process
driver that used to live here is the server's now: ``diffpaint.server.worker_process``.)
"""

from __future__ import annotations

from typing import Any

Event = dict[str, Any]


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

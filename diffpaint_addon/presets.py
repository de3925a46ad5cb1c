"""Quality presets, stroke styles and time estimates the panel offers. Standard library only."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Quality:
    key: str
    label: str
    size: int  # long side fitted at, px
    iterations: int  # optimiser steps per placement round
    rounds: int  # placement rounds per level
    description: str


QUALITIES = (
    Quality("DRAFT", "Draft", 128, 30, 1, "Quick look: 128 px, few optimiser steps"),
    Quality("STANDARD", "Standard", 256, 80, 2, "Balanced: 256 px, the backend's defaults"),
    Quality("FINAL", "Final", 512, 150, 2, "Best fit: 512 px, many optimiser steps"),
)
QUALITY = {q.key: q for q in QUALITIES}

# Measured on 2 CPU cores (backend 0.1.0, 256 strokes, 3 levels, all guidance losses, Van Gogh's
# Wheat Field): Draft 2.5 s, Standard 9.5 s, Final 36 s. Part of a step's cost does not shrink with
# the image (FIXED_SHARE, fitted to Final/Standard).
CPU_SECONDS_STANDARD = 10.0
FIXED_SHARE = 0.65
CUDA_SPEEDUP = 15.0  # rough, for a mid-range GPU

# (key, label, implemented). Implemented media are the backend's styles (their key lower-cased);
# the others are listed so artists see what is coming, and the backend refuses them saying so.
STYLES = (
    ("DIGITAL", "Digital", True),
    ("OIL", "Oil", True),
    ("WATERCOLOR", "Watercolour", True),
    ("INK", "Ink", True),
    ("PENCIL", "Pencil", True),
    ("GOUACHE", "Gouache (coming)", False),
)


CUSTOM = "CUSTOM"  # the panel's own size / iterations / rounds


def estimate_seconds(quality: str, strokes: int, levels: int, device: str = "cpu",
                     custom: tuple[int, int, int] | None = None) -> float:
    """A rough running time: linear in steps, in pixels and (mildly) in strokes, scaled from the
    measured Standard run. ``custom`` is (size, iterations, rounds) for the CUSTOM quality."""
    ref = QUALITY["STANDARD"]
    size, iterations, rounds = effort(quality, custom)
    steps = (iterations * rounds * levels) / (ref.iterations * ref.rounds * 3)
    pixels = (size / ref.size) ** 2
    stroke_cost = (0.5 + strokes / 512) / (0.5 + 256 / 512)
    seconds = CPU_SECONDS_STANDARD * steps * (FIXED_SHARE + (1 - FIXED_SHARE) * pixels) * stroke_cost
    return seconds / CUDA_SPEEDUP if device == "cuda" else seconds


def effort(quality: str, custom: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """(size, iterations, rounds) of a preset, or ``custom`` for CUSTOM."""
    if quality == CUSTOM:
        if custom is None:
            raise ValueError("the custom quality needs its size, iterations and rounds")
        return custom
    q = QUALITY[quality]
    return q.size, q.iterations, q.rounds


def describe_duration(seconds: float) -> str:
    if seconds < 60:
        return f"~{max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 3600:
        return f"~{round(seconds / 60):.0f} min"
    return f"~{seconds / 3600:.1f} h"

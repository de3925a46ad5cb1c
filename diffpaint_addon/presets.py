"""Quality presets and time estimates the panel offers. Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Quality:
    key: str
    label: str
    description: str
    settings: Mapping[str, int]  # job setting name (jobschema.SETTINGS) -> value: the effort settings


EFFORT = ("size", "iterations", "rounds")  # the settings a quality chooses: resolution, steps, rounds
QUALITIES = (
    Quality("DRAFT", "Draft", "Quick look: 128 px, few optimizer steps", {"size": 128, "iterations": 30, "rounds": 1}),
    Quality("STANDARD", "Standard", "Balanced: 256 px, the backend's defaults",
            {"size": 256, "iterations": 80, "rounds": 2}),
    Quality("FINAL", "Final", "Best fit: 512 px, many optimizer steps", {"size": 512, "iterations": 150, "rounds": 2}),
)
QUALITY = {q.key: q for q in QUALITIES}

# Measured on 2 CPU cores (backend 0.1.0, 256 strokes, 3 levels, all guidance losses, Van Gogh's
# Wheat Field): Draft 2.5 s, Standard 9.5 s, Final 36 s. Part of a step's cost does not shrink with
# the image (FIXED_SHARE, fitted to Final/Standard).
CPU_SECONDS_STANDARD = 10.0
FIXED_SHARE = 0.65
CUDA_SPEEDUP = 15.0  # rough, for a mid-range GPU

CUSTOM = "CUSTOM"  # the panel's own size / iterations / rounds


def estimate_seconds(quality: str, strokes: int, levels: int, device: str = "cpu",
                     custom: tuple[int, int, int] | None = None) -> float:
    """A rough running time: linear in steps, in pixels and (mildly) in strokes, scaled from the
    measured Standard run. ``custom`` is (size, iterations, rounds) for the CUSTOM quality."""
    ref_size, ref_iterations, ref_rounds = effort("STANDARD")
    size, iterations, rounds = effort(quality, custom)
    steps = (iterations * rounds * levels) / (ref_iterations * ref_rounds * 3)
    pixels = (size / ref_size) ** 2
    stroke_cost = (0.5 + strokes / 512) / (0.5 + 256 / 512)
    seconds = CPU_SECONDS_STANDARD * steps * (FIXED_SHARE + (1 - FIXED_SHARE) * pixels) * stroke_cost
    return seconds / CUDA_SPEEDUP if device == "cuda" else seconds


def effort(quality: str, custom: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """(size, iterations, rounds) of a preset, or ``custom`` for CUSTOM."""
    if quality == CUSTOM:
        if custom is None:
            raise ValueError("the custom quality needs its size, iterations and rounds")
        return custom
    size, iterations, rounds = (QUALITY[quality].settings[name] for name in EFFORT)
    return size, iterations, rounds


def describe_duration(seconds: float) -> str:
    if seconds < 60:
        return f"~{max(5, round(seconds / 5) * 5):.0f} s"
    if seconds < 3600:
        return f"~{round(seconds / 60):.0f} min"
    return f"~{seconds / 3600:.1f} h"

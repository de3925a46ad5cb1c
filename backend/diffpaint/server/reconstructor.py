"""Adapts the optimizer's callbacks to what a job publishes: progress, live canvas, per-level strokes.

- ``Progress.canvas`` — the image rendered at that step, ``(h, w, 3)`` sRGB in [0, 1], detached (at
  the level's working resolution); it becomes the live preview.
- ``reconstruct(..., on_level=callback)`` — ``callback(level, painting, canvas, style)`` after each
  completed level: 1-based level, every stroke painted so far (full-resolution canvas pixels), their
  render over the background at full resolution, and their style (None when plain). It becomes
  ``level-N.json``, which survives a cancel, and a preview.

A reconstruct function without ``on_level`` (a stand-in in tests) is driven with progress only.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol

from torch import Tensor

from diffpaint.fit import optimize
from diffpaint.fit.optimize import Progress, Reconstruction, Settings
from diffpaint.painting import Painting
from diffpaint.style import StrokeStyle


class JobSink(Protocol):
    def progress(self, p: Progress) -> None: ...

    def canvas(self, image: Tensor) -> None: ...

    def level(self, level: int, strokes: Painting, canvas: Tensor, style: StrokeStyle | None = None) -> None: ...


ReconstructFn = Callable[..., Reconstruction]


class Reconstructor:
    def __init__(self, reconstruct: ReconstructFn | None = None):
        self._reconstruct = reconstruct or optimize.reconstruct

    @property
    def reports_levels(self) -> bool:
        return "on_level" in inspect.signature(self._reconstruct).parameters

    def run(self, target: Tensor, background: tuple[float, float, float], settings: Settings,
            sink: JobSink, mask: Tensor | None = None) -> Reconstruction:
        """Run the reconstruction, publishing to `sink`; `mask` is the image's alpha (None if opaque)."""
        def on_progress(p: Progress) -> None:
            sink.progress(p)
            image = getattr(p, "canvas", None)
            if image is not None:
                sink.canvas(image)

        kwargs: dict[str, Any] = {}
        if self.reports_levels:
            kwargs["on_level"] = sink.level
        if mask is not None:
            kwargs["mask"] = mask
        return self._reconstruct(target, background, settings, on_progress, **kwargs)

"""Banding: hard steps a rendering puts where the target changes smoothly.

A smooth tonal gradient painted with opaque strokes becomes a staircase: flat runs separated by
steps one or two pixels wide. Total variation cannot tell the two apart (a monotone staircase has
the same total variation as the ramp it replaces); the luminance gradient *magnitude* can, since at
a step it is far larger than anywhere on the ramp. So banding is measured as the render's gradient
magnitude beyond a threshold, averaged over the pixels where the target is smooth (its own gradient
magnitude below that threshold): 0 for a render as smooth as the target there, and growing with the
number and height of the steps.
"""

from __future__ import annotations

from torch import Tensor

from diffpaint.fit.filters import gradient_magnitude

SMOOTH = 0.02  # luminance change per px: below it the target counts as smooth, above it the render as a step


def banding(render: Tensor, target: Tensor, smooth: float = SMOOTH) -> float:
    """Mean over the target's smooth pixels (|∇T| < smooth) of the render's step gradient max(0, |∇R| − smooth),
    in luminance per px; 0 when the target has no smooth pixels."""
    if render.shape != target.shape:
        raise ValueError(f"banding needs images of the same size, not {tuple(render.shape)} and {tuple(target.shape)}")
    mask = gradient_magnitude(target) < smooth
    if not bool(mask.any()):
        return 0.0
    steps = (gradient_magnitude(render) - smooth).clamp(min=0)
    return float(steps[mask].mean())

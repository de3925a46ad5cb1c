"""The stroke's curve: a quadratic Bézier, with values linear along its parameter t.

Written with arithmetic alone, so the same functions evaluate numpy arrays (the add-on, the SVG
export) and torch tensors (the differentiable renderer).
"""

from __future__ import annotations

from typing import Any


def quadratic_bezier(p0: Any, p1: Any, p2: Any, t: Any) -> Any:
    """The point at t of the Bézier with start p0, control p1 and end p2 (broadcasting)."""
    s = 1.0 - t
    return s * s * p0 + 2.0 * s * t * p1 + t * t * p2


def lerp(a: Any, b: Any, t: Any) -> Any:
    """The value at t of the function linear from a (t = 0) to b (t = 1) (broadcasting)."""
    return a * (1.0 - t) + b * t

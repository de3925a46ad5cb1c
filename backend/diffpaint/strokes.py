"""Paint strokes as tensors (`painting.Painting` orders them with smudge strokes, and writes stroke files)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Strokes:
    """N paint strokes in painting order, in canvas pixel units.

    points: (N, 3, 2) Bézier start, control, end as (x, y), y down.
    radius: (N, 2) radius at t=0 and t=1.
    color: (N, 2, 3) sRGB colour at t=0 and t=1.
    opacity: (N,).
    level: (N,) coarse-to-fine level each stroke was placed at.
    """

    points: Tensor
    radius: Tensor
    color: Tensor
    opacity: Tensor
    level: Tensor

    def __len__(self) -> int:
        return self.points.shape[0]

    @staticmethod
    def empty(device: torch.device | None = None) -> Strokes:
        z = torch.zeros
        return Strokes(z(0, 3, 2, device=device), z(0, 2, device=device), z(0, 2, 3, device=device),
                       z(0, device=device), torch.zeros(0, dtype=torch.long, device=device))

    def detach(self) -> Strokes:
        return Strokes(*(t.detach() for t in self._fields()))

    def to(self, device: torch.device) -> Strokes:
        return Strokes(*(t.to(device) for t in self._fields()))

    def scaled(self, factor: float) -> Strokes:
        """The same strokes on a canvas resized by `factor` (positions and radii scale with it)."""
        return Strokes(self.points * factor, self.radius * factor, self.color, self.opacity, self.level)

    def select(self, index: Tensor | slice) -> Strokes:
        return Strokes(*(t[index] for t in self._fields()))

    def cat(self, other: Strokes) -> Strokes:
        return Strokes(*(torch.cat([a, b]) for a, b in zip(self._fields(), other._fields(), strict=True)))

    def _fields(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return (self.points, self.radius, self.color, self.opacity, self.level)

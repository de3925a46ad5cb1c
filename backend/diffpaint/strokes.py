"""Per-stroke tensors: the batch container every kind of stroke builds on, and paint strokes
(`painting.Painting` orders them with smudge strokes, and writes stroke files)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Self

import torch
from torch import Tensor


class StrokeBatch:
    """A dataclass of per-stroke tensors, stroke i in row i of each; subclasses are dataclasses.

    Every tensor field is per stroke except those named in `shared` (e.g. textures all strokes
    use); fields that are not tensors (names) are carried along unchanged.
    """

    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]  # set by @dataclass on subclasses
    shared: ClassVar[tuple[str, ...]] = ()

    def __len__(self) -> int:
        return next(iter(self._per_stroke().values())).shape[0]

    def select(self, index: Tensor | slice) -> Self:
        """The strokes `index` picks (a slice, indices or a boolean mask), in that order."""
        return dataclasses.replace(self, **{k: v[index] for k, v in self._per_stroke().items()})

    def cat(self, other: Self) -> Self:
        """These strokes, then `other`'s (shared fields are this batch's)."""
        theirs = other._per_stroke()
        return dataclasses.replace(self, **{k: torch.cat([v, theirs[k]]) for k, v in self._per_stroke().items()})

    def detach(self) -> Self:
        return dataclasses.replace(self, **{k: v.detach() for k, v in self._tensors().items()})

    def to(self, device: torch.device | None) -> Self:
        return dataclasses.replace(self, **{k: v.to(device) for k, v in self._tensors().items()})

    def _tensors(self) -> dict[str, Tensor]:
        return {f.name: v for f in dataclasses.fields(self) if isinstance(v := getattr(self, f.name), Tensor)}

    def _per_stroke(self) -> dict[str, Tensor]:
        return {k: v for k, v in self._tensors().items() if k not in self.shared}


@dataclass
class Strokes(StrokeBatch):
    """N paint strokes in painting order, in canvas pixel units.

    points: (N, 3, 2) Bézier start, control, end as (x, y), y down.
    radius: (N, 2) radius at t=0 and t=1.
    color: (N, 2, 3) sRGB color at t=0 and t=1.
    opacity: (N,).
    level: (N,) coarse-to-fine level each stroke was placed at.
    """

    points: Tensor
    radius: Tensor
    color: Tensor
    opacity: Tensor
    level: Tensor

    @staticmethod
    def empty(device: torch.device | None = None) -> Strokes:
        z = torch.zeros
        return Strokes(z(0, 3, 2, device=device), z(0, 2, device=device), z(0, 2, 3, device=device),
                       z(0, device=device), torch.zeros(0, dtype=torch.long, device=device))

    def scaled(self, factor: float) -> Strokes:
        """The same strokes on a canvas resized by `factor` (positions and radii scale with it)."""
        return dataclasses.replace(self, points=self.points * factor, radius=self.radius * factor)

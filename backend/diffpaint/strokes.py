"""Strokes as tensors, and their conversion to and from the shared stroke file format."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from diffpaint_addon import strokefile


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

    def select(self, index: Tensor) -> Strokes:
        return Strokes(*(t[index] for t in self._fields()))

    def cat(self, other: Strokes) -> Strokes:
        return Strokes(*(torch.cat([a, b]) for a, b in zip(self._fields(), other._fields(), strict=True)))

    def _fields(self) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        return (self.points, self.radius, self.color, self.opacity, self.level)


def to_stroke_file(
    strokes: Strokes, width: int, height: int, background: tuple[float, float, float], metadata: dict
) -> strokefile.StrokeFile:
    s = strokes.detach().to(torch.device("cpu"))
    items = []
    for i in range(len(s)):
        p = s.points[i].tolist()
        c = s.color[i].clamp(0, 1).tolist()
        items.append(
            strokefile.Stroke(
                points=(tuple(p[0]), tuple(p[1]), tuple(p[2])),
                radius=tuple(s.radius[i].clamp(min=0).tolist()),
                color=(tuple(c[0]), tuple(c[1])),
                opacity=float(s.opacity[i].clamp(0, 1)),
                kind="paint",
                level=int(s.level[i]),
                order=i,
                style={"name": "digital"},
            )
        )
    canvas = strokefile.Canvas(width=width, height=height, background=background)
    return strokefile.StrokeFile(canvas=canvas, strokes=tuple(items), metadata=metadata)


def from_stroke_file(doc: strokefile.StrokeFile, device: torch.device | None = None) -> Strokes:
    """Paint strokes of a file, in painting order (smudge strokes are not rendered by this version)."""
    paint = sorted((s for s in doc.strokes if s.kind == "paint"), key=lambda s: s.order)
    if not paint:
        return Strokes.empty(device)

    def tensor(values: list) -> Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device)

    return Strokes(
        points=tensor([s.points for s in paint]),
        radius=tensor([s.radius for s in paint]),
        color=tensor([s.color for s in paint]),
        opacity=tensor([s.opacity for s in paint]),
        level=torch.tensor([s.level for s in paint], dtype=torch.long, device=device),
    )



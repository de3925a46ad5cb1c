"""Sequential reference renderer: stroke by stroke, stamp by stamp, on the whole canvas.

Slow and simple on purpose. It draws many discrete circular stamps per stroke (their union is the
stroke's footprint; each pixel takes the color of the stamp nearest to covering it), then blends
each stroke "over" the canvas in order, in linear light like the parallel renderer. Tests and
benchmarks compare the parallel renderer with it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from diffpaint.render.bezier import curve_parameters, lerp_along, quadratic_bezier
from diffpaint.render.raster import RasterSettings
from diffpaint.strokes import Strokes
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear


def render_sequential(
    strokes: Strokes, background: Tensor, stamps: int = 256, edge: float = RasterSettings.edge
) -> Tensor:
    height, width = background.shape[:2]
    ys = torch.arange(height, dtype=torch.float32) + 0.5
    xs = torch.arange(width, dtype=torch.float32) + 0.5
    py, px = torch.meshgrid(ys, xs, indexing="ij")
    t = curve_parameters(stamps, strokes.points)
    centers = quadratic_bezier(strokes.points, t)
    radii = lerp_along(strokes.radius, t)
    colors = srgb_to_linear(lerp_along(strokes.color, t))
    canvas = srgb_to_linear(background)
    for s in range(len(strokes)):
        nearest = torch.full((height, width), float("inf"))
        color = torch.zeros(height, width, 3)
        for k in range(stamps):
            cx, cy = centers[s, k]
            signed = torch.sqrt((px - cx) ** 2 + (py - cy) ** 2) - radii[s, k]
            closer = signed < nearest
            nearest = torch.where(closer, signed, nearest)
            color[closer] = colors[s, k]
        alpha = torch.sigmoid(-nearest / edge)[..., None] * strokes.opacity[s]
        canvas = alpha * color + (1.0 - alpha) * canvas
    return linear_to_srgb(canvas)

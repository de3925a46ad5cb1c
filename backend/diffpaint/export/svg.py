"""A stroke file as SVG: every stroke a vector path, in painting order (standard library only).

A paint stroke's footprint is the union of circular stamps swept along its Bézier (see
docs/stroke-format.md). Here it is one `<path>` made of tapered capsules, one per pair of
consecutive curve samples, each wound the same way: with the nonzero fill rule the path fills
their union once, so a translucent stroke is not darker where its capsules overlap. Its two
colors become a linear gradient from the stroke's start to its end point, and its opacity the
path's fill-opacity. A smudge stroke becomes soft blurred stamps in the colors and strengths it
deposited. Strokes are grouped into one Inkscape layer per run of consecutive strokes of a level.

SVG renderers blend in sRGB while the backend blends in linear light; translucent overlaps are
therefore a little darker in the SVG (bench/svg_vs_render.py measures the difference).
"""

from __future__ import annotations

import io
import math
import os
from itertools import groupby
from typing import TYPE_CHECKING

from diffpaint_shared.curves import lerp, quadratic_bezier
from diffpaint_shared.strokefile import RGB, Stroke, StrokeFile, Vec2

if TYPE_CHECKING:
    from PIL import Image

SAMPLES = 16  # curve samples per stroke: capsules are straight, so this sets how round a curve stays
GRADIENT_STOPS = 5  # color stops along a two-color stroke
SMUDGE_BLUR = 0.3  # blur of smudge stamps, as a fraction of the stroke's mean radius


def to_svg(doc: StrokeFile) -> str:
    """The SVG document of a stroke file, sized in canvas pixels."""
    w, h = doc.canvas.width, doc.canvas.height
    defs: list[str] = []
    body: list[str] = []
    strokes = sorted(doc.strokes, key=lambda s: s.order)
    for run, (level, group) in enumerate(groupby(strokes, key=lambda s: s.level)):
        items = [_stroke(s, f"s{s.order}", defs) for s in group]
        body.append(f'<g id="run{run}" inkscape:groupmode="layer" inkscape:label="Level {level + 1}">'
                    + "".join(items) + "</g>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
        f'width="{w}" height="{h}" viewBox="0 0 {w} {h}">\n'
        f"<defs>{''.join(defs)}</defs>\n"
        f'<rect width="{w}" height="{h}" fill="{_hex(doc.canvas.background)}"/>\n'
        + "\n".join(body) + "\n</svg>\n"
    )


def save_svg(doc: StrokeFile, path: str | os.PathLike[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_svg(doc))


def _stroke(s: Stroke, ident: str, defs: list[str]) -> str:
    """One stroke's element; gradient and filter definitions it needs are appended to `defs`."""
    if s.kind == "smudge":
        return _smudge(s, ident, defs)
    outline = "".join(_capsule(a, ra, b, rb) for (a, ra), (b, rb) in _pairs(_stamps(s, SAMPLES)))
    return f'<path d="{outline}" fill="{_paint(s, ident, defs)}" fill-opacity="{_num(s.opacity)}"/>'


def _paint(s: Stroke, ident: str, defs: list[str]) -> str:
    """The fill of a paint stroke: its color, or a gradient along its chord.

    The color is linear in the curve parameter t, so stops sit where stamps at evenly spaced t
    project onto the chord (kept in order, as SVG needs; a stroke that doubles back is approximate).
    """
    (x0, y0), _, (x1, y1) = s.points
    dx, dy = x1 - x0, y1 - y0
    chord2 = dx * dx + dy * dy
    if _hex(s.color[0]) == _hex(s.color[1]) or chord2 < 1e-6:  # a closed stroke has no direction to grade along
        return _hex(_lerp(s.color[0], s.color[1], 0.5))
    stops, offset = [], 0.0
    for i, ((cx, cy), _r) in enumerate(_stamps(s, GRADIENT_STOPS)):
        t = i / (GRADIENT_STOPS - 1)
        offset = max(offset, min(1.0, ((cx - x0) * dx + (cy - y0) * dy) / chord2))
        stops.append(f'<stop offset="{_num(offset)}" stop-color="{_hex(_lerp(s.color[0], s.color[1], t))}"/>')
    defs.append(f'<linearGradient id="{ident}" gradientUnits="userSpaceOnUse" x1="{_num(x0)}" y1="{_num(y0)}" '
                f'x2="{_num(x1)}" y2="{_num(y1)}">{"".join(stops)}</linearGradient>')
    return f"url(#{ident})"


def _lerp(a: RGB, b: RGB, t: float) -> RGB:
    return (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]), a[2] + t * (b[2] - a[2]))


def _smudge(s: Stroke, ident: str, defs: list[str]) -> str:
    """Blurred stamps in the deposited colors, each as opaque as its deposit was strong."""
    stamps = _stamps(s, len(s.deposit_color))
    blur = SMUDGE_BLUR * (s.radius[0] + s.radius[1]) / 2
    defs.append(f'<filter id="{ident}" x="-50%" y="-50%" width="200%" height="200%">'
                f'<feGaussianBlur stdDeviation="{_num(blur)}"/></filter>')
    circles = "".join(
        f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{_num(r)}" fill="{_hex(c)}" fill-opacity="{_num(a)}"/>'
        for ((x, y), r), c, a in zip(stamps, s.deposit_color, s.deposit_strength, strict=True)
    )
    return f'<g filter="url(#{ident})" opacity="{_num(s.opacity)}">{circles}</g>'


def _stamps(s: Stroke, n: int) -> list[tuple[Vec2, float]]:
    """Centers and radii of n stamps at t = i / (n − 1) along the stroke's quadratic Bézier."""
    (x0, y0), (x1, y1), (x2, y2) = s.points
    out = []
    for i in range(n):
        t = i / (n - 1)
        center = (quadratic_bezier(x0, x1, x2, t), quadratic_bezier(y0, y1, y2, t))
        out.append((center, lerp(s.radius[0], s.radius[1], t)))
    return out


def _pairs(stamps: list[tuple[Vec2, float]]) -> zip[tuple[tuple[Vec2, float], tuple[Vec2, float]]]:
    return zip(stamps[:-1], stamps[1:], strict=True)


def _capsule(a: Vec2, ra: float, b: Vec2, rb: float) -> str:
    """Closed outline of the stamp swept from circle (a, ra) to (b, rb), wound with decreasing angle.

    The outer tangents touch each circle at angle ±θ from the axis a→b, with cos θ = (ra − rb) / d;
    the arc at b spans 2θ and the one at a the rest of the turn.
    """
    d = math.hypot(b[0] - a[0], b[1] - a[1])
    if d <= abs(ra - rb):  # one circle holds the other
        c, r = (a, ra) if ra >= rb else (b, rb)
        return _circle(c, r)
    ux, uy = (b[0] - a[0]) / d, (b[1] - a[1]) / d
    cos_t = (ra - rb) / d
    sin_t = math.sqrt(1.0 - cos_t * cos_t)
    n_plus = (ux * cos_t - uy * sin_t, uy * cos_t + ux * sin_t)
    n_minus = (ux * cos_t + uy * sin_t, uy * cos_t - ux * sin_t)
    big_at_b = int(cos_t < 0)  # 2θ > π when the far end is the fatter one
    return (f"M{_pt(a, ra, n_plus)}L{_pt(b, rb, n_plus)}"
            f"A{_num(rb)} {_num(rb)} 0 {big_at_b} 0 {_pt(b, rb, n_minus)}"
            f"L{_pt(a, ra, n_minus)}A{_num(ra)} {_num(ra)} 0 {1 - big_at_b} 0 {_pt(a, ra, n_plus)}Z")


def _circle(c: Vec2, r: float) -> str:
    left, right = f"{_num(c[0] - r)} {_num(c[1])}", f"{_num(c[0] + r)} {_num(c[1])}"
    return f"M{right}A{_num(r)} {_num(r)} 0 1 0 {left}A{_num(r)} {_num(r)} 0 1 0 {right}Z"


def _pt(c: Vec2, r: float, n: Vec2) -> str:
    return f"{_num(c[0] + r * n[0])} {_num(c[1] + r * n[1])}"


def _num(v: float) -> str:
    """A coordinate to 1/1000 px, without trailing zeros."""
    text = f"{v:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _hex(c: RGB) -> str:
    return "#" + "".join(f"{round(min(max(v, 0.0), 1.0) * 255):02x}" for v in c)


def rasterize_svg(svg: str, scale: float = 1.0) -> Image.Image:
    """An SVG document rasterized by resvg at `scale` × its size, as RGB (for previews and comparisons)."""
    import resvg_py
    from PIL import Image

    png = resvg_py.svg_to_bytes(svg_string=svg, zoom=scale)
    with Image.open(io.BytesIO(bytes(png))) as im:
        return im.convert("RGB")

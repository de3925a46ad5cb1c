"""A stroke file as SVG: every stroke a vector path, in painting order (textures embedded as PNG).

A paint stroke's footprint is the union of circular stamps swept along its Bézier (see
docs/stroke-format.md). Here it is one `<path>` made of tapered capsules, one per pair of
consecutive curve samples, each wound the same way: with the nonzero fill rule the path fills
their union once, so a translucent stroke is not darker where its capsules overlap. Its two
colors become a linear gradient from the stroke's start to its end point, and its opacity the
path's fill-opacity. A smudge stroke becomes soft blurred stamps in the colors and strengths it
deposited. Strokes are grouped into one Inkscape layer per run of consecutive strokes of a level.

A textured stroke (see diffpaint.style.shader) shows mix · color + (1 − mix) · texture in linear
light, its alpha the texture's alpha times its soft edge. Each texture is embedded as two PNG
patterns, its color (sRGB, opaque) and its alpha, at each mip level strokes draw it at (the level
a GPU picks). The stroke is cut into pieces, one per curve segment, each mapped affinely from
texture space (x along the stroke's arc length, y across it) so that the patterns repeat along the
stroke as Grease Pencil's u does. A linearRGB filter mixes its plain fill with its color pieces;
its alpha pieces and a soft-edge profile across it mask the whole, clipped to its outline. Caps and
sharp bends are approximate: there the backend stretches the texture's end columns and measures
the soft edge radially.

A canvas grain (docs/stroke-format.md) is embedded under the strokes as one image of the shaded bare
canvas, one pixel per canvas pixel, over a rect of the background color.

SVG renderers blend in sRGB while the backend blends in linear light; translucent overlaps are
therefore a little darker in the SVG (bench/svg_vs_render.py measures the difference).
"""

from __future__ import annotations

import base64
import io
import math
import os
from itertools import groupby

import numpy as np
from PIL import Image

from diffpaint.grain.textures import gray_texels
from diffpaint_shared.color import linear_to_srgb
from diffpaint_shared.curves import lerp, quadratic_bezier
from diffpaint_shared.grain import canvas_linear
from diffpaint_shared.strokefile import RGB, Stroke, StrokeFile, Texture, Vec2

SAMPLES = 16  # curve samples per stroke: capsules are straight, so this sets how round a curve stays
GRADIENT_STOPS = 5  # color stops along a two-color stroke
SMUDGE_BLUR = 0.3  # blur of smudge stamps, as a fraction of the stroke's mean radius
SOFT_STOPS = 17  # stops of a soft edge's profile across the stroke
SOFT_LEVELS = 50  # softness is rounded to 1 / SOFT_LEVELS, so strokes share their profiles


def to_svg(doc: StrokeFile) -> str:
    """The SVG document of a stroke file, sized in canvas pixels."""
    w, h = doc.canvas.width, doc.canvas.height
    defs: list[str] = []
    body: list[str] = []
    strokes = sorted(doc.strokes, key=lambda s: s.order)
    used = sorted({s.texture for s in strokes if s.texture is not None and s.mapping is not None})
    patterns = {key: TexturePatterns(doc.textures[key], f"t{i}", defs) for i, key in enumerate(used)}
    for level, height in sorted({(_soft_level(s), patterns[s.texture].height) for s in strokes
                                 if s.texture in patterns and _soft_level(s) > 0}):
        defs.append(_soft_profile(level, height))
    for run, (level, group) in enumerate(groupby(strokes, key=lambda s: s.level)):
        items = [_stroke(s, f"s{s.order}", defs, patterns) for s in group]
        body.append(f'<g id="run{run}" inkscape:groupmode="layer" inkscape:label="Level {level + 1}">'
                    + "".join(items) + "</g>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" xmlns:inkscape="http://www.inkscape.org/namespaces/inkscape" '
        f'width="{w}" height="{h}" viewBox="0 0 {w} {h}">\n'
        f"<defs>{''.join(defs)}</defs>\n"
        f"{_canvas(doc)}\n"
        + "\n".join(body) + "\n</svg>\n"
    )


def _canvas(doc: StrokeFile) -> str:
    """The bare canvas: a rect of the background color, and over it, with a grain, the grain-shaded canvas
    as an embedded image of one texel per canvas pixel (as the backend renders it)."""
    c = doc.canvas
    rect = f'<rect id="canvas" width="{c.width}" height="{c.height}" fill="{_hex(c.background)}"/>'
    if c.grain is None:
        return rect
    linear = canvas_linear(c.background, gray_texels(c.grain.png), c.grain.scale, c.grain.strength, c.width, c.height)
    png = io.BytesIO()
    Image.fromarray(np.round(linear_to_srgb(linear) * 255.0).astype(np.uint8), "RGB").save(png, format="PNG")
    data = base64.b64encode(png.getvalue()).decode("ascii")
    return (rect + f'<image id="grain" inkscape:label="Canvas grain ({c.grain.name})" width="{c.width}" '
            f'height="{c.height}" preserveAspectRatio="none" href="data:image/png;base64,{data}"/>')


def save_svg(doc: StrokeFile, path: str | os.PathLike[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(to_svg(doc))


def _stroke(s: Stroke, ident: str, defs: list[str], patterns: dict[str, TexturePatterns]) -> str:
    """One stroke's element; gradient, filter, mask and clip definitions it needs are appended to `defs`."""
    if s.kind == "smudge":
        return _smudge(s, ident, defs)
    outline = "".join(_capsule(a, ra, b, rb) for (a, ra), (b, rb) in _pairs(_stamps(s, SAMPLES)))
    if s.texture is not None and s.mapping is not None:
        laid = _pieces(s, patterns[s.texture])
        if laid is not None:
            return _textured(s, ident, outline, *laid, patterns[s.texture], defs)
    return f'<path d="{outline}" fill="{_paint(s, ident, defs)}" fill-opacity="{_num(s.opacity)}"/>'


class TexturePatterns:
    """A texture's repeating patterns, each one tile of texels at the origin, embedded on first use:
    per mip level (the texture box-filtered down 2^level times, as a GPU samples a minified texture)
    its color in sRGB, opaque, and its alpha on white."""

    def __init__(self, texture: Texture, ident: str, defs: list[str]) -> None:
        with Image.open(io.BytesIO(texture.png)) as im:
            self._linear = np.asarray(im.convert("RGBA"), dtype=np.float64) / 255.0
        self.width, self.height = texture.width, texture.height
        self.levels = max(self.width, self.height).bit_length()  # down to 1 × 1
        self._ident, self._defs = ident, defs
        self._made: set[int] = set()

    def ids(self, level: int) -> tuple[str, str]:
        """The color and alpha patterns' ids at mip `level`."""
        rgb, alpha = f"{self._ident}l{level}c", f"{self._ident}l{level}a"
        if level not in self._made:
            self._made.add(level)
            texels = _mip(self._linear, level)
            srgb = np.round(linear_to_srgb(texels[..., :3]) * 255.0).astype(np.uint8)
            white = np.concatenate([np.full_like(srgb, 255), np.round(texels[..., 3:] * 255.0).astype(np.uint8)], -1)
            for ident, image in ((rgb, Image.fromarray(srgb, "RGB")), (alpha, Image.fromarray(white, "RGBA"))):
                png = io.BytesIO()
                image.save(png, format="PNG")
                data = base64.b64encode(png.getvalue()).decode("ascii")
                self._defs.append(f'<pattern id="{ident}" patternUnits="userSpaceOnUse" width="{self.width}" '
                                  f'height="{self.height}"><image width="{self.width}" height="{self.height}" '
                                  f'preserveAspectRatio="none" href="data:image/png;base64,{data}"/></pattern>')
        return rgb, alpha


def _mip(texels: np.ndarray, level: int) -> np.ndarray:
    """An (H, W, C) image box-filtered down `level` times by halving (odd sizes drop their last row or column)."""
    for _ in range(level):
        h, w = max(1, texels.shape[0] // 2), max(1, texels.shape[1] // 2)
        texels = texels[: h * (texels.shape[0] // h), : w * (texels.shape[1] // w)]
        texels = texels.reshape(h, texels.shape[0] // h, w, texels.shape[1] // w, -1).mean(axis=(1, 3))
    return texels


def _mip_level(s: Stroke, tex: TexturePatterns, length: float) -> int:
    """The mip level nearest the one a GPU picks for a stroke of arc `length` (isotropic, as
    diffpaint.style.shader.level_of_detail): log2 of the larger texel rate along the screen axes."""
    assert s.mapping is not None
    along = tex.width * s.mapping.u_scale / max(length, 1e-3)
    across = tex.height / max(s.radius[0] + s.radius[1], 1e-3)
    (x0, y0), _, (x1, y1) = s.points
    chord = max(math.hypot(x1 - x0, y1 - y0), 1e-6)
    cos, sin = (x1 - x0) / chord, (y1 - y0) / chord
    rate = max(math.hypot(along * cos, across * sin), math.hypot(along * sin, across * cos))
    return min(max(round(math.log2(max(rate, 1e-6))), 0), tex.levels - 1)


def _pieces(s: Stroke, tex: TexturePatterns) -> tuple[list[str], int] | None:
    """A textured stroke cut into polygons, one per curve segment, each in texel space with the
    transform that lays it on the canvas (None for a stroke too short to lay a texture along).

    Segment i from stamp a to b maps texel x to arc length and texel y across the stroke, through
    u = u_scale · (arc length from the start / stroke length) + u_translation and v = 0.5 + 0.5 ·
    side / radius (v = 1 at row 0); its polygon reaches from the bisector at a to the one at b, past
    the outline (which clips it), and the first and last reach past the caps. Pieces are not
    anti-aliased: their seams would show; the outline's clip smooths the stroke's edge. Also returns
    the stroke's mip level.
    """
    assert s.mapping is not None
    stamps = _stamps(s, SAMPLES)
    centers = np.array([c for c, _ in stamps])
    radii = np.array([r for _, r in stamps])
    steps = np.diff(centers, axis=0)
    lengths = np.linalg.norm(steps, axis=1)
    total = float(lengths.sum())
    if total < 1e-3:
        return None
    directions = steps / np.maximum(lengths, 1e-9)[:, None]
    for i in range(1, len(directions)):  # a segment of no length keeps its predecessor's direction
        if lengths[i] < 1e-9:
            directions[i] = directions[i - 1]
    normals = np.stack([directions[:, 1], -directions[:, 0]], axis=1)  # the side where v grows
    bisectors = np.concatenate([normals[:1], normals[:-1] + normals[1:], normals[-1:]])
    bisectors /= np.maximum(np.linalg.norm(bisectors, axis=1), 1e-9)[:, None]
    reach = 2.0 * float(radii.max()) + 2.0
    fraction = np.concatenate([[0.0], np.cumsum(lengths)]) / total
    m = s.mapping
    out = []
    for i, (e, n) in enumerate(zip(directions, normals, strict=True)):
        r = max((radii[i] + radii[i + 1]) / 2, 1e-3)
        along = e * total / (tex.width * m.u_scale)
        across = n * (-2.0 * r / tex.height)
        origin = centers[i] - e * total * (m.u_translation / m.u_scale + fraction[i]) + n * r
        start, end = centers[i], centers[i + 1]
        back = e * reach if i == 0 else 0.0
        ahead = e * reach if i == len(directions) - 1 else 0.0
        corners = [start - back + reach * bisectors[i], end + ahead + reach * bisectors[i + 1],
                   end + ahead - reach * bisectors[i + 1], start - back - reach * bisectors[i]]
        matrix = np.array([[along[0], across[0], origin[0]], [along[1], across[1], origin[1]]])
        inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
        texels = [inverse @ np.array([x, y, 1.0]) for x, y in corners]
        points = " ".join(f"{_num(x)},{_num(y)}" for x, y in texels)
        transform = " ".join(_num(v) for v in matrix.T.ravel())
        out.append(f'<polygon transform="matrix({transform})" points="{points}"/>')
    return out, _mip_level(s, tex, total)


def _textured(s: Stroke, ident: str, outline: str, pieces: list[str], level: int, tex: TexturePatterns,
              defs: list[str]) -> str:
    """A textured paint stroke: its fill with the texture's color over it at 1 − mix, masked by the
    texture's alpha and (when soft) its soft-edge profile, clipped to its outline, at its opacity."""
    assert s.mapping is not None
    rgb, alpha = tex.ids(level)
    defs.append(f'<g id="{ident}p" shape-rendering="crispEdges">{"".join(pieces)}</g>')
    defs.append(f'<clipPath id="{ident}c"><path d="{outline}"/></clipPath>')
    defs.append(f'<mask id="{ident}a" mask-type="alpha"><use href="#{ident}p" fill="url(#{alpha})"/></mask>')
    soft = _soft_level(s)
    masked = ""
    if soft > 0:
        profile = _soft_profile_id(soft, tex.height)
        defs.append(f'<mask id="{ident}s" mask-type="alpha"><use href="#{ident}p" fill="url(#{profile})"/></mask>')
        masked = f' mask="url(#{ident}s)"'
    filtered = ""
    if s.mapping.mix < 1.0:
        # mix · color + (1 − mix) · texture in linear light, as the backend mixes them. The filter region
        # starts at the origin: renderers disagree on where else feImage draws the element it references.
        right, bottom = (max(c[k] + r for c, r in _stamps(s, SAMPLES)) + 2.0 for k in (0, 1))
        defs.append(f'<use id="{ident}t" href="#{ident}p" fill="url(#{rgb})"/>')
        defs.append(f'<filter id="{ident}f" color-interpolation-filters="linearRGB" filterUnits="userSpaceOnUse" '
                    f'x="0" y="0" width="{_num(right)}" height="{_num(bottom)}"><feImage href="#{ident}t" '
                    f'result="texture"/><feComposite in="SourceGraphic" in2="texture" operator="arithmetic" '
                    f'k2="{_num(s.mapping.mix)}" k3="{_num(1.0 - s.mapping.mix)}"/></filter>')
        filtered = f' filter="url(#{ident}f)"'
    return (f'<g clip-path="url(#{ident}c)" opacity="{_num(s.opacity)}"{masked}><g mask="url(#{ident}a)">'
            f'<path d="{outline}" fill="{_paint(s, ident, defs)}"{filtered}/></g></g>')


def _soft_level(s: Stroke) -> int:
    return round(s.mapping.softness * SOFT_LEVELS) if s.mapping is not None else 0


def _soft_profile_id(level: int, height: int) -> str:
    return f"soft{level}h{height}"


def _soft_profile(level: int, height: int) -> str:
    """The gradient across a stroke (texel y 0 … height) that is Grease Pencil's soft edge at softness
    level / SOFT_LEVELS: smoothstep((1 − d)^(0.01 + 9.99 · softness)), d = |2v − 1|."""
    power = 0.01 + 9.99 * level / SOFT_LEVELS
    stops = []
    for k in range(SOFT_STOPS):
        offset = k / (SOFT_STOPS - 1)
        t = max(1.0 - abs(2.0 * offset - 1.0), 1e-6) ** power
        stops.append(f'<stop offset="{_num(offset)}" stop-color="#fff" stop-opacity="{_num(t * t * (3 - 2 * t))}"/>')
    return (f'<linearGradient id="{_soft_profile_id(level, height)}" gradientUnits="userSpaceOnUse" x1="0" y1="0" '
            f'x2="0" y2="{height}">{"".join(stops)}</linearGradient>')


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

    png = resvg_py.svg_to_bytes(svg_string=svg, zoom=scale)
    with Image.open(io.BytesIO(bytes(png))) as im:
        return im.convert("RGB")

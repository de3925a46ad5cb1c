"""The DiffPaint stroke file: the one definition shared by the backend and the Blender add-on.

Standard library only, so the PyTorch backend and Blender's Python can both import it
(``from diffpaint_shared.strokefile import load``) without pulling in torch or bpy.

A stroke file is UTF-8 JSON. Coordinates are canvas pixels with the origin at the top-left
corner and y pointing down; colors are display-referred sRGB in [0, 1], exactly as in the
source image. ``docs/stroke-format.md`` is the prose specification of version 1.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT_NAME = "diffpaint-strokes"
FORMAT_VERSION = 1
STROKE_KINDS = ("paint", "smudge")

Vec2 = tuple[float, float]
RGB = tuple[float, float, float]


class StrokeFileError(ValueError):
    """A stroke file is malformed, of the wrong version, or holds out-of-range values."""


@dataclass(frozen=True)
class CanvasGrain:
    """A paper or canvas texture under the painting: the bare canvas's linear color at a pixel is the
    background's × (1 + strength · z), clipped to [0, 1], where z is the texture's gray standardized
    (zero mean, unit deviation over its texels) and tiled from the canvas's top-left corner, ``scale``
    canvas pixels per texel, sampled bilinearly at pixel centers. docs/stroke-format.md gives the rule."""

    name: str  # which texture, e.g. "canvas" (the backend's set: jobschema.GRAINS)
    png: bytes  # an 8-bit gray, RGB or RGBA PNG (its first channel is the gray); stored base64-encoded
    scale: float = 1.0  # canvas pixels per texel, in (0, MAX_GRAIN_SCALE]
    strength: float = 0.0  # in [0, 1]: the modulation's standard deviation, relative to the background
    source: str = ""  # where the image comes from and its licence

    def __post_init__(self) -> None:
        png_size(self.png)  # ValueError unless a PNG


MAX_GRAIN_SCALE = 64.0


@dataclass(frozen=True)
class Canvas:
    width: int
    height: int
    background: RGB = (1.0, 1.0, 1.0)
    grain: CanvasGrain | None = None  # None: a flat background


@dataclass(frozen=True)
class TextureMapping:
    """How a stroke lays its texture image along itself, as Grease Pencil's per-stroke attributes do.

    The image's x axis runs along the stroke (u), its y axis across it (v, 0 … 1 from one edge to
    the other); ``u_scale`` and ``u_translation`` scale and shift u. docs/stroke-format.md gives
    the exact rule, which the backend's stylized renderer and the Blender importer both follow.
    """

    u_scale: float = 1.0  # > 0
    u_translation: float = 0.0
    rotation: float = 0.0  # radians, texture rotation about the stroke axis
    softness: float = 0.0  # [0, 1), edge softness (Grease Pencil's stroke "hardness" = 1 - softness)
    mix: float = 1.0  # [0, 1], how much of the stroke color replaces the texture color


@dataclass(frozen=True)
class Texture:
    """A stroke texture image shared by several strokes (one texture of a style's bank)."""

    style: str  # e.g. "oil"
    png: bytes  # an 8-bit RGBA or RGB PNG; stored base64-encoded in the JSON
    width: int = 0  # read from the PNG header; filled in by the constructor
    height: int = 0
    source: str = ""  # where the image comes from and its licence (e.g. a brush tip's bundle); "" when unknown

    def __post_init__(self) -> None:
        w, h = png_size(self.png)
        object.__setattr__(self, "width", w)
        object.__setattr__(self, "height", h)


@dataclass(frozen=True)
class Stroke:
    """One brush stroke: a quadratic Bézier with radius and color linear in the curve parameter t.

    A smudge stroke (``kind="smudge"``) deposits no paint of its own: it drags canvas color along
    its path. What it leaves behind is recorded per stamp (stamps at t = i / (n - 1)) as the brush
    color it deposits and the strength of that deposit, so a renderer without the canvas state
    (Blender) can show it; ``color`` then holds the first and last deposited color.
    """

    points: tuple[Vec2, Vec2, Vec2]  # start, control, end
    radius: tuple[float, float]  # at t=0 and t=1
    color: tuple[RGB, RGB]  # at t=0 and t=1; equal for a single-color stroke
    opacity: float = 1.0
    kind: str = "paint"
    level: int = 0
    order: int = 0
    style: Mapping[str, Any] = field(default_factory=dict)  # e.g. {"name": "oil", ...params}
    texture: str | None = None  # key into StrokeFile.textures
    mapping: TextureMapping | None = None  # how ``texture`` lies on the stroke; None without a texture
    deposit_color: tuple[RGB, ...] = ()  # smudge only: brush color each stamp deposits
    deposit_strength: tuple[float, ...] = ()  # smudge only: in [0, 1], one per stamp


@dataclass(frozen=True)
class StrokeFile:
    canvas: Canvas
    strokes: tuple[Stroke, ...]
    textures: Mapping[str, Texture] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)  # free-form provenance

    @property
    def levels(self) -> list[int]:
        return sorted({s.level for s in self.strokes})


# --- writing ----------------------------------------------------------------------------------


def to_dict(doc: StrokeFile) -> dict[str, Any]:
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "canvas": _canvas_to_dict(doc.canvas),
        "metadata": dict(doc.metadata),
        "textures": {k: _texture_to_dict(t) for k, t in doc.textures.items()},
        "strokes": [_stroke_to_dict(s) for s in doc.strokes],
    }


def _canvas_to_dict(c: Canvas) -> dict[str, Any]:
    out: dict[str, Any] = {"width": c.width, "height": c.height, "background": list(c.background)}
    if c.grain is not None:
        g = c.grain
        out["grain"] = {"name": g.name, "scale": g.scale, "strength": g.strength,
                        "png": base64.b64encode(g.png).decode("ascii")}
        if g.source:
            out["grain"]["source"] = g.source
    return out


def _stroke_to_dict(s: Stroke) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": s.kind,
        "level": s.level,
        "order": s.order,
        "points": [list(p) for p in s.points],
        "radius": list(s.radius),
        "color": [list(c) for c in s.color],
        "opacity": s.opacity,
        "style": dict(s.style),
    }
    if s.texture is not None:
        out["texture"] = s.texture
    if s.mapping is not None:
        m = s.mapping
        out["mapping"] = {"u_scale": m.u_scale, "u_translation": m.u_translation, "rotation": m.rotation,
                          "softness": m.softness, "mix": m.mix}
    if s.kind == "smudge":
        out["deposit"] = {"color": [list(c) for c in s.deposit_color], "strength": list(s.deposit_strength)}
    return out


def _texture_to_dict(t: Texture) -> dict[str, Any]:
    out = {"style": t.style, "width": t.width, "height": t.height, "png": base64.b64encode(t.png).decode("ascii")}
    if t.source:
        out["source"] = t.source
    return out


def dumps(doc: StrokeFile) -> str:
    validate(doc)
    return json.dumps(to_dict(doc), separators=(",", ":"), allow_nan=False)


def save(doc: StrokeFile, path: str | os.PathLike[str]) -> None:
    """Write atomically: a crash mid-write never leaves a truncated stroke file behind."""
    text = dumps(doc)
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


# --- reading ----------------------------------------------------------------------------------


def loads(text: str | bytes) -> StrokeFile:
    try:
        raw = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise StrokeFileError(f"not a DiffPaint stroke file: invalid JSON ({e})") from None
    except RecursionError:  # json's decoder recurses once per nesting level
        raise StrokeFileError("not a DiffPaint stroke file: JSON nested too deeply") from None
    return from_dict(raw)


def load(path: str | os.PathLike[str]) -> StrokeFile:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise StrokeFileError(f"cannot read stroke file {os.fspath(path)!r}: {e.strerror}") from None
    try:
        return loads(data)
    except StrokeFileError as e:
        raise StrokeFileError(f"{os.fspath(path)}: {e}") from None


def from_dict(raw: Any) -> StrokeFile:
    obj = _mapping(raw, "file")
    if obj.get("format") != FORMAT_NAME:
        raise StrokeFileError(f"not a DiffPaint stroke file: 'format' must be {FORMAT_NAME!r}")
    version = obj.get("version")
    if version != FORMAT_VERSION:
        raise StrokeFileError(
            f"unsupported stroke file version {version!r}: this DiffPaint reads version {FORMAT_VERSION}"
        )
    c = _mapping(obj.get("canvas"), "canvas")
    canvas = Canvas(
        width=_int(c.get("width"), "canvas.width", lo=1, hi=65536),
        height=_int(c.get("height"), "canvas.height", lo=1, hi=65536),
        background=_rgb(c.get("background", [1.0, 1.0, 1.0]), "canvas.background"),
        grain=None if c.get("grain") is None else _grain_from_dict(c["grain"], "canvas.grain"),
    )
    strokes_raw = obj.get("strokes")
    if not isinstance(strokes_raw, list):
        raise StrokeFileError("'strokes' must be a list")
    strokes = tuple(_stroke_from_dict(s, f"strokes[{i}]") for i, s in enumerate(strokes_raw))
    doc = StrokeFile(
        canvas=canvas,
        strokes=strokes,
        textures={str(k): _texture_from_dict(v, f"textures[{k!r}]")
                  for k, v in _mapping(obj.get("textures", {}), "textures").items()},
        metadata=dict(_mapping(obj.get("metadata", {}), "metadata")),
    )
    validate(doc)
    return doc


def _stroke_from_dict(raw: Any, where: str) -> Stroke:
    s = _mapping(raw, where)
    points = _seq(s.get("points"), f"{where}.points", 3)
    radius = _seq(s.get("radius"), f"{where}.radius", 2)
    color = _seq(s.get("color"), f"{where}.color", 2)
    texture = s.get("texture")
    if texture is not None and not isinstance(texture, str):
        raise StrokeFileError(f"{where}.texture must be a string or absent")
    mapping = None if s.get("mapping") is None else _mapping_from_dict(s["mapping"], f"{where}.mapping")
    deposit_color: tuple[RGB, ...] = ()
    deposit_strength: tuple[float, ...] = ()
    if "deposit" in s:
        d = _mapping(s["deposit"], f"{where}.deposit")
        colors = _list(d.get("color"), f"{where}.deposit.color")
        strengths = _list(d.get("strength"), f"{where}.deposit.strength")
        deposit_color = tuple(_rgb(c, f"{where}.deposit.color[{i}]") for i, c in enumerate(colors))
        deposit_strength = tuple(_float(x, f"{where}.deposit.strength[{i}]") for i, x in enumerate(strengths))
    return Stroke(
        points=tuple(_vec2(p, f"{where}.points[{i}]") for i, p in enumerate(points)),  # type: ignore[arg-type]
        radius=(_float(radius[0], f"{where}.radius[0]"), _float(radius[1], f"{where}.radius[1]")),
        color=(_rgb(color[0], f"{where}.color[0]"), _rgb(color[1], f"{where}.color[1]")),
        opacity=_float(s.get("opacity", 1.0), f"{where}.opacity"),
        kind=s.get("kind", "paint"),
        level=_int(s.get("level", 0), f"{where}.level", lo=0, hi=1 << 16),
        order=_int(s.get("order", 0), f"{where}.order", lo=0, hi=1 << 31),
        style=dict(_mapping(s.get("style", {}), f"{where}.style")),
        texture=texture,
        mapping=mapping,
        deposit_color=deposit_color,
        deposit_strength=deposit_strength,
    )


def _mapping_from_dict(raw: Any, where: str) -> TextureMapping:
    m = _mapping(raw, where)
    defaults = TextureMapping()
    return TextureMapping(**{
        name: _float(m.get(name, getattr(defaults, name)), f"{where}.{name}")
        for name in ("u_scale", "u_translation", "rotation", "softness", "mix")
    })


def _texture_from_dict(raw: Any, where: str) -> Texture:
    t = _mapping(raw, where)
    style, png = _name(t.get("style"), f"{where}.style"), _png(t.get("png"), f"{where}.png")
    source = _source(t.get("source", ""), f"{where}.source")
    try:
        return Texture(style=style, png=png, source=source)
    except ValueError as e:
        raise StrokeFileError(f"{where}.png: {e}") from None


def _grain_from_dict(raw: Any, where: str) -> CanvasGrain:
    g = _mapping(raw, where)
    name, png = _name(g.get("name"), f"{where}.name"), _png(g.get("png"), f"{where}.png")
    scale = _float(g.get("scale", 1.0), f"{where}.scale")
    strength = _float(g.get("strength", 0.0), f"{where}.strength")
    source = _source(g.get("source", ""), f"{where}.source")
    try:
        return CanvasGrain(name=name, png=png, scale=scale, strength=strength, source=source)
    except ValueError as e:
        raise StrokeFileError(f"{where}.png: {e}") from None


def _name(v: Any, where: str) -> str:
    if not isinstance(v, str) or not v:
        raise StrokeFileError(f"{where} must be a non-empty string")
    return v


def _png(v: Any, where: str) -> bytes:
    if not isinstance(v, str):
        raise StrokeFileError(f"{where} must be a base64-encoded PNG string")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise StrokeFileError(f"{where} is not valid base64") from None


def _source(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise StrokeFileError(f"{where} must be a string or absent")
    return v


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk; ValueError if the bytes are not a PNG."""
    if len(png) < 24 or not png.startswith(_PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", png[16:24])
    if not (1 <= width <= 8192 and 1 <= height <= 8192):
        raise ValueError(f"PNG size {width}x{height} is outside 1 … 8192")
    return width, height


def validate(doc: StrokeFile) -> None:
    """Check the semantic rules the JSON schema alone cannot express."""
    if doc.canvas.grain is not None:
        _validate_grain(doc.canvas.grain, "canvas.grain")
    for i, s in enumerate(doc.strokes):
        where = f"strokes[{i}]"
        if s.kind not in STROKE_KINDS:
            raise StrokeFileError(f"{where}.kind must be one of {STROKE_KINDS}, not {s.kind!r}")
        if not all(r >= 0.0 for r in s.radius):
            raise StrokeFileError(f"{where}.radius must be non-negative")
        if not 0.0 <= s.opacity <= 1.0:
            raise StrokeFileError(f"{where}.opacity must lie in [0, 1]")
        if s.texture is not None and s.texture not in doc.textures:
            raise StrokeFileError(f"{where}.texture {s.texture!r} is not defined in 'textures'")
        if s.mapping is not None:
            _validate_mapping(s.mapping, f"{where}.mapping")
        _validate_deposit(s, where)
    orders = [s.order for s in doc.strokes]
    if len(set(orders)) != len(orders):
        raise StrokeFileError("stroke 'order' values must be unique")


def _validate_mapping(m: TextureMapping, where: str) -> None:
    if not m.u_scale > 0.0:
        raise StrokeFileError(f"{where}.u_scale must be positive")
    if not 0.0 <= m.softness < 1.0:
        raise StrokeFileError(f"{where}.softness must lie in [0, 1)")
    if not 0.0 <= m.mix <= 1.0:
        raise StrokeFileError(f"{where}.mix must lie in [0, 1]")


def _validate_grain(g: CanvasGrain, where: str) -> None:
    if not 0.0 < g.scale <= MAX_GRAIN_SCALE:
        raise StrokeFileError(f"{where}.scale must lie in (0, {MAX_GRAIN_SCALE:g}], not {g.scale!r}")
    if not 0.0 <= g.strength <= 1.0:
        raise StrokeFileError(f"{where}.strength must lie in [0, 1], not {g.strength!r}")


def _validate_deposit(s: Stroke, where: str) -> None:
    if s.kind != "smudge":
        if s.deposit_color or s.deposit_strength:
            raise StrokeFileError(f"{where}.deposit is only allowed on smudge strokes")
        return
    n = len(s.deposit_color)
    if n < 2 or len(s.deposit_strength) != n:
        raise StrokeFileError(f"{where}.deposit needs the same number (at least 2) of colors and strengths")
    if not all(0.0 <= x <= 1.0 for x in s.deposit_strength):
        raise StrokeFileError(f"{where}.deposit.strength values must lie in [0, 1]")


# --- field parsers: each names the offending field in its error --------------------------------


def _mapping(v: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise StrokeFileError(f"{where} must be a JSON object")
    return v


def _seq(v: Any, where: str, n: int) -> Sequence[Any]:
    if not isinstance(v, list) or len(v) != n:
        raise StrokeFileError(f"{where} must be a list of {n} items")
    return v


def _list(v: Any, where: str) -> Sequence[Any]:
    if not isinstance(v, list):
        raise StrokeFileError(f"{where} must be a list")
    return v


def _float(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise StrokeFileError(f"{where} must be a finite number, not {v!r}")
    return float(v)


def _int(v: Any, where: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise StrokeFileError(f"{where} must be an integer in [{lo}, {hi}], not {v!r}")
    return v


def _vec2(v: Any, where: str) -> Vec2:
    x, y = _seq(v, where, 2)
    return (_float(x, f"{where}[0]"), _float(y, f"{where}[1]"))


def _rgb(v: Any, where: str) -> RGB:
    r, g, b = (_float(c, f"{where}[{i}]") for i, c in enumerate(_seq(v, where, 3)))
    if not all(0.0 <= c <= 1.0 for c in (r, g, b)):
        raise StrokeFileError(f"{where} components must lie in [0, 1]")
    return (r, g, b)

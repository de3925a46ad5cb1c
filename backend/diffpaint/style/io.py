"""A stroke style to and from the stroke file: one texture entry per variant, a mapping per stroke."""

from __future__ import annotations

from dataclasses import replace

import torch

from diffpaint.style.stroke_style import StrokeStyle
from diffpaint.style.textures import texture_from_png, texture_png
from diffpaint_shared import strokefile


def texture_key(style: str, variant: int) -> str:
    return f"{style}-{variant}"


def _texture_order(key: str) -> tuple[str, int, str]:
    """Keys in the order `attach_style` numbers them (watercolor-2 before watercolor-10), others by name."""
    stem, _, index = key.rpartition("-")
    return (stem, int(index), "") if index.isdigit() else (key, -1, key)


def attach_style(doc: strokefile.StrokeFile, style: StrokeStyle) -> strokefile.StrokeFile:
    """`doc` with its paint strokes (in painting order, as `style` indexes them) textured by `style`."""
    sources = style.sources or ("",) * len(style.textures)
    textures = {texture_key(style.name, i): strokefile.Texture(style=style.name, png=texture_png(t), source=source)
                for i, (t, source) in enumerate(zip(style.textures, sources, strict=True))}
    paint = sorted((s for s in doc.strokes if s.kind == "paint"), key=lambda s: s.order)
    if len(paint) != len(style.variant):
        raise ValueError(f"the style has parameters for {len(style.variant)} strokes, the file {len(paint)}")
    s = style.detach().select(torch.arange(len(paint), device=style.variant.device))
    columns = [getattr(s, k).cpu().tolist() for k in ("variant", "u_scale", "u_translation", "softness", "mix")]
    styled = {}
    for stroke, (variant, u_scale, u_translation, softness, mix) in zip(paint, zip(*columns, strict=True),
                                                                         strict=True):
        mapping = strokefile.TextureMapping(u_scale=u_scale, u_translation=u_translation, softness=softness,
                                            mix=mix)
        styled[stroke.order] = replace(stroke, style={"name": style.name}, texture=texture_key(style.name, variant),
                                       mapping=mapping)
    strokes = tuple(styled.get(st.order, st) for st in doc.strokes)
    return replace(doc, strokes=strokes, textures={**doc.textures, **textures})


def style_from_file(doc: strokefile.StrokeFile, device: torch.device | None = None) -> StrokeStyle | None:
    """The style of a file's paint strokes (painting order), or None when they carry no textures.
    Strokes without a texture of their own use the first texture at full stroke color (mix 1)."""
    paint = sorted((s for s in doc.strokes if s.kind == "paint"), key=lambda s: s.order)
    if not doc.textures or not any(s.texture for s in paint):
        return None
    keys = sorted(doc.textures, key=_texture_order)
    textures = [texture_from_png(doc.textures[k].png) for k in keys]
    if len({t.shape for t in textures}) != 1:
        raise strokefile.StrokeFileError("the backend renders textures of one size per file only")
    plain = strokefile.TextureMapping()
    mappings = [s.mapping or plain for s in paint]

    def column(values: list[float]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.float32, device=device)

    return StrokeStyle(
        name=doc.textures[keys[0]].style,
        textures=torch.stack(textures).to(device),
        variant=torch.tensor([keys.index(s.texture) if s.texture else 0 for s in paint], device=device),
        u_scale=column([m.u_scale for m in mappings]),
        u_translation=column([m.u_translation for m in mappings]),
        softness=column([m.softness for m in mappings]),
        mix=column([m.mix if s.texture else 1.0 for s, m in zip(paint, mappings, strict=True)]),
        sources=tuple(doc.textures[k].source for k in keys),
    )


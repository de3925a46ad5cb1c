"""Textured strokes in Blender: materials, images and per-stroke mapping from the stroke file, and a
Blender render that matches the backend's textured render (real bpy, in subprocesses)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from blender_helpers import bpy_eval, run_python

from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, to_stroke_file
from diffpaint.render.smudge import SmudgeSettings
from diffpaint.strokes import Strokes
from diffpaint.style import StrokeStyle, attach_style, initial_style, render_styled_painting, styled_painting
from diffpaint_shared import strokefile

WIDTH, HEIGHT = 96, 64
BACKGROUND = (0.85, 0.82, 0.75)


def painting(count: int = 24, seed: int = 0) -> Painting:
    """Curved strokes of assorted sizes and directions, some faint, over the whole canvas."""
    g = torch.Generator().manual_seed(seed)
    start = torch.rand(count, 2, generator=g) * torch.tensor([WIDTH, HEIGHT])
    end = start + (torch.rand(count, 2, generator=g) - 0.5) * 60
    control = 0.5 * (start + end) + torch.randn(count, 2, generator=g) * 6
    radius = 2.5 + torch.rand(count, 2, generator=g) * 6
    strokes = Strokes(torch.stack([start, control, end], dim=1), radius, torch.rand(count, 2, 3, generator=g),
                      0.7 + 0.3 * torch.rand(count, generator=g), torch.zeros(count, dtype=torch.long))
    return Painting.empty(SmudgeSettings()).then_paint(strokes)


def styled_file(name: str) -> tuple[strokefile.StrokeFile, Painting, StrokeStyle]:
    p = painting()
    n = len(p.paint)
    style = replace(initial_style(name, n), u_scale=torch.linspace(0.6, 1.6, n),
                    u_translation=torch.linspace(-0.3, 0.3, n), softness=torch.linspace(0.0, 0.4, n),
                    mix=torch.tensor([0.5, 0.75, 1.0]).repeat(n)[:n])
    p = styled_painting(p, style)
    return attach_style(to_stroke_file(p, WIDTH, HEIGHT, BACKGROUND, {}), style), p, style


@pytest.mark.parametrize("name", ["oil", "watercolor", "ink", "pencil"])
def test_blender_render_matches_the_backends_textured_render(name: str, tmp_path: Path) -> None:
    doc, p, style = styled_file(name)
    strokefile.save(doc, tmp_path / "s.json")
    proc = run_python(["-m", "diffpaint_addon.blend_job", str(tmp_path / "s.json"), "--png", str(tmp_path / "b.png")])
    assert proc.returncode == 0, proc.stderr[-2000:]
    blender, _ = load_image(tmp_path / "b.png", max_side=1 << 16)
    bg = torch.tensor(BACKGROUND).expand(HEIGHT, WIDTH, 3).contiguous()
    with torch.no_grad():
        backend = render_styled_painting(p, style, bg)
        untextured = render_styled_painting(p, replace(style, mix=torch.ones_like(style.mix),
                                                       textures=torch.ones_like(style.textures)), bg)
    agreement = psnr(blender, backend)
    assert agreement > 28.0
    # The texture is what Blender shows: ignoring it would agree far worse.
    assert agreement > psnr(blender, untextured) + 3.0


def test_import_makes_a_texture_material_per_texture_and_mix(tmp_path: Path) -> None:
    doc, _, _ = styled_file("oil")
    strokefile.save(doc, tmp_path / "s.json")
    pairs = {(s.texture, s.mapping.mix) for s in doc.strokes if s.mapping}
    first = min(doc.strokes, key=lambda s: s.order)
    result = bpy_eval(f"""
        import bpy, numpy as np
        from diffpaint_shared.strokefile import load
        from diffpaint_addon.gp_import import import_strokes
        from diffpaint_addon.sampling import CanvasMapping, sample_strokes, points_per_stroke
        bpy.ops.wm.read_factory_settings(use_empty=True)
        doc = load({str(tmp_path / 's.json')!r})
        obj = import_strokes(doc, bpy.context.scene)
        mats = [m for m in obj.data.materials if m.grease_pencil.stroke_style == "TEXTURE"]
        layer = [l for l in obj.data.layers if l.name != "Canvas"][0]
        drawing = layer.frames[0].drawing
        attr = {{n: [d.value for d in drawing.attributes[n].data] for n in ("u_scale", "u_translation", "softness")}}
        first = sorted(doc.strokes, key=lambda s: s.order)
        sampled = sample_strokes(first, points_per_stroke(first))
        xy = CanvasMapping(doc.canvas.width, doc.canvas.height).to_world(sampled.xy[0])
        length = float(np.linalg.norm(np.diff(xy, axis=0), axis=-1).sum())
        result = {{
            "materials": sorted([(m.grease_pencil.stroke_image.name, round(m.grease_pencil.mix_stroke_factor, 4))
                                for m in mats]),
            "packed": all(m.grease_pencil.stroke_image.packed_file is not None for m in mats),
            "sources": sorted({{m.grease_pencil.stroke_image["diffpaint_source"] for m in mats}}),
            "colorspace": sorted({{m.grease_pencil.stroke_image.colorspace_settings.name for m in mats}}),
            "pixel_size": sorted({{m.grease_pencil.pixel_size for m in mats}}),
            "first": [attr["u_scale"][0] * length, attr["u_translation"][0], attr["softness"][0]],
        }}
    """)
    assert result["materials"] == sorted([f"DiffPaint {t}", round(m, 4)] for t, m in pairs)
    assert result["packed"] and result["colorspace"] == ["Non-Color"] and result["pixel_size"] == [500.0]
    assert result["sources"] == sorted({doc.textures[t].source for t, _ in pairs})  # each tip and its licence
    m = first.mapping
    assert m is not None
    assert result["first"] == pytest.approx([m.u_scale, m.u_translation, m.softness], abs=1e-5)

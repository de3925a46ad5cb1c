"""Smudges on a textured painting: the fit smudges the textured canvas, and the stroke file's deposits
(what Blender draws for each smudge) are sampled from that same textured canvas, not the plain one."""

from __future__ import annotations

from pathlib import Path

import torch

from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.painting import smudge_deposits_of
from diffpaint.results import ResultFiles
from diffpaint.style import render_styled_painting
from diffpaint.style.render import styled_paint


def test_stroke_file_deposits_come_from_the_textured_canvas(painting_path: Path, tmp_path: Path) -> None:
    target, _ = load_image(painting_path, 48)
    background = tuple(target.mean((0, 1)).tolist())
    rec = reconstruct(target, background, Settings(strokes=40, levels=2, iterations=8, rounds=1, smudge=True,
                                                   smudge_share=0.3, smudge_iterations=4, style="oil",
                                                   style_iterations=4))
    assert rec.style is not None and len(rec.strokes.smudge) > 0
    canvas = torch.tensor(background).expand_as(target).contiguous()
    with torch.no_grad():  # the fit's canvas is the textured painting, smudged where it is textured
        assert torch.allclose(rec.canvas, render_styled_painting(rec.strokes, rec.style, canvas), atol=1e-5)
    textured, _ = smudge_deposits_of(rec.strokes, canvas, paint=styled_paint(rec.style))
    plain, _ = smudge_deposits_of(rec.strokes, canvas)
    height, width = target.shape[:2]
    doc = ResultFiles(tmp_path, width, height, background, {}).stroke_file(rec.strokes, rec.style)
    smudges = sorted((s for s in doc.strokes if s.kind == "smudge"), key=lambda s: s.order)
    written = torch.tensor([s.deposit_color for s in smudges])
    assert torch.allclose(written, textured.clamp(0, 1), atol=1e-4)
    assert (written - plain.clamp(0, 1)).abs().max() > 0.01  # the plain canvas would have given other colors

"""Stroke styles (paper §3.3.2): textures per painting medium (`textures`), Grease Pencil's texture rule as
a shader of the plain renderer (`shader`, `render`), the style phase that fits each stroke's texture
parameters (`phase`), and styles in stroke files (`io`)."""

from diffpaint.style.io import attach_style, style_from_file
from diffpaint.style.phase import (
    StyleSettings,
    initial_style,
    optimize_style,
    style_phase,
    styled_painting,
    styled_strokes,
)
from diffpaint.style.render import render_styled, render_styled_painting
from diffpaint.style.stroke_style import StrokeStyle
from diffpaint.style.textures import STYLES, generate_textures

__all__ = ["STYLES", "StrokeStyle", "StyleSettings", "attach_style", "generate_textures", "initial_style",
           "optimize_style", "render_styled", "render_styled_painting", "style_from_file", "style_phase",
           "styled_painting", "styled_strokes"]

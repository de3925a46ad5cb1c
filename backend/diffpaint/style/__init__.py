"""Stroke styles (paper §3.3.2): textures per painting medium, rendered as Grease Pencil renders them,
and the style phase that fits each stroke's texture parameters."""

from diffpaint.style.io import attach_style, style_from_file
from diffpaint.style.phase import (
                                   StyleSettings,
                                   initial_style,
                                   optimise_style,
                                   style_phase,
                                   styled_painting,
                                   styled_strokes,
)
from diffpaint.style.render import StrokeStyle, render_styled, render_styled_painting
from diffpaint.style.textures import STYLES, generate_textures

__all__ = ["STYLES", "StrokeStyle", "StyleSettings", "attach_style", "generate_textures", "initial_style",
           "optimise_style", "render_styled", "render_styled_painting", "style_from_file", "style_phase",
           "styled_painting", "styled_strokes"]

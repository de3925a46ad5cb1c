"""Differentiable stroke renderer: rasterizer (stamp chains → fragments) → shader → "over" compositor
(see `renderer`); the smudge renderer (`smudge`) and a slow sequential reference (`reference`) beside it."""

from __future__ import annotations

from diffpaint.render.composite import Rendered, composite
from diffpaint.render.raster import FragmentGroups, Fragments, RasterSettings
from diffpaint.render.renderer import Shader, canvas_grid, rasterize_strokes, render
from diffpaint.render.tiles import TileGrid

__all__ = ["FragmentGroups", "Fragments", "RasterSettings", "Rendered", "Shader", "TileGrid", "canvas_grid",
           "composite", "rasterize_strokes", "render"]

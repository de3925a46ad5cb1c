"""Exports of a painting beyond its stroke file: SVG, process video/GIF and PNG frames.

`svg` works from the stroke file alone (standard library only); `process` renders with the
backend's renderer.
"""

"""DiffPaint backend: reconstruct a painting as an ordered list of explicit brush strokes.

Importing this package does not import torch; the renderer and optimizer modules do.
"""

from diffpaint_shared import __version__

__all__ = ["__version__"]

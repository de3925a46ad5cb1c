"""DiffPaint backend: reconstruct a painting as an ordered list of explicit brush strokes.

Importing this package does not import torch; the renderer and optimiser modules do.
"""

__version__ = "0.1.0"

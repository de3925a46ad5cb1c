"""Fitting strokes to an image: the coarse-to-fine optimizer, stroke placement, losses and the
target analysis (segmentation, filters, banding) they use."""

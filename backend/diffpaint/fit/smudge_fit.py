"""The smudge phase's objective, and the pruning of smudge strokes that do not pay their way.

Smudge strokes are fitted on a frozen canvas with the paint phase's guidance terms (pixel L1, edge
gradient, optimal transport) plus the area regularizer on their geometry, with their own weights
(`Settings.smudge_weights`: heavier gradient and area terms, since a smudge is there to turn hard
steps into gradients, not to move color about). The segmentation term needs a paint render's
per-stroke fragments and is not used.
"""

from __future__ import annotations

import torch
from torch import Tensor

from diffpaint.fit.losses import LossWeights, area_regularizer, image_terms
from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes, smudge
from diffpaint.strokes import Strokes


def image_loss(image: Tensor, target: Tensor, weights: LossWeights) -> Tensor:
    """Weighted sum of `image_terms` (pixel, gradient, optimal transport, perceptual; weight 0 = not computed)."""
    terms = image_terms(image, target, weights)
    return sum((getattr(weights, name) * value for name, value in terms.items()), image.new_zeros(()))


def smudge_loss(image: Tensor, target: Tensor, strokes: SmudgeStrokes, weights: LossWeights, cell: float) -> Tensor:
    """`image_loss` plus the area regularizer on the smudge strokes' geometry (their level's `cell` px)."""
    loss = image_loss(image, target, weights)
    if weights.area > 0 and len(strokes):
        shape = Strokes(strokes.points, strokes.radius, strokes.radius.new_zeros(len(strokes), 2, 3),
                        strokes.radius.new_ones(len(strokes)), torch.zeros(len(strokes), dtype=torch.long))
        loss = loss + weights.area * area_regularizer(shape, cell)
    return loss


def prune_smudges(
    target: Tensor, canvas: Tensor, strokes: SmudgeStrokes, settings: SmudgeSettings, weights: LossWeights
) -> SmudgeStrokes:
    """Keep only smudge strokes that lower the image loss of `canvas` smudged by them (no autograd).

    One forward pass in stroke order: a stroke stays when smudging it onto the canvas the strokes kept
    so far leave lowers the loss. Each stroke is applied once and each loss computed once (M smudge
    passes; a backward elimination needs M passes of up to M strokes), and what is kept lowers the loss
    of the unsmudged canvas by construction.
    """
    keep: list[int] = []
    with torch.no_grad():
        current = canvas
        best = float(image_loss(current, target, weights))
        for j in range(len(strokes)):
            trial = smudge(current, strokes.select(slice(j, j + 1)), settings)
            loss = float(image_loss(trial, target, weights))
            if loss < best:
                keep.append(j)
                current, best = trial, loss
    return strokes.select(torch.tensor(keep, dtype=torch.long, device=strokes.points.device))

"""Cumulative sums that repeat bit for bit on CUDA.

`torch.cumsum` of floating-point tensors on CUDA has no deterministic kernel: under
`torch.use_deterministic_algorithms(True)` it raises. `cumulative_sum` then sums in blocks by matrix
products with a triangular matrix (cuBLAS repeats its results once CUBLAS_WORKSPACE_CONFIG is set),
and the block totals the same way, recursively; elsewhere it is `torch.cumsum`.
"""

from __future__ import annotations

import torch
from torch import Tensor

_BLOCK = 256


def cumulative_sum(x: Tensor, dim: int) -> Tensor:
    """Inclusive cumulative sum of x along `dim`, deterministic where torch's kernel is not."""
    if x.is_cuda and x.is_floating_point() and torch.are_deterministic_algorithms_enabled():
        return blocked_cumulative_sum(x.movedim(dim, 0)).movedim(0, dim)
    return torch.cumsum(x, dim)


def blocked_cumulative_sum(x: Tensor) -> Tensor:
    """Inclusive cumulative sum along dim 0 from matrix products only: within blocks of `_BLOCK` by a
    lower-triangular matrix of ones, then each block offset by the sum of the blocks before it."""
    n = x.shape[0]
    block = min(_BLOCK, max(n, 1))
    count = -(-n // block)
    padded = torch.cat([x, x.new_zeros(count * block - n, *x.shape[1:])]) if count * block > n else x
    blocks = padded.reshape(count, block, -1)
    lower = torch.tril(torch.ones(block, block, dtype=x.dtype, device=x.device))
    within = lower @ blocks  # (count, block, rest)
    if count > 1:
        totals = within[:, -1]
        within = within + (blocked_cumulative_sum(totals) - totals)[:, None]
    return within.reshape(count * block, *x.shape[1:])[:n]

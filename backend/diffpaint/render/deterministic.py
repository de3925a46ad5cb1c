"""Tensor operations that repeat bit for bit on CUDA, forward and backward.

Under `torch.use_deterministic_algorithms(True)` (`--deterministic`) PyTorch raises on kernels it has no
deterministic CUDA version of; the fitting path must avoid them:
- `torch.cumsum` of floating-point tensors: `cumulative_sum` then sums in blocks by matrix products
  with a triangular matrix (cuBLAS repeats its results once CUBLAS_WORKSPACE_CONFIG is set), and the
  block totals the same way, recursively; elsewhere it is `torch.cumsum`;
- the backward of `F.pad`'s "replicate" and "reflect" modes: `pad_edges` indexes instead
  (`index_select`'s backward is deterministic in that mode);
- the backward of adaptive average pooling (and `F.interpolate(mode="area")`): `area_resize` averages
  by two matrix products.
"""

from __future__ import annotations

from typing import Literal

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


def pad_edges(x: Tensor, pad: int, mode: Literal["replicate", "reflect"] = "replicate") -> Tensor:
    """(…, H, W) padded by `pad` px on every side, as `F.pad` in that mode ("reflect" needs `pad` < H, W)."""
    height, width = x.shape[-2:]
    return x.index_select(-2, _edge_index(height, pad, mode, x.device)).index_select(
        -1, _edge_index(width, pad, mode, x.device))


def _edge_index(n: int, pad: int, mode: str, device: torch.device) -> Tensor:
    i = torch.arange(-pad, n + pad, device=device)
    if mode == "replicate":
        return i.clamp(0, n - 1)
    i = i.abs()
    return torch.where(i > n - 1, 2 * (n - 1) - i, i)


def area_resize(x: Tensor, height: int, width: int) -> Tensor:
    """(…, H, W) averaged down to (…, `height`, `width`) over the bins `F.adaptive_avg_pool2d` uses."""
    return _bin_means(x.shape[-2], height, x) @ x @ _bin_means(x.shape[-1], width, x).T


def _bin_means(n_in: int, n_out: int, like: Tensor) -> Tensor:
    """(n_out, n_in): row i averages inputs ⌊i·n_in/n_out⌋ … ⌈(i+1)·n_in/n_out⌉ − 1."""
    i = torch.arange(n_out, device=like.device)[:, None]
    j = torch.arange(n_in, device=like.device)[None]
    inside = (j >= i * n_in // n_out) & (j < ((i + 1) * n_in + n_out - 1) // n_out)
    weights = inside.to(like.dtype)
    return weights / weights.sum(dim=1, keepdim=True)

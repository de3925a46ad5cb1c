"""Count host reads of tensors: the points where a GPU run would wait for the device.

A fitting step that stays on the device queues its kernels and returns; every read of a tensor's
value on the host (`item`, `float(t)`, `int(t)`, `bool(t)`, using it as an index, `tolist`, `cpu`,
`numpy`) waits until everything queued before it has run. `count_host_reads` counts them, on any
device: on a CPU machine the reads cost nothing, but the same code on CUDA would synchronise there,
so tests can hold the fitting loop to a budget without a GPU.

Reads by `torch.optim` are not counted: optimizers keep their step counters as host tensors
whatever the device, so reading them never waits for one.

Operations whose output size depends on tensor data (boolean masks, `nonzero`, `repeat_interleave`
without an output size) also wait for the device, inside C++; they are counted apart, as `implicit`,
where they are called from Python as `torch.nonzero`, `Tensor.nonzero`, `torch.repeat_interleave` or
indexing with a boolean tensor.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch

_READS = ("item", "__float__", "__int__", "__bool__", "__index__", "tolist", "cpu", "numpy")


@dataclass
class HostReads:
    """Reads counted so far, by method name (explicit) and by data-dependent-size operation (implicit)."""

    explicit: Counter[str] = field(default_factory=Counter)
    implicit: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.explicit.values())


def _from_optimizer() -> bool:
    caller = sys._getframe(2).f_globals.get("__name__", "")
    return caller.startswith("torch.optim")


@contextmanager
def count_host_reads() -> Iterator[HostReads]:
    """Count host reads of tensors made while the context is open (not thread-safe: tests and benches only)."""
    reads = HostReads()
    saved: list[tuple[Any, str, Any]] = []

    def wrap(owner: Any, name: str, tally: Counter[str], counts: Callable[..., bool] = lambda *a, **k: True) -> None:
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            if counts(*args, **kwargs) and not _from_optimizer():
                tally[name] += 1
            return original(*args, **kwargs)

        saved.append((owner, name, original))
        setattr(owner, name, counted)

    for name in _READS:
        wrap(torch.Tensor, name, reads.explicit)
    wrap(torch.Tensor, "nonzero", reads.implicit)
    wrap(torch, "nonzero", reads.implicit)
    wrap(torch, "repeat_interleave", reads.implicit, _sized_by_data)
    wrap(torch.Tensor, "__getitem__", reads.implicit, lambda _self, index: _has_mask(index))
    try:
        yield reads
    finally:
        for owner, name, original in reversed(saved):
            setattr(owner, name, original)


def _sized_by_data(_input: Any, repeats: Any = None, *args: Any, output_size: int | None = None, **kwargs: Any) -> bool:
    return isinstance(repeats, torch.Tensor) and output_size is None


def _has_mask(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, torch.Tensor) and p.dtype == torch.bool for p in parts)

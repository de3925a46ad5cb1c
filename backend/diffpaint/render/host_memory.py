"""Let glibc's malloc keep freed tensor memory for reuse rather than hand it back to the OS at once.

A fitting step on the CPU makes and frees dozens of tensors of 5–40 MiB (one float per fragment pixel). glibc
serves blocks that large with mmap and unmaps them when they are freed (its own threshold adapts only up
to 32 MiB, and it trims the heap's free top beyond twice that), so every new tensor comes as fresh pages
that the kernel faults in and zeroes one at a time: at 512 px / 1,024 strokes that was a quarter to a third
of a joint-phase step (its system time). With the mmap threshold at its largest and the trim threshold at
2 GiB, blocks up to 32 MiB come from the heap and freed ones are reused; peak memory is unchanged, but the
process keeps what it freed (up to 2 GiB) until it exits. Only glibc has `mallopt`; elsewhere this does
nothing.
"""

from __future__ import annotations

import ctypes
import functools
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
_MMAP_THRESHOLD_MAX = 32 << 20  # glibc's largest allowed value on 64-bit systems (HEAP_MAX_SIZE / 2)
_TRIM_THRESHOLD = (1 << 31) - 1  # mallopt takes a C int


@functools.cache
def retain_freed_memory() -> bool:
    """Set malloc's thresholds (once per process); whether they were set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))

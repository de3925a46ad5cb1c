"""Result folders that exist whole or not at all, so a batch can resume after a crash or a cancel:
an item counts as done exactly when its folder exists."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PARTIAL = ".partial-"  # in the names of folders still being written


@contextmanager
def atomic_folder(final: Path) -> Iterator[Path]:
    """A fresh folder to write into, renamed to `final` when the block ends without error (deleted when
    it raises). Its name carries the writing process's id, so a killed writer's leftovers are recognizable.
    If another attempt finished `final` first (a retried task), this attempt's folder is discarded."""
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f".{final.name}{PARTIAL}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    try:
        partial.rename(final)
    except OSError:
        if not final.is_dir():
            raise
        shutil.rmtree(partial, ignore_errors=True)


def partial_pid(path: Path) -> int | None:
    """The id of the process writing a partial folder, None for any other path."""
    head, sep, tail = path.name.rpartition(PARTIAL)
    if not sep or not head.startswith("."):
        return None
    pid = tail.split("-", 1)[0]
    return int(pid) if pid.isdigit() else None


def remove_partials(folder: Path) -> int:
    """Delete the partial folders that crashed or killed writers left directly in `folder` (call only
    when no writer is running there); how many."""
    if not folder.is_dir():
        return 0
    leftovers = [p for p in folder.iterdir() if p.is_dir() and partial_pid(p) is not None]
    for p in leftovers:
        shutil.rmtree(p, ignore_errors=True)
    return len(leftovers)

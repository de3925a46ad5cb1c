"""diffpaint_shared.childprocess: real child processes (this Python), their output read on threads, and
stopping them: politely (stdin closed, or SIGTERM to the group), then by force, grandchildren included."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from diffpaint_shared.childprocess import ChildProcess


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_until(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_stdout_lines_arrive_in_order_and_stderr_keeps_its_tail() -> None:
    child = ChildProcess(py("import sys\nfor i in range(100): print(i); print('err', i, file=sys.stderr)\n"
                            "sys.exit(3)"))
    child.start()
    assert list(child.iter_lines()) == [str(i) for i in range(100)]
    assert child.wait(30) == 3 and not child.alive
    assert list(child.stderr_tail)[-1] == "err 99" and len(child.stderr_tail) == 30


def test_merged_stderr_arrives_with_stdout() -> None:
    child = ChildProcess(py("import sys; print('out', flush=True); print('err', file=sys.stderr)"), merge_stderr=True)
    child.start()
    assert sorted(child.iter_lines()) == ["err", "out"]
    assert child.wait(30) == 0


def test_a_missing_program_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        ChildProcess([str(tmp_path / "no-such-python")]).start()


def test_closing_stdin_asks_a_child_that_watches_it_to_stop() -> None:
    child = ChildProcess(py("import sys; print('ready', flush=True); sys.stdin.read(); print('bye')"), keep_stdin=True)
    child.start()
    assert child.lines.get(timeout=30) == "ready"
    child.stop(grace=30)
    assert child.returncode == 0 and list(child.iter_lines()) == ["bye"]  # it left on its own


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX here")
def test_stop_ends_the_child_and_what_it_spawned(tmp_path: Path) -> None:
    """A child that ignores SIGTERM is killed after the grace period; its own child goes with the group."""
    code = ("import signal, subprocess, sys, time\n"
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "grandchild = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
            "print(grandchild.pid, flush=True)\n"
            "time.sleep(120)\n")
    child = ChildProcess(py(code))
    child.start()
    grandchild = int(str(child.lines.get(timeout=30)))
    child.stop(grace=0.5)
    assert child.returncode is not None and child.returncode < 0
    wait_until(lambda: not alive(grandchild) or _zombie(grandchild))


def _zombie(pid: int) -> bool:
    """A killed grandchild whose parent died is reaped by init; until then it is a zombie, not running."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True

"""A child process in its own process group, its output read on threads, stopped politely then firmly.

Standard library only. Stdout lines arrive in ``lines`` (a queue; ``None`` marks the end of the
output), so a UI timer can take them without ever blocking; stderr, unless merged into stdout, keeps
only its last lines (``stderr_tail``) for error messages, and is drained so a chatty child never
stalls. Its own process group means Ctrl-C in the parent's terminal is not for it, and stopping it
also stops whatever it spawned.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from typing import IO, Any

STDERR_TAIL_LINES = 30


class ChildProcess:
    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None, *, keep_stdin: bool = False,
                 merge_stderr: bool = False, cwd: str | None = None):
        self.argv = list(argv)
        # Output must arrive line by line, not at exit.
        self._env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
        self._keep_stdin = keep_stdin  # a pipe the child may watch (closing it asks it to stop)
        self._merge_stderr = merge_stderr
        self._cwd = cwd
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._proc: subprocess.Popen[str] | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start it; OSError (with the reason) if the program cannot be run."""
        group: dict[str, Any]
        if sys.platform == "win32":
            group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        else:
            group = {"start_new_session": True}
        self._proc = subprocess.Popen(
            self.argv, stdin=subprocess.PIPE if self._keep_stdin else subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if self._merge_stderr else subprocess.PIPE, text=True, encoding="utf-8",
            errors="replace", bufsize=1, env=self._env, cwd=self._cwd, **group)
        assert self._proc.stdout is not None
        self._threads = [threading.Thread(target=self._read_stdout, args=(self._proc.stdout,), daemon=True)]
        if self._proc.stderr is not None:
            self._threads.append(threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True))
        for t in self._threads:
            t.start()

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\r\n"))
        stream.close()
        self.lines.put(None)

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self.stderr_tail.append(line.rstrip("\r\n"))
        stream.close()

    def iter_lines(self) -> Iterator[str]:
        """Stdout lines as they come, until the output ends (blocks: for a background thread)."""
        while (line := self.lines.get()) is not None:
            yield line

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status, or None if it still runs after ``timeout``; the output threads are joined."""
        if self._proc is None:
            return None
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(timeout)
        return code

    def stop(self, grace: float = 5.0) -> None:
        """Ask it to stop (its stdin closed, when kept; else SIGTERM to its group), give it ``grace``
        seconds, then terminate the group, and finally kill it. Idempotent."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        if self._keep_stdin and proc.stdin is not None:
            try:
                proc.stdin.close()
            except OSError:
                pass
            if self.wait(grace) is not None:
                return
        self._signal_group(terminate=True)
        if self.wait(grace) is None:
            self._signal_group(terminate=False)
            self.wait()

    def _signal_group(self, terminate: bool) -> None:
        assert self._proc is not None
        try:
            if sys.platform != "win32":
                os.killpg(self._proc.pid, signal.SIGTERM if terminate else signal.SIGKILL)
            elif terminate:
                self._proc.terminate()
            else:
                self._proc.kill()
        except (ProcessLookupError, PermissionError):
            pass  # already gone

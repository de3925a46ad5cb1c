"""Drive the reconstruction backend as a child process without ever blocking the caller.

The backend prints one JSON object per line on stdout (the events of `diffpaint_shared.progress`):
``{"event": "progress", ...}`` while it works, then ``{"event": "done", "strokes": PATH}`` or
``{"event": "error", "message": ...}``, and exits non-zero on error. Reader threads move its stdout
into a queue (and keep the last lines of stderr for error messages), so ``poll()`` is safe to call
from a UI timer. Standard library only; the Blender operator that uses this stays thin and this
class is testable without Blender.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO, Any

from diffpaint_shared.progress import Event

STDERR_TAIL_LINES = 20
_EOF = object()


class BackendJob:
    """One backend run. ``poll()`` returns the events that arrived since the last call; the last
    event of every run is exactly one terminal event, ``done`` or ``error``:

    - ``done`` only if the backend reported it *and* exited with status 0;
    - otherwise ``error``, carrying the backend's own message when it sent one, else its exit
      status and the tail of its stderr.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None):
        self.argv = list(argv)
        self._env = dict(os.environ if env is None else env)
        self._env["PYTHONUNBUFFERED"] = "1"  # progress must arrive line by line, not at exit
        self._cwd = cwd
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[object] = queue.Queue()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self._stdout_closed = False
        self._terminal: Event | None = None  # the backend's done/error, held back until it exits
        self.finished = False
        self.cancelled = False

    def start(self) -> None:
        # Its own process group, so cancel() also stops any workers it spawned.
        group: dict[str, Any]
        if sys.platform == "win32":
            group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        else:
            group = {"start_new_session": True}
        try:
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", errors="replace", bufsize=1, env=self._env, cwd=self._cwd,
                **group,
            )
        except OSError as e:
            raise OSError(f"cannot start the backend {self.argv[0]!r}: {e.strerror or e}") from e
        assert self._proc.stdout is not None and self._proc.stderr is not None
        self._threads = [
            threading.Thread(target=self._read_stdout, args=(self._proc.stdout,), daemon=True),
            threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\r\n"))
        stream.close()
        self._lines.put(_EOF)

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line.rstrip("\r\n"))
        stream.close()

    def poll(self) -> list[Event]:
        """Events that arrived since the last call; never blocks."""
        if self._proc is None or self.finished:
            return []
        events: list[Event] = []
        while not self._stdout_closed:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                return events
            if line is _EOF:
                self._stdout_closed = True
                break
            event = _parse(str(line))
            if event is None:
                continue
            if event["event"] in ("done", "error"):
                self._terminal = event
            else:
                events.append(event)
        # Its stdout is closed; the exit status follows at once, but don't wait for it here.
        code = self._proc.poll()
        if code is not None:
            events.append(self._finish(code))
        return events

    def _finish(self, code: int) -> Event:
        for t in self._threads:
            t.join(1.0)
        self.finished = True
        backend = self._terminal or {}
        if code == 0 and backend.get("event") == "done" and isinstance(backend.get("strokes"), str):
            return backend
        if backend.get("event") == "error" and backend.get("message"):
            return {"event": "error", "message": str(backend["message"])}
        tail = "\n".join(self._stderr).strip()
        message = (f"the backend exited with status {code}" if code != 0
                   else "the backend exited without producing a stroke file")
        return {"event": "error", "message": f"{message}: {tail}" if tail else message}

    def cancel(self, timeout: float = 5.0) -> None:
        """Stop the backend (and its children) and wait for it; idempotent."""
        if self._proc is None or self.finished:
            return
        self.cancelled = True
        _signal_group(self._proc, terminate=True)
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(self._proc, terminate=False)
            self._proc.wait()
        for t in self._threads:
            t.join(timeout)
        self.finished = True

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()


def _signal_group(proc: subprocess.Popen[str], terminate: bool) -> None:
    try:
        if sys.platform != "win32":
            os.killpg(proc.pid, signal.SIGTERM if terminate else signal.SIGKILL)
        elif terminate:
            proc.terminate()
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        pass  # already gone


def _parse(line: str) -> Event | None:
    """A protocol event, or None for anything else (e.g. a stray print from a library)."""
    if not line.startswith("{"):
        return None
    try:
        obj = json.loads(line)
    except json.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("event"), str):
        return None
    return obj

"""The per-job worker process, driven without ever blocking the server: ``WorkerProcess``.

The worker (``python -m diffpaint.server.worker JOB_DIR``) prints one JSON object per line on
stdout: ``{"event": "progress", ...}`` while it works, then ``{"event": "done", "strokes": PATH}`` or
``{"event": "error", "message": ...}``, and exits non-zero on error. Reader threads move its stdout
into a queue (and keep the last lines of stderr for error messages), so ``poll()`` never blocks for
longer than asked. It runs in its own process group, so a cancel also stops anything it spawned.
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

Event = dict[str, Any]
STDERR_TAIL_LINES = 20
_EOF = object()


class WorkerProcess:
    """One worker run. ``poll()`` returns the events that arrived since the last call; the last
    event of every run is exactly one terminal event, ``done`` or ``error``:

    - ``done`` only if the worker reported it *and* exited with status 0;
    - otherwise ``error``, carrying the worker's own message when it sent one, else its exit
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
        self._terminal: Event | None = None  # the worker's done/error, held back until it exits
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
            raise OSError(f"cannot start the worker {self.argv[0]!r}: {e.strerror or e}") from e
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

    def poll(self, timeout: float = 0.0) -> list[Event]:
        """Events that arrived since the last call. With a timeout, waits up to that long for the
        first line when none is there yet (so a caller's loop wakes on output, not on a timer)."""
        if self._proc is None or self.finished:
            return []
        events: list[Event] = []
        wait = timeout
        while not self._stdout_closed:
            try:
                line = self._lines.get(timeout=wait) if wait > 0 else self._lines.get_nowait()
            except queue.Empty:
                return events
            wait = 0.0
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
        reported = self._terminal or {}
        if code == 0 and reported.get("event") == "done" and isinstance(reported.get("strokes"), str):
            return reported
        if reported.get("event") == "error" and reported.get("message"):
            return {"event": "error", "message": str(reported["message"])}
        tail = "\n".join(self._stderr).strip()
        message = (f"the worker exited with status {code}" if code != 0
                   else "the worker exited without producing a stroke file")
        return {"event": "error", "message": f"{message}: {tail}" if tail else message}

    def cancel(self, timeout: float = 5.0) -> None:
        """Stop the worker (and its children) and wait for it; idempotent."""
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

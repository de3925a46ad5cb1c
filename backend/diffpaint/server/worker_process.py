"""The per-job worker process, driven without ever blocking the server: ``WorkerProcess``.

The worker (``python -m diffpaint.server.worker JOB_DIR``) prints one JSON object per line on
stdout (the events of ``diffpaint_shared.progress``): ``{"event": "progress", ...}`` while it works,
then ``{"event": "done", "strokes": PATH}`` or ``{"event": "error", "message": ...}``, and exits
non-zero on error. ``diffpaint_shared.childprocess`` runs it in its own process group (a cancel also
stops anything it spawned) and reads its output on threads, so ``poll()`` never blocks for longer
than asked.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Mapping, Sequence

from diffpaint_shared.childprocess import ChildProcess
from diffpaint_shared.progress import Event


class WorkerProcess:
    """One worker run. ``poll()`` returns the events that arrived since the last call; the last
    event of every run is exactly one terminal event, ``done`` or ``error``:

    - ``done`` only if the worker reported it *and* exited with status 0;
    - otherwise ``error``, carrying the worker's own message when it sent one, else its exit
      status and the tail of its stderr.
    """

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: str | None = None):
        self.argv = list(argv)
        self._child = ChildProcess(argv, env, cwd=cwd)
        self._started = False
        self._stdout_closed = False
        self._terminal: Event | None = None  # the worker's done/error, held back until it exits
        self.finished = False
        self.cancelled = False

    def start(self) -> None:
        try:
            self._child.start()
        except OSError as e:
            raise OSError(f"cannot start the worker {self.argv[0]!r}: {e.strerror or e}") from e
        self._started = True

    def poll(self, timeout: float = 0.0) -> list[Event]:
        """Events that arrived since the last call. With a timeout, waits up to that long for the
        first line when none is there yet (so a caller's loop wakes on output, not on a timer)."""
        if not self._started or self.finished:
            return []
        events: list[Event] = []
        wait = timeout
        while not self._stdout_closed:
            try:
                line = self._child.lines.get(timeout=wait) if wait > 0 else self._child.lines.get_nowait()
            except queue.Empty:
                return events
            wait = 0.0
            if line is None:
                self._stdout_closed = True
                break
            event = _parse(line)
            if event is None:
                continue
            if event["event"] in ("done", "error"):
                self._terminal = event
            else:
                events.append(event)
        # Its stdout is closed; the exit status follows at once, but don't wait for it here.
        code = self._child.returncode
        if code is not None:
            events.append(self._finish(code))
        return events

    def _finish(self, code: int) -> Event:
        self._child.wait(1.0)  # joins the output threads, so the stderr tail is complete
        self.finished = True
        reported = self._terminal or {}
        if code == 0 and reported.get("event") == "done" and isinstance(reported.get("strokes"), str):
            return reported
        if reported.get("event") == "error" and reported.get("message"):
            return {"event": "error", "message": str(reported["message"])}
        tail = "\n".join(self._child.stderr_tail).strip()
        message = (f"the worker exited with status {code}" if code != 0
                   else "the worker exited without producing a stroke file")
        return {"event": "error", "message": f"{message}: {tail}" if tail else message}

    def cancel(self, timeout: float = 5.0) -> None:
        """Stop the worker (and its children) and wait for it; idempotent."""
        if not self._started or self.finished:
            return
        self.cancelled = True
        self._child.stop(grace=timeout)
        self.finished = True

    @property
    def returncode(self) -> int | None:
        return self._child.returncode


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

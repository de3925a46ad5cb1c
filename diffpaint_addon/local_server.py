"""The add-on's own backend: a ``diffpaint serve`` process on 127.0.0.1, started on demand with the
chosen Python, with a token generated for this launch, and stopped when Blender quits.

Standard library only. The server runs with ``--stop-on-stdin-eof`` and this side holds its stdin
open: if Blender exits without running its exit handlers (a crash), the pipe closes and the server
goes too. ``--port 0`` lets the system pick a free port; the server prints the URL it listens on.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import secrets
import threading
import time
from collections.abc import Mapping

from diffpaint_shared.childprocess import ChildProcess

from .client import BackendError, Client

START_TIMEOUT = 90.0  # importing torch on a cold disk can take a while


def serve_argv(python: str) -> list[str]:
    return [python, "-m", "diffpaint", "serve", "--host", "127.0.0.1", "--port", "0", "--stop-on-stdin-eof"]


class LocalServer:
    def __init__(self, python: str, env: Mapping[str, str] | None = None):
        self.python = python
        self.token = secrets.token_urlsafe(32)
        self.url: str | None = None
        self._process = ChildProcess(serve_argv(python), {**(os.environ if env is None else env),
                                                          "DIFFPAINT_TOKEN": self.token}, keep_stdin=True)
        self._wait_lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        try:
            self._process.start()
        except OSError as e:
            raise BackendError(f"cannot start the backend Python {self.python!r}: {e.strerror or e}") from None

    @property
    def alive(self) -> bool:
        return self._process.alive

    @property
    def ready(self) -> bool:
        return self.url is not None and self.alive

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """The server's URL once it listens; BackendError with its own words if it cannot start."""
        if self._process.pid is None:
            raise BackendError("the local backend was never started")
        deadline = time.monotonic() + timeout
        with self._wait_lock:  # one reader of its stdout at a time
            while self.url is None:
                try:
                    line = self._process.lines.get(timeout=max(deadline - time.monotonic(), 0.0))
                except queue.Empty:
                    break
                if line is None:  # its output ended: it has gone
                    self._process.lines.put(None)  # for any later waiter
                    break
                self.url = _listening_url(line)
        if self.url is not None and self.alive:
            return self.url
        if self.alive:
            raise BackendError(f"the local backend did not start within {timeout:.0f} s")
        code = self._process.wait()
        tail = "\n".join(self._process.stderr_tail).strip()
        hint = ""
        if "No module named" in tail:
            hint = " (press 'Set Up Backend' in the DiffPaint preferences, or install the backend into that Python)"
        message = f"the local backend ({self.python}) exited with status {code}{hint}"
        raise BackendError(f"{message}: {tail.splitlines()[-1]}" if tail else message)

    def client(self, timeout: float = START_TIMEOUT) -> Client:
        return Client(self.wait_ready(timeout), self.token)

    def stop(self, timeout: float = 5.0) -> None:
        """Close its stdin (it shuts down, stopping its jobs), then terminate it if it lingers."""
        self._process.stop(timeout)


def _listening_url(line: str) -> str | None:
    """The URL of the server's 'listening' event line, else None."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if isinstance(event, dict) and event.get("event") == "listening":
        return str(event["url"])
    return None


_server: LocalServer | None = None
_lock = threading.Lock()


def ensure_local_server(python: str) -> LocalServer:
    """The running local server for ``python``, started if there is none (returns at once; use
    ``wait_ready``/``client`` from a background thread)."""
    global _server
    with _lock:
        if _server is not None and (_server.python != python or not _server.alive):
            _server.stop()  # another interpreter was chosen, or it died: start afresh
            _server = None
        if _server is None:
            server = LocalServer(python)
            server.start()
            _server = server
        return _server


def current_local_server() -> LocalServer | None:
    return _server


def stop_local_server() -> None:
    global _server
    with _lock:
        if _server is not None:
            _server.stop()
            _server = None


atexit.register(stop_local_server)

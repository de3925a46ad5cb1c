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
import secrets
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping
from typing import IO, Any

from .client import BackendError, Client

START_TIMEOUT = 90.0  # importing torch on a cold disk can take a while
STDERR_TAIL_LINES = 30


def serve_argv(python: str) -> list[str]:
    return [python, "-m", "diffpaint", "serve", "--host", "127.0.0.1", "--port", "0", "--stop-on-stdin-eof"]


class LocalServer:
    def __init__(self, python: str, env: Mapping[str, str] | None = None):
        self.python = python
        self.token = secrets.token_urlsafe(32)
        self.argv = serve_argv(python)
        self._env = {**(os.environ if env is None else env), "DIFFPAINT_TOKEN": self.token, "PYTHONUNBUFFERED": "1"}
        self.url: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._ready = threading.Event()
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    def start(self) -> None:
        group: dict[str, Any]  # its own process group: Ctrl-C in Blender's terminal is not for it
        if sys.platform == "win32":
            group = {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
        else:
            group = {"start_new_session": True}
        try:
            self._proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
                                          env=self._env, **group)
        except OSError as e:
            raise BackendError(f"cannot start the backend Python {self.python!r}: {e.strerror or e}") from None
        assert self._proc.stdout is not None and self._proc.stderr is not None
        threading.Thread(target=self._read_stdout, args=(self._proc.stdout,), daemon=True).start()
        threading.Thread(target=self._read_stderr, args=(self._proc.stderr,), daemon=True).start()

    def _read_stdout(self, stream: IO[str]) -> None:
        for line in stream:
            if line.startswith("{") and self.url is None:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict) and event.get("event") == "listening":
                    self.url = str(event["url"])
                    self._ready.set()
        self._ready.set()  # the server has gone: wake anyone waiting

    def _read_stderr(self, stream: IO[str]) -> None:
        for line in stream:
            self._stderr.append(line.rstrip("\r\n"))

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def ready(self) -> bool:
        return self.url is not None and self.alive

    def wait_ready(self, timeout: float = START_TIMEOUT) -> str:
        """The server's URL once it listens; BackendError with its own words if it cannot start."""
        if self._proc is None:
            raise BackendError("the local backend was never started")
        self._ready.wait(timeout)
        if self.url is not None and self.alive:
            return self.url
        if self.alive:
            raise BackendError(f"the local backend did not start within {timeout:.0f} s")
        self._proc.wait()
        tail = "\n".join(self._stderr).strip()
        hint = ""
        if "No module named" in tail:
            hint = " (press 'Set Up Backend' in the DiffPaint preferences, or install the backend into that Python)"
        message = f"the local backend ({self.python}) exited with status {self._proc.returncode}{hint}"
        raise BackendError(f"{message}: {tail.splitlines()[-1]}" if tail else message)

    def client(self, timeout: float = START_TIMEOUT) -> Client:
        return Client(self.wait_ready(timeout), self.token)

    def stop(self, timeout: float = 5.0) -> None:
        """Close its stdin (it shuts down, stopping its jobs), then terminate if it lingers."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        try:
            assert proc.stdin is not None
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


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

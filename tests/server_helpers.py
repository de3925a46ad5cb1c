"""A real `diffpaint serve` on 127.0.0.1 in a child process, for the server and add-on tests.

With ``fake_worker=True`` each job runs tests/fake_worker.py instead of the optimizer: the same
protocol and files, in a fraction of a second, with behavior chosen by the upload's file name.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from blender_helpers import ROOT

from diffpaint_addon.client import Client

FAKE_WORKER = ROOT / "tests" / "fake_worker.py"
TOKEN = "test-token-0123456789"


@dataclass
class Server:
    url: str
    token: str
    proc: subprocess.Popen[str]

    def client(self, token: str | None = None) -> Client:
        return Client(self.url, self.token if token is None else token, timeout=30)


@contextmanager
def running_server(*args: str, fake_worker: bool = True, token: str = TOKEN,
                   env: dict[str, str] | None = None) -> Iterator[Server]:
    """A server, stopped (SIGTERM) on leaving; ``env`` adds to or overrides its environment."""
    env = {**os.environ, "DIFFPAINT_TOKEN": token, "PYTHONUNBUFFERED": "1", **(env or {})}
    if fake_worker:
        env["DIFFPAINT_WORKER"] = shlex.join([sys.executable, str(FAKE_WORKER)])
    else:
        env.pop("DIFFPAINT_WORKER", None)
    proc = subprocess.Popen([sys.executable, "-m", "diffpaint", "serve", "--port", "0", *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")
        yield Server(json.loads(line)["url"], token, proc)
    finally:
        if proc.stdin is not None and not proc.stdin.closed:
            proc.stdin.close()
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(predicate: Callable[[], Any], timeout: float = 30, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s")
        time.sleep(interval)


def png_bytes(width: int = 40, height: int = 30, color: tuple[int, int, int] = (200, 60, 40)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    im = Image.new("RGB", (width, height), color)
    im.paste((30, 90, 200), (width // 3, height // 3, width - width // 4, height - height // 4))  # something to fit
    im.save(buf, "PNG")
    return buf.getvalue()


def write_png(path: Path, width: int = 40, height: int = 30) -> Path:
    path.write_bytes(png_bytes(width, height))
    return path

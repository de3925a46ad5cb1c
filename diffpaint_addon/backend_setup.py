"""'Set Up Backend': a private virtual environment with the backend installed, built in the
background with its progress visible. Standard library only (testable without Blender).

Steps: create the venv with a base Python (Blender's own by default: the backend needs the same
3.11 that Blender 4.x/5.0 ship), upgrade pip, pip-install the backend from its source folder (a
DiffPaint checkout or source tree: the folder with its pyproject.toml, which pulls in PyTorch and
the server's requirements from PyPI), then check that ``python -m diffpaint --version`` runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Sequence
from pathlib import Path

SOURCE_ENV = "DIFFPAINT_BACKEND_SOURCE"
VENV_NAME = "backend-venv"


def venv_python(venv: str | os.PathLike[str]) -> str:
    venv = Path(venv)
    return str(venv / "Scripts" / "python.exe") if sys.platform == "win32" else str(venv / "bin" / "python")


def is_backend_source(path: str | os.PathLike[str]) -> bool:
    p = Path(path)
    return (p / "pyproject.toml").is_file() and (p / "backend" / "diffpaint" / "__init__.py").is_file()


def find_backend_source(preferred: str = "") -> str | None:
    """The chosen folder, else $DIFFPAINT_BACKEND_SOURCE, else the checkout this add-on runs from."""
    here = Path(__file__).resolve().parent
    for candidate in (preferred, os.environ.get(SOURCE_ENV, ""), str(here / "backend_src"), str(here.parent)):
        if candidate and is_backend_source(candidate):
            return str(Path(candidate).resolve())
    return None


def setup_commands(base_python: str, venv: str, source: str) -> list[tuple[str, list[str]]]:
    """(what the user sees, argv) for each step."""
    py = venv_python(venv)
    return [
        ("Creating the virtual environment", [base_python, "-m", "venv", venv]),
        ("Updating pip", [py, "-m", "pip", "install", "--upgrade", "pip"]),
        ("Installing the backend and PyTorch (this can take several minutes)",
         [py, "-m", "pip", "install", "--progress-bar", "off", source]),
        ("Checking the backend", [py, "-m", "diffpaint", "--version"]),
    ]


class SetupJob:
    """Runs the steps one after another in a thread; ``status`` and ``state`` are safe to read from a
    UI timer. state: 'running', 'done' or 'failed' (``error`` says why)."""

    def __init__(self, steps: Sequence[tuple[str, list[str]]], python: str):
        self.steps = list(steps)
        self.python = python  # the interpreter the preferences should point at when done
        self.state = "running"
        self.step = 0
        self.status = "Starting…"
        self.error = ""
        self.output: deque[str] = deque(maxlen=40)
        self._proc: subprocess.Popen[str] | None = None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="diffpaint-setup", daemon=True)

    @property
    def fraction(self) -> float:
        return 1.0 if self.state == "done" else self.step / max(len(self.steps), 1)

    def start(self) -> None:
        self._thread.start()

    def wait(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def cancel(self) -> None:
        self._cancelled = True
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def _run(self) -> None:
        for i, (label, argv) in enumerate(self.steps):
            self.step = i
            self.status = f"{i + 1}/{len(self.steps)} {label}…"
            if self._cancelled:
                self._fail("cancelled")
                return
            try:
                self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, text=True, encoding="utf-8",
                                              errors="replace", env={**os.environ, "PYTHONUNBUFFERED": "1"})
            except OSError as e:
                self._fail(f"{label}: cannot run {argv[0]!r}: {e.strerror or e}")
                return
            assert self._proc.stdout is not None
            for line in self._proc.stdout:
                line = line.rstrip()
                if line:
                    self.output.append(line)
                    self.status = f"{i + 1}/{len(self.steps)} {label}: {line[:80]}"
            code = self._proc.wait()
            if code != 0:
                last = self.output[-1] if self.output else ""
                self._fail(f"{label} failed (exit status {code}){': ' + last if last else ''}")
                return
        self.step = len(self.steps)
        self.state = "done"
        self.status = f"Backend ready: {self.output[-1] if self.output else self.python}"

    def _fail(self, message: str) -> None:
        self.state, self.error, self.status = "failed", message, message

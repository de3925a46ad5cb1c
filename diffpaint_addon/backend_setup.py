"""'Set Up Backend': a private virtual environment with the backend installed, built in the
background with its progress visible. Standard library only (testable without Blender).

Steps: create the venv with a base Python (Blender's own by default: the backend needs the same
3.11 that Blender 4.x/5.0 ship), upgrade pip, copy the backend's source folder (a DiffPaint checkout
or the extension's bundled source: the folder with its pyproject.toml) to a temporary folder and
pip-install it from there (pulling in PyTorch and the server's requirements from PyPI), then check
that ``python -m diffpaint --version`` runs. The copy is why the installed extension stays as it was
installed: pip builds in the source tree (``build/``, ``*.egg-info``).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

from diffpaint_shared.childprocess import ChildProcess

SOURCE_ENV = "DIFFPAINT_BACKEND_SOURCE"
VENV_NAME = "backend-venv"
# Build outputs of an earlier in-tree build, never worth copying.
COPY_IGNORE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", ".git", ".venv")

Step = tuple[str, "list[str] | Callable[[], None]"]  # (what the user sees, argv to run or work to do here)


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


def copy_source(source: str, build_dir: str) -> None:
    """A fresh copy of ``source`` at ``build_dir``, for pip to build in."""
    shutil.rmtree(build_dir, ignore_errors=True)
    shutil.copytree(source, build_dir, ignore=COPY_IGNORE)


def setup_commands(base_python: str, venv: str, source: str, build_dir: str) -> list[Step]:
    """The steps, in order; ``build_dir`` is where the source is copied to be built (the job removes it)."""
    py = venv_python(venv)
    return [
        ("Creating the virtual environment", [base_python, "-m", "venv", venv]),
        ("Updating pip", [py, "-m", "pip", "install", "--upgrade", "pip"]),
        ("Copying the backend source", partial(copy_source, source, build_dir)),
        ("Installing the backend and PyTorch (this can take several minutes)",
         [py, "-m", "pip", "install", "--progress-bar", "off", build_dir]),
        ("Checking the backend", [py, "-m", "diffpaint", "--version"]),
    ]


def new_build_dir() -> str:
    return os.path.join(tempfile.mkdtemp(prefix="diffpaint-setup-"), "backend_src")


class SetupJob:
    """Runs the steps one after another in a thread; ``status`` and ``state`` are safe to read from a
    UI timer. state: 'running', 'done' or 'failed' (``error`` says why). ``scratch`` (a folder the
    steps build in) is removed when the job ends, however it ends."""

    def __init__(self, steps: Sequence[Step], python: str, scratch: str | None = None):
        self.steps = list(steps)
        self.python = python  # the interpreter the preferences should point at when done
        self.scratch = scratch
        self.state = "running"
        self.step = 0
        self.status = "Starting…"
        self.error = ""
        self.output: deque[str] = deque(maxlen=40)
        self._process: ChildProcess | None = None
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
        if self._process is not None:
            self._process.stop(grace=2.0)

    def _run(self) -> None:
        try:
            self._run_steps()
        finally:
            if self.scratch:
                shutil.rmtree(self.scratch, ignore_errors=True)

    def _run_steps(self) -> None:
        for i, (label, work) in enumerate(self.steps):
            self.step = i
            self.status = f"{i + 1}/{len(self.steps)} {label}…"
            if self._cancelled:
                self._fail("cancelled")
                return
            if callable(work):
                try:
                    work()
                except OSError as e:
                    self._fail(f"{label} failed: {e.strerror or e}")
                    return
                continue
            self._process = ChildProcess(work, merge_stderr=True)
            try:
                self._process.start()
            except OSError as e:
                self._fail(f"{label}: cannot run {work[0]!r}: {e.strerror or e}")
                return
            for line in self._process.iter_lines():
                line = line.rstrip()
                if line:
                    self.output.append(line)
                    self.status = f"{i + 1}/{len(self.steps)} {label}: {line[:80]}"
            code = self._process.wait()
            if code != 0:
                last = self.output[-1] if self.output else ""
                self._fail(f"{label} failed (exit status {code}){': ' + last if last else ''}")
                return
        self.step = len(self.steps)
        self.state = "done"
        self.status = f"Backend ready: {self.output[-1] if self.output else self.python}"

    def _fail(self, message: str) -> None:
        self.state, self.error, self.status = "failed", message, message

"""Helpers for the add-on tests: real bpy, always in a child process.

bpy is never imported into the pytest process: it would share the process with torch, and a
render without working GL aborts the whole process instead of raising.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from diffpaint_shared.strokefile import Canvas, Stroke, StrokeFile, save

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "@@RESULT@@ "


def run_python(args: list[str], env: dict[str, str] | None = None, timeout: float = 120,
               cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd, env={**os.environ, **(env or {})})


def bpy_eval(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run ``code`` in a fresh Python with bpy and the repo importable; it assigns ``result``
    (anything JSON can carry), which is returned. A failure raises with the child's stderr.
    An add-on the code registered is unregistered at the end, as quitting Blender does: bpy 4.5
    as a module hangs at exit while add-on property groups are still registered."""
    script = "\n".join([
        "import json, sys",
        f"sys.path.insert(0, {str(ROOT)!r})",
        textwrap.dedent(code),
        f"print({RESULT_MARK!r} + json.dumps(result), flush=True)",
        "for _cls in sys.modules['bpy'].types.PropertyGroup.__subclasses__() if 'bpy' in sys.modules else ():",
        "    if _cls.__name__ == 'DiffPaintSettings' and _cls.is_registered:  # as diffpaint_addon or an extension",
        "        sys.modules[_cls.__module__.rpartition('.')[0]].unregister()",
    ])
    proc = run_python(["-c", script], env=env, timeout=timeout)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_MARK)]
    if proc.returncode != 0 or not lines:
        raise AssertionError(f"bpy child failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len(RESULT_MARK):])


def srgb_to_linear(c: float) -> float:
    """Written out independently of the add-on's numpy version, to check it."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def small_painting() -> StrokeFile:
    """64x48 canvas: two levels, three paint strokes of distinct colors and a final smudge with three
    stamps, in a deliberately shuffled file order so tests see that layers and timing follow
    `order`, not list position."""
    return StrokeFile(
        canvas=Canvas(64, 48, (0.2, 0.4, 0.8)),
        strokes=(
            Stroke(points=((32, 6), (32, 24), (32, 42)), radius=(3, 3), color=((0.9, 0.8, 0.1),) * 2,
                   level=2, order=7),
            Stroke(points=((6, 12), (32, 12), (58, 12)), radius=(5, 2), color=((1.0, 0.0, 0.0), (0.0, 0.0, 1.0)),
                   level=1, order=0),
            Stroke(points=((8, 36), (32, 28), (56, 36)), radius=(4, 4), color=((0.0, 1.0, 0.0),) * 2,
                   opacity=0.5, level=1, order=3),
            Stroke(points=((10, 20), (20, 20), (30, 20)), radius=(2, 2), color=((0.5, 0.5, 0.5), (0.0, 0.0, 0.0)),
                   kind="smudge", level=2, order=9, deposit_color=((0.5, 0.5, 0.5), (0.3, 0.2, 0.1), (0.0, 0.0, 0.0)),
                   deposit_strength=(0.0, 0.4, 0.8)),
        ),
    )


def write_small_painting(path: Path) -> Path:
    save(small_painting(), path)
    return path


# The prologue of a script driving DIFFPAINT_OT_reconstruct in a child Blender: a fresh scene with the add-on
# registered, `Driver` (the operator's own methods on a stand-in instance, reports collected) and `Event`.
OPERATOR_DRIVER = """
import os, time
import bpy
import diffpaint_addon
from diffpaint_addon.reconstruct_op import DIFFPAINT_OT_reconstruct as Op, PREVIEW_IMAGE

bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()

class Driver:  # the operator's own methods and defaults, on a stand-in for the operator instance
    editor_image = False
    def __init__(self):
        self.reports = []
    def report(self, kinds, message):
        self.reports.append([sorted(kinds)[0], message])

for _klass in reversed(Op.__mro__):  # the add-on's own classes: the operator and its timer base
    if _klass.__module__.startswith("diffpaint_addon"):
        for _name, _value in vars(_klass).items():
            if not _name.startswith("__") and _name not in ("bl_rna", "editor_image"):
                setattr(Driver, _name, _value)

class Event:
    value = "PRESS"
    def __init__(self, type):
        self.type = type
"""

"""The Reconstruct operator's glue, driven step by step: headless Blender has no event loop to run a
modal operator, so the test calls its start_job/modal methods itself with TIMER events, against a
stand-in backend interpreter that speaks the JSON-lines protocol."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest
from blender_helpers import bpy_eval, write_small_painting

DRIVE = """
import os, time
import bpy
import diffpaint_addon
from diffpaint_addon.operators import DIFFPAINT_OT_reconstruct as Op

bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()

class Driver:  # the operator's own methods, on a stand-in for the operator instance
    _job, _timer, _out_dir = None, None, ""
    start_job, modal, cancel = Op.start_job, Op.modal, Op.cancel
    _stop, _show_progress, _import_result = Op._stop, Op._show_progress, Op._import_result
    def __init__(self):
        self.reports = []
    def report(self, kinds, message):
        self.reports.append([sorted(kinds)[0], message])

class Event:
    def __init__(self, type):
        self.type = type

wm = bpy.context.window_manager
bpy.context.scene.diffpaint.image = bpy.data.images.new("target", 8, 8)
bpy.context.scene.diffpaint.strokes = 7
bpy.context.scene.diffpaint.frames = 12
objects_before = len(bpy.data.objects)
op = Driver()
started = op.start_job(bpy.context)
statuses, ret = [], {"PASS_THROUGH"}
deadline = time.time() + 60
while started and ret == {"PASS_THROUGH"} and time.time() < deadline:
    if CANCEL_AFTER_PROGRESS and statuses:
        wm.diffpaint.cancel_requested = True
    ret = op.modal(bpy.context, Event("TIMER"))
    if wm.diffpaint.status and wm.diffpaint.status not in statuses:
        statuses.append(wm.diffpaint.status)
    time.sleep(0.02)
obj = bpy.context.view_layer.objects.active
result = {
    "started": started, "ret": sorted(ret), "reports": op.reports, "statuses": statuses,
    "running": wm.diffpaint.running, "out_dir_exists": os.path.isdir(op._out_dir),
    "new_objects": len(bpy.data.objects) - objects_before,
    "active": [obj.name, obj.type] if obj else None,
    "frame_end": bpy.context.scene.frame_end,
    "argv": op._job.argv if op._job else None,
    "backend_exit": op._job.returncode if op._job else None,
}
"""


def fake_interpreter(tmp_path: Path, body: str) -> Path:
    """An executable standing in for the backend's Python: it gets the operator's full argv
    (`-m diffpaint reconstruct IMAGE --out DIR --strokes N --progress-json`)."""
    exe = tmp_path / "fake-python"
    exe.write_text(f"#!{sys.executable}\n" + textwrap.dedent("""
        import json, os, sys, time
        args = sys.argv[1:]
        out = args[args.index("--out") + 1]
        def emit(**e):
            print(json.dumps(e), flush=True)
    """) + textwrap.dedent(body))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def drive(tmp_path: Path, body: str, cancel_after_progress: bool = False) -> dict:
    exe = fake_interpreter(tmp_path, body)
    code = f"CANCEL_AFTER_PROGRESS = {cancel_after_progress}\n" + DRIVE
    return bpy_eval(code, env={"DIFFPAINT_PYTHON": str(exe)})


@pytest.mark.skipif(os.name != "posix", reason="the stand-in interpreter is a #! script")
def test_done_imports_the_strokes(tmp_path: Path) -> None:
    strokes = write_small_painting(tmp_path / "result.json")
    result = drive(tmp_path, f"""
        import shutil
        emit(event="progress", phase="paint", level=1, levels=2, iteration=5, iterations=10,
             fraction=0.25, loss=0.1, psnr=20.14)
        time.sleep(0.3)
        shutil.copy({str(strokes)!r}, os.path.join(out, "strokes.json"))
        emit(event="done", strokes=os.path.join(out, "strokes.json"))
    """)
    assert result["started"] and result["ret"] == ["FINISHED"]
    argv = result["argv"]
    assert argv[1:4] == ["-m", "diffpaint", "reconstruct"]
    assert argv[argv.index("--strokes") + 1] == "7" and "--progress-json" in argv
    assert os.path.isfile(argv[4])  # the generated image was handed over as a file
    assert "Level 1/2 · paint 5/10 · PSNR 20.1 dB" in result["statuses"]
    assert result["active"] == ["strokes", "GREASEPENCIL"]
    assert result["new_objects"] == 2  # the painting and its camera
    assert result["frame_end"] >= 1 + 12
    assert not result["running"]
    assert result["out_dir_exists"]  # the backend's output is kept for the user
    assert result["reports"][-1][0] == "INFO"


@pytest.mark.skipif(os.name != "posix", reason="the stand-in interpreter is a #! script")
def test_backend_error_is_reported_and_nothing_imported(tmp_path: Path) -> None:
    result = drive(tmp_path, """
        emit(event="error", message="out of memory")
        sys.exit(1)
    """)
    assert result["ret"] == ["CANCELLED"]
    assert result["reports"] == [["ERROR", "Reconstruction failed: out of memory"]]
    assert result["new_objects"] == 0 and not result["running"] and not result["out_dir_exists"]


@pytest.mark.skipif(os.name != "posix", reason="the stand-in interpreter is a #! script")
def test_cancel_kills_the_backend_and_imports_nothing(tmp_path: Path) -> None:
    result = drive(tmp_path, """
        emit(event="progress", fraction=0.1)
        time.sleep(60)
        emit(event="done", strokes="never")
    """, cancel_after_progress=True)
    assert result["ret"] == ["CANCELLED"]
    assert result["reports"] == [["WARNING", "Reconstruction cancelled"]]
    assert result["backend_exit"] is not None  # stopped, not left running
    assert result["new_objects"] == 0 and not result["running"] and not result["out_dir_exists"]


def test_progress_events_from_the_real_backend_format_nicely() -> None:
    from diffpaint_addon.backend_process import describe_progress, progress_fraction

    event = json.loads('{"event":"progress","phase":"paint","level":1,"levels":3,"iteration":10,'
                       '"iterations":150,"fraction":0.12,"loss":0.1,"psnr":20.1}')
    assert describe_progress(event) == "Level 1/3 · paint 10/150 · PSNR 20.1 dB"
    assert progress_fraction(event) == pytest.approx(0.12)
    assert describe_progress({"event": "progress"}) == ""
    assert progress_fraction({"event": "progress", "fraction": 3}) == 1.0

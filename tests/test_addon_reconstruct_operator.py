"""The Reconstruct operator against a real `diffpaint serve` on 127.0.0.1. Headless Blender has no
event loop to run a modal operator, so the test calls its start_job/modal/cancel methods itself
with TIMER events. Most tests use a remote-style server running the stand-in worker; the last one
lets the add-on launch its own local backend and fit a tiny image for real."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from blender_helpers import bpy_eval
from server_helpers import Server, running_server, write_png

DRIVE = """
import os, time
import bpy
import diffpaint_addon
from diffpaint_addon.operators import DIFFPAINT_OT_reconstruct as Op, PREVIEW_IMAGE

bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()

class Driver:  # the operator's own methods, on a stand-in for the operator instance
    _job, _timer, _out_dir, editor_image = None, None, "", False
    start_job, modal, cancel, _refuse = Op.start_job, Op.modal, Op.cancel, Op._refuse
    _stop, _show_progress, _import_result = Op._stop, Op._show_progress, Op._import_result
    def __init__(self):
        self.reports = []
    def report(self, kinds, message):
        self.reports.append([sorted(kinds)[0], message])

class Event:
    def __init__(self, type):
        self.type = type

wm = bpy.context.window_manager
settings = bpy.context.scene.diffpaint
settings.image = bpy.data.images.load(IMAGE)
settings.strokes, settings.levels, settings.quality, settings.frames = 6, LEVELS, QUALITY, 12
settings.size, settings.iterations, settings.rounds = 32, 3, 1  # CUSTOM: a toy fit
objects_before = len(bpy.data.objects)
op = Driver()
started = op.start_job(bpy.context)
statuses, ret, saw_preview = [], {"PASS_THROUGH"}, False
deadline = time.time() + 120
while started and ret == {"PASS_THROUGH"} and time.time() < deadline:
    if CANCEL_AFTER_LEVEL and op._job.job_id and op._job._connect().job(op._job.job_id)["levels_done"]:
        wm.diffpaint.cancel_requested = True
    ret = op.modal(bpy.context, Event("TIMER"))
    saw_preview = saw_preview or bpy.data.images.get(PREVIEW_IMAGE) is not None
    if wm.diffpaint.status and wm.diffpaint.status not in statuses:
        statuses.append(wm.diffpaint.status)
    time.sleep(0.05)
obj = bpy.context.view_layer.objects.active
result = {
    "started": started, "ret": sorted(ret), "reports": op.reports, "statuses": statuses,
    "running": wm.diffpaint.running, "state": wm.diffpaint.state, "message": wm.diffpaint.message,
    "out_dir_exists": os.path.isdir(op._out_dir),
    "new_objects": len(bpy.data.objects) - objects_before,
    "active": [obj.name, obj.type, [l.name for l in obj.data.layers]] if obj else None,
    "frame_end": bpy.context.scene.frame_end,
    "saw_preview": saw_preview, "preview_left": bpy.data.images.get(PREVIEW_IMAGE) is not None,
    "partial": [wm.diffpaint.partial_path, wm.diffpaint.partial_label],
}
if wm.diffpaint.partial_path:
    result["import_last_level"] = sorted(bpy.ops.diffpaint.import_last_level())
    result["after_import"] = [len(bpy.data.objects) - objects_before, bpy.context.view_layer.objects.active.name]
"""


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server() as s:
        yield s


def drive(server: Server | None, image: Path, cancel_after_level: bool = False, token: str | None = None,
          env: dict[str, str] | None = None) -> dict:
    code = f"IMAGE = {str(image)!r}\nCANCEL_AFTER_LEVEL = {cancel_after_level}\nLEVELS = 2\nQUALITY = 'DRAFT'\n" + DRIVE
    if server is not None:
        env = {"DIFFPAINT_SERVER_URL": server.url, "DIFFPAINT_TOKEN": token or server.token, **(env or {})}
    return bpy_eval(code, env=env, timeout=240)


def test_done_imports_the_strokes(server: Server, tmp_path: Path) -> None:
    result = drive(server, write_png(tmp_path / "painting.png"))
    assert result["started"] and result["ret"] == ["FINISHED"], result
    assert result["statuses"][0].startswith("Connecting to the server http://127.0.0.1:")
    assert any(s.startswith("Level ") and "/2 · paint" in s and " dB" in s for s in result["statuses"]), result
    assert result["saw_preview"] and result["preview_left"]  # the final render stays as the preview
    assert result["active"][:2] == ["strokes", "GREASEPENCIL"]
    assert result["active"][2] == ["Canvas", "Level 1", "Level 2"]
    assert result["new_objects"] == 2  # the painting and its camera
    assert result["frame_end"] >= 1 + 12
    assert not result["running"] and result["state"] == "DONE"
    assert result["out_dir_exists"]  # the backend's output is kept for the user
    assert result["reports"][-1][0] == "INFO"


def test_backend_error_is_reported_and_nothing_imported(server: Server, tmp_path: Path) -> None:
    result = drive(server, write_png(tmp_path / "fail.png"))
    assert result["ret"] == ["CANCELLED"]
    assert result["reports"] == [["ERROR", "Reconstruction failed: the fake worker was told to fail"]]
    assert result["state"] == "FAILED" and result["message"] == result["reports"][0][1]
    assert result["new_objects"] == 0 and not result["running"] and not result["out_dir_exists"]
    assert not result["preview_left"]


def test_cancel_imports_nothing_and_offers_the_last_completed_level(server: Server, tmp_path: Path) -> None:
    result = drive(server, write_png(tmp_path / "slow.png"), cancel_after_level=True)
    assert result["ret"] == ["CANCELLED"]
    assert result["reports"] == [["WARNING", "Reconstruction cancelled; level 1 of 2 is kept: "
                                             "'Import Last Level' in the panel"]]
    assert result["new_objects"] == 0 and not result["running"] and result["state"] == "CANCELLED"
    assert not result["preview_left"]  # the live preview goes with the run
    assert result["partial"][1] == "level 1 of 2" and result["partial"][0].endswith("level-1.json")
    assert result["import_last_level"] == ["FINISHED"]  # offered, and importable
    assert result["after_import"] == [2, "level-1"]


def test_wrong_token_is_reported_in_words(server: Server, tmp_path: Path) -> None:
    result = drive(server, write_png(tmp_path / "p.png"), token="wrong")
    assert result["reports"] == [["ERROR", "Reconstruction failed: the backend refused the token: check the "
                                           "token in the DiffPaint preferences"]]
    assert result["new_objects"] == 0


def test_missing_backend_is_refused_before_anything_starts(tmp_path: Path) -> None:
    result = drive(None, write_png(tmp_path / "p.png"), env={"DIFFPAINT_PYTHON": "", "DIFFPAINT_SERVER_URL": ""})
    assert not result["started"] and result["state"] == "FAILED"
    assert result["reports"][0][1].startswith("Set the backend Python in preferences")


def test_local_backend_is_launched_and_reconstructs_for_real(tmp_path: Path) -> None:
    """The default set-up: the add-on starts `diffpaint serve` itself with the chosen Python and a
    fresh token, the real optimiser fits a tiny image, and the server goes when Blender does."""
    pid_file = tmp_path / "server.pid"
    code = DRIVE + f"""
from diffpaint_addon import local_server
server = local_server.current_local_server()
open({str(pid_file)!r}, "w").write(str(server._proc.pid))
result["token_len"] = len(server.token)
"""
    env = {"DIFFPAINT_PYTHON": sys.executable, "DIFFPAINT_SERVER_URL": "", "DIFFPAINT_TOKEN": ""}
    env.pop("DIFFPAINT_WORKER", None)
    image = write_png(tmp_path / "tiny.png", 24, 18)
    prelude = f"IMAGE = {str(image)!r}\nCANCEL_AFTER_LEVEL = False\nLEVELS = 1\nQUALITY = 'CUSTOM'\n"
    result = bpy_eval(prelude + code, env=env, timeout=240)
    assert result["ret"] == ["FINISHED"], result
    assert result["statuses"][0] == "Connecting to the local backend…"
    assert result["active"][1] == "GREASEPENCIL" and result["token_len"] >= 32
    pid = int(pid_file.read_text())
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the local backend outlived Blender"


def test_progress_events_format_nicely() -> None:
    import json

    from diffpaint_shared.progress import describe_progress, progress_fraction

    event = json.loads('{"event":"progress","phase":"paint","level":1,"levels":3,"iteration":10,'
                       '"iterations":150,"fraction":0.12,"loss":0.1,"psnr":20.1}')
    assert describe_progress(event) == "Level 1/3 · paint 10/150 · PSNR 20.1 dB"
    assert describe_progress({**event, "eta": 42.4}) == "Level 1/3 · paint 10/150 · PSNR 20.1 dB · ~42 s left"
    assert describe_progress({**event, "eta": 600}).endswith("· ~10 min left")
    assert describe_progress({"event": "progress", "phase": "queued", "queue_position": 2}) == (
        "Queued on the backend (position 2)")
    assert progress_fraction(event) == pytest.approx(0.12)
    assert describe_progress({"event": "progress"}) == ""
    assert progress_fraction({"event": "progress", "fraction": 3}) == 1.0


def test_quality_presets_have_ordered_time_estimates() -> None:
    from diffpaint_addon.presets import QUALITIES, describe_duration, estimate_seconds

    cpu = [estimate_seconds(q.key, 256, 3) for q in QUALITIES]
    assert cpu == sorted(cpu) and [q.key for q in QUALITIES] == ["DRAFT", "STANDARD", "FINAL"]
    assert estimate_seconds("STANDARD", 256, 3, "cuda") < cpu[1] / 5
    assert estimate_seconds("STANDARD", 1024, 3) > cpu[1]
    assert estimate_seconds("CUSTOM", 256, 3, custom=(256, 80, 2)) == pytest.approx(cpu[1])
    assert [describe_duration(s) for s in (3, 42, 250, 7200)] == ["~5 s", "~40 s", "~4 min", "~2.0 h"]


def test_test_connection_reports_version_and_device(server: Server) -> None:
    result = bpy_eval("""
        import bpy, diffpaint_addon
        from diffpaint_addon.operators import check_connection
        from diffpaint_addon.preferences import backend_connection, describe_info
        diffpaint_addon.register()
        where, connect = backend_connection(bpy.context)
        result = [where, describe_info(check_connection(connect))]
    """, env={"DIFFPAINT_SERVER_URL": server.url, "DIFFPAINT_TOKEN": server.token})
    assert result[0] == f"server {server.url}"
    assert result[1].startswith("Connected: diffpaint 0.1.0 on ") and ("CPU" in result[1] or "CUDA" in result[1])

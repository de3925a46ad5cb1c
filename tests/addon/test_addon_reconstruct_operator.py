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
from blender_helpers import OPERATOR_DRIVER, bpy_eval
from server_helpers import Server, running_server, wait_for, write_png

DRIVE = OPERATOR_DRIVER + """
wm = bpy.context.window_manager
settings = bpy.context.scene.diffpaint
settings.image = bpy.data.images.load(IMAGE)
settings.strokes, settings.levels, settings.quality, settings.frames = 6, LEVELS, QUALITY, 12
settings.size, settings.iterations, settings.rounds = 32, 3, 1  # CUSTOM: a toy fit
objects_before = len(bpy.data.objects)
op = Driver()
started = op.begin(bpy.context)
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
    with running_server(env={"FAKE_WORKER_PACE": "0.3"}) as s:  # each level status outlasts a loaded poll
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
    assert result["active"][:2] == ["painting", "GREASEPENCIL"]  # named after the image, not the stroke file
    assert result["active"][2] == ["Canvas", "Level 1", "Level 2"]
    assert result["new_objects"] == 2  # the painting and its camera
    assert result["frame_end"] >= 1 + 12
    assert not result["running"] and result["state"] == "DONE"
    assert result["out_dir_exists"]  # the backend's output is kept for the user
    assert result["reports"][-1][0] == "INFO"
    assert result["reports"][-1][1].startswith("Imported 2 strokes, 2 levels, frames 1–13 as painting; ")


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
    fresh token, the real optimizer fits a tiny image, and the server goes when Blender does."""
    pid_file = tmp_path / "server.pid"
    code = DRIVE + f"""
from diffpaint_addon import local_server
server = local_server.current_local_server()
open({str(pid_file)!r}, "w").write(str(server.pid))
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
        from diffpaint_addon.backend_ops import check_connection
        from diffpaint_addon.preferences import backend_connection, describe_info
        diffpaint_addon.register()
        where, connect = backend_connection(bpy.context)
        result = [where, describe_info(check_connection(connect))]
    """, env={"DIFFPAINT_SERVER_URL": server.url, "DIFFPAINT_TOKEN": server.token})
    assert result[0] == f"server {server.url}"
    assert result[1].startswith("Connected: diffpaint 0.1.0 on ") and ("CPU" in result[1] or "CUDA" in result[1])


def test_quality_presets_name_valid_settings_within_their_bounds() -> None:
    from dataclasses import replace

    from diffpaint_addon.presets import EFFORT, QUALITIES
    from diffpaint_shared.jobschema import SETTING, JobSettings

    for q in QUALITIES:
        assert set(q.settings) == set(EFFORT), q.key
        assert all(name in SETTING for name in q.settings), q.key
        assert replace(JobSettings(), **q.settings).problems() == [], q.key


HEADLESS = """
import os, bpy, diffpaint_addon
from diffpaint_addon import local_server
bpy.ops.wm.read_factory_settings(use_empty=True)
diffpaint_addon.register()
result = {}
def call(name, **kw):
    try:
        return sorted(getattr(bpy.ops.diffpaint, name)(**kw))
    except RuntimeError as e:  # an operator's ERROR report
        return str(e).strip()
"""


def test_reconstruct_and_test_connection_run_to_completion_without_a_window(server: Server, tmp_path: Path) -> None:
    """`blender -b --python script.py`: bpy.ops calls execute(), which waits for the job (no event loop to
    run a modal operator), so a script gets the painting, not 'Invalid operator call'. The run's output
    lands beside the saved .blend, under //diffpaint/<image name>/."""
    image = write_png(tmp_path / "painting.png")
    result = bpy_eval(HEADLESS + f"""
settings = bpy.context.scene.diffpaint
settings.image = bpy.data.images.load({str(image)!r})
settings.strokes, settings.levels, settings.quality = 6, 2, "DRAFT"
bpy.ops.wm.save_as_mainfile(filepath={str(tmp_path / "scene.blend")!r})
result["test_connection"] = call("test_connection")
result["reconstruct"] = call("reconstruct")
obj = bpy.context.view_layer.objects.active
result["active"] = obj.name if obj else None
result["message"] = bpy.context.window_manager.diffpaint.message
from diffpaint_addon import preferences, timing
result["calibration_runs"] = timing.load(preferences.timing_path()).runs
result["timing_path"] = preferences.timing_path()
""", env={"DIFFPAINT_SERVER_URL": server.url, "DIFFPAINT_TOKEN": server.token,
          "BLENDER_USER_RESOURCES": str(tmp_path / "user")})
    assert result["test_connection"] == ["FINISHED"]
    assert result["reconstruct"] == ["FINISHED"], result
    assert result["active"] == "painting"
    out = tmp_path / "diffpaint" / "painting"
    assert (out / "strokes.json").is_file() and (out / "preview.png").is_file()
    assert result["message"].endswith(f"backend output kept in {out}")
    # the run taught the time estimate, in the add-on's user folder
    assert result["calibration_runs"] == 1 and Path(result["timing_path"]).is_relative_to(tmp_path / "user")


def test_a_missing_image_is_refused_before_a_local_backend_starts(tmp_path: Path) -> None:
    result = bpy_eval(HEADLESS + """
result["reconstruct"] = call("reconstruct")
result["server"] = local_server.current_local_server() is not None
""", env={"DIFFPAINT_PYTHON": sys.executable, "DIFFPAINT_SERVER_URL": ""})
    assert result["reconstruct"] == "Error: Choose an image in the DiffPaint panel or open one in an Image Editor"
    assert not result["server"]  # nothing started for a run that could not start


def test_a_folder_chosen_as_the_backend_python_is_named_as_such(tmp_path: Path) -> None:
    result = bpy_eval(HEADLESS + """
result["test_connection"] = call("test_connection")
""", env={"DIFFPAINT_PYTHON": str(tmp_path), "DIFFPAINT_SERVER_URL": ""})
    assert result["test_connection"].startswith(f"Error: The backend Python '{tmp_path}' is a folder, not a Python "
                                                "interpreter")


def test_settings_over_the_server_limits_are_refused_in_words(tmp_path: Path) -> None:
    from diffpaint_addon.client import HttpJob

    with running_server("--max-size", "64", "--max-strokes", "100") as small:
        job = HttpJob(lambda: small.client(), str(write_png(tmp_path / "p.png")),
                      {"strokes": 256, "levels": 2, "size": 128, "iterations": 3, "rounds": 1}, str(tmp_path))
        job.start()
        events = wait_for(lambda: [e for e in job.poll() if e["event"] == "error"] or None)
    assert events[0]["message"] == ("Stroke Budget must be at most 100 on this server (asked for 256); "
                                    "Resolution must be at most 64 px on this server (asked for 128)")


def test_a_url_that_is_no_diffpaint_server_is_named_as_such(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    from diffpaint_addon.client import BackendError, Client

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with pytest.raises(BackendError) as e:
            Client(url, "token").info()
        httpd.shutdown()
    assert str(e.value) == f"{url} is not a DiffPaint server (it has no /info): check the server URL"


def test_a_server_that_never_answers_is_named_after_the_short_connect_timeout(tmp_path: Path) -> None:
    """A hung server (it accepts, then says nothing) fails the first, short request, not the upload's."""
    import socket

    from diffpaint_addon.client import CONNECT_TIMEOUT, UPLOAD_TIMEOUT, Client, HttpJob

    assert CONNECT_TIMEOUT < UPLOAD_TIMEOUT
    with socket.create_server(("127.0.0.1", 0)) as hung:
        url = f"http://127.0.0.1:{hung.getsockname()[1]}"
        job = HttpJob(lambda: Client(url, "token", timeout=600), str(write_png(tmp_path / "p.png")), {}, str(tmp_path))
        job.start()
        events = wait_for(lambda: job.poll() or None, timeout=120)
    assert events == [{"event": "error", "message": f"the DiffPaint backend at {url} did not answer within "
                                                    f"{CONNECT_TIMEOUT:.0f} s"}]


def test_messages_read_plainly() -> None:
    from diffpaint_addon.client import plain

    assert plain("Error: error: the image is empty\n") == "the image is empty"
    assert plain("size must be at least 8\n\n") == "size must be at least 8"


def test_esc_cancels_on_a_press_not_on_a_release(server: Server, tmp_path: Path) -> None:
    """An Esc released (say, after closing a menu with it) leaves the run going; a press cancels it."""
    prelude = DRIVE[:DRIVE.index("objects_before")]
    code = f"IMAGE = {str(write_png(tmp_path / 'slow.png'))!r}\nLEVELS = 2\nQUALITY = 'DRAFT'\n" + prelude + """
op = Driver()
started = op.begin(bpy.context)
released = Event("ESC")
released.value = "RELEASE"
result = {"release": sorted(op.modal(bpy.context, released)), "running": wm.diffpaint.running}
result["press"] = sorted(op.modal(bpy.context, Event("ESC")))
result["after"] = [wm.diffpaint.running, wm.diffpaint.state]
"""
    result = bpy_eval(code, env={"DIFFPAINT_SERVER_URL": server.url, "DIFFPAINT_TOKEN": server.token})
    assert result["release"] == ["PASS_THROUGH"] and result["running"]
    assert result["press"] == ["CANCELLED"] and result["after"] == [False, "CANCELLED"]


def test_a_starting_worker_shows_starting_not_a_queue_position(tmp_path: Path, monkeypatch) -> None:
    """The job runs but its worker has reported nothing yet (importing torch, loading the image): the
    status says so, rather than keeping the last queue position on screen."""
    import server_helpers

    slow_start = tmp_path / "slow_start_worker.py"
    slow_start.write_text("import runpy, time\ntime.sleep(1.5)  # a worker still starting up\n"
                          f"runpy.run_path({str(server_helpers.FAKE_WORKER)!r}, run_name='__main__')\n")
    monkeypatch.setattr(server_helpers, "FAKE_WORKER", slow_start)
    with running_server(env={"FAKE_WORKER_PACE": "0.5"}) as slow:  # each level status lasts past a loaded poll
        result = drive(slow, write_png(tmp_path / "painting.png"))
    assert result["ret"] == ["FINISHED"], result
    starting = result["statuses"].index("Starting…")
    first_level = next(i for i, s in enumerate(result["statuses"]) if s.startswith("Level "))
    assert 0 < starting < first_level

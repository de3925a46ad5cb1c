"""The whole sequence path, end to end: the panel's Source set to a folder of frames, Reconstruct against a real
`diffpaint serve` whose real worker fits the frames, the result unzipped and imported as one animated Grease
Pencil object. Headless Blender has no event loop to run a modal operator, so the test calls its begin/modal
methods itself with TIMER events, as test_addon_reconstruct_operator.py does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from blender_helpers import OPERATOR_DRIVER, bpy_eval
from server_helpers import Server, running_server

FRAMES = 3

DRIVE = OPERATOR_DRIVER + """
from diffpaint_addon.client import BackendError

def frames_done(op):
    status = op._job._connect().job(op._job.job_id) if op._job.job_id else {}
    return (status.get("sequence") or {}).get("frames_done") or 0

wm = bpy.context.window_manager
settings = bpy.context.scene.diffpaint
settings.source, settings.frames_folder = "FOLDER", FOLDER
settings.quality, settings.strokes, settings.levels = "CUSTOM", 8, 1
settings.size, settings.iterations, settings.rounds = 32, 4, 1  # a toy fit: about a second a frame
if BLEND:  # a saved .blend keeps the run's output beside it
    bpy.ops.wm.save_as_mainfile(filepath=BLEND)
objects_before = set(bpy.data.objects)
op = Driver()
started = op.begin(bpy.context)
ret, cancelled_at, statuses, saw_preview = {"PASS_THROUGH"}, None, [], False
deadline = time.time() + 300
while started and ret == {"PASS_THROUGH"} and time.time() < deadline:
    if CANCEL_AFTER_FRAMES and cancelled_at is None and frames_done(op) >= CANCEL_AFTER_FRAMES:
        wm.diffpaint.cancel_requested, cancelled_at = True, frames_done(op)
    ret = op.modal(bpy.context, Event("TIMER"))
    saw_preview = saw_preview or bpy.data.images.get(PREVIEW_IMAGE) is not None
    if wm.diffpaint.status and wm.diffpaint.status not in statuses:
        statuses.append(wm.diffpaint.status)
    time.sleep(0.05)
new = [o for o in bpy.data.objects if o not in objects_before]
painting = [o for o in new if o.type == "GREASEPENCIL"]
result = {
    "started": started, "ret": sorted(ret), "reports": op.reports, "timed_out": time.time() >= deadline,
    "running": wm.diffpaint.running, "state": wm.diffpaint.state, "message": wm.diffpaint.message,
    "statuses": statuses, "saw_preview": saw_preview, "preview_left": bpy.data.images.get(PREVIEW_IMAGE) is not None,
    "out_dir": op._out_dir, "out_dir_exists": os.path.isdir(op._out_dir),
    "out_parent_exists": os.path.isdir(os.path.dirname(op._out_dir)),
    "new_objects": sorted(o.type for o in new),
    "painting": [painting[0].name, {layer.name: sorted(f.frame_number for f in layer.frames)
                                    for layer in painting[0].data.layers}] if len(painting) == 1 else None,
    "frame_range": [bpy.context.scene.frame_start, bpy.context.scene.frame_end],
    "grease_pencils": len(bpy.data.grease_pencils), "cancelled_at": cancelled_at,
}
try:  # the add-on deletes its job on the server once it has what it needs, or is cancelled
    result["server_state"] = op._job._connect().job(op._job.job_id)["state"] if started else None
except BackendError as e:
    result["server_state"] = "deleted" if e.status == 404 else str(e)
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work_dir = tmp_path_factory.mktemp("work")
    with running_server("--work-dir", str(work_dir), "--max-frames", "12", fake_worker=False) as s:
        yield s


@pytest.fixture
def frames_folder(tmp_path: Path, painting_path: Path) -> Path:
    """Three 40 px frames of a window panning over a real painting, in a folder as a render or a camera leaves them."""
    from diffpaint.batch.synthetic import pan
    from diffpaint.imageio import load_image, save_png

    image, _ = load_image(painting_path, 64)
    folder = tmp_path / "shot"
    folder.mkdir()
    for i, frame in enumerate(pan(image, 40, FRAMES, (3, 2))):
        save_png(frame, folder / f"frame_{i + 1:04d}.png")
    return folder


def drive(server: Server, folder: Path, cancel_after_frames: int = 0, blend: Path | None = None) -> dict:
    code = f"FOLDER = {str(folder)!r}\nCANCEL_AFTER_FRAMES = {cancel_after_frames}\nBLEND = {str(blend or '')!r}\n"
    code += DRIVE
    return bpy_eval(code, env={"DIFFPAINT_SERVER_URL": server.url, "DIFFPAINT_TOKEN": server.token}, timeout=420)


def test_a_folder_of_frames_is_reconstructed_and_imported_as_one_animated_painting(
        server: Server, frames_folder: Path, tmp_path: Path) -> None:
    result = drive(server, frames_folder, blend=tmp_path / "scene.blend")
    assert result["started"] and result["ret"] == ["FINISHED"], result
    assert result["state"] == "DONE" and not result["running"]
    assert result["new_objects"] == ["CAMERA", "GREASEPENCIL"], result  # one painting, and its camera
    name, layers = result["painting"]
    assert name == "shot"  # named after the folder
    assert layers["Level 1"] == [1, 2, 3] and layers["Canvas"][0] == 1, layers  # a keyframe per frame
    assert result["frame_range"] == [1, FRAMES]
    # progress over frames (the last one may come with the done event, which clears the status at once)
    assert any(f"frame {i}/{FRAMES}" in s for s in result["statuses"] for i in range(1, FRAMES)), result["statuses"]
    assert result["saw_preview"] and result["preview_left"]  # the last frame's render stays as the preview
    out_dir = Path(result["out_dir"])  # the run's own folder beside the .blend, under //diffpaint/<folder name>/
    assert out_dir.parent == tmp_path / "diffpaint" / "shot" and (out_dir / "sequence" / "sequence.json").is_file()
    assert result["reports"][-1][0] == "INFO" and result["out_dir"] in result["reports"][-1][1]


def test_a_cancelled_sequence_run_leaves_no_partial_painting(server: Server, frames_folder: Path) -> None:
    """Cancelled after its first frame is fitted (an unsaved .blend): the frames done so far are not imported,
    and the run's unpacked output goes with it, its temporary folder included."""
    result = drive(server, frames_folder, cancel_after_frames=1)
    assert result["started"] and result["ret"] == ["CANCELLED"], result
    assert result["state"] == "CANCELLED" and not result["running"]
    assert 1 <= result["cancelled_at"] < 3 and result["server_state"] == "deleted", result
    assert result["reports"] == [["WARNING", "Reconstruction cancelled"]]
    assert result["new_objects"] == [] and result["grease_pencils"] == 0
    assert not result["out_dir_exists"] and not result["out_parent_exists"]  # the unpacked frames went with the run
    assert not result["preview_left"]  # the live preview goes with the run

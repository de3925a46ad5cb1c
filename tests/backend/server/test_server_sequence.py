"""Sequences on the server (POST /sequences, GET /jobs/{id}/sequence) and the add-on's HttpSequenceJob, against
a real `diffpaint serve` on 127.0.0.1 whose real worker processes fit frames cut from a real painting with a
moving crop (tiny settings, so a frame takes about a second)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from server_helpers import Server, running_server, wait_for

from diffpaint_addon.client import BackendError, Client, HttpSequenceJob, extract_sequence
from diffpaint_shared import sequence, strokefile

TINY = {"strokes": 12, "levels": 1, "size": 32, "iterations": 6, "rounds": 1, "time_budget": 1}  # seconds a frame


def pan_frames(painting: Path, count: int, side: int = 48, step: tuple[int, int] = (3, 2)) -> list[bytes]:
    """`count` PNG frames of a window moving `step` px a frame over the painting (scaled down)."""
    with Image.open(painting) as im:
        image = im.convert("RGB")
    image.thumbnail((side + step[0] * count + 40, side + step[1] * count + 40))
    frames = []
    for i in range(count):
        buffer = io.BytesIO()
        image.crop((i * step[0], i * step[1], i * step[0] + side, i * step[1] + side)).save(buffer, "PNG")
        frames.append(buffer.getvalue())
    return frames


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def finished(client: Client, job_id: str) -> dict:
    return wait_for(lambda: (st := client.job(job_id))["state"] not in ("queued", "running") and st, timeout=600)


def jobs(client: Client) -> list[dict]:
    return json.loads(client.request("GET", "/jobs")[2])


def run_events(job: HttpSequenceJob, until: Callable[[dict], bool] = lambda e: False) -> list[dict]:
    """Poll the job's events until its terminal one, or until `until` holds for an event."""
    events: list[dict] = []

    def more() -> bool:
        events.extend(job.poll())
        return job.finished or any(until(e) for e in events)

    wait_for(more, timeout=600)
    return events


@pytest.fixture(scope="module")
def work_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("work")


@pytest.fixture(scope="module")
def server(work_dir: Path) -> Iterator[Server]:
    with running_server("--work-dir", str(work_dir), "--max-frames", "12", fake_worker=False) as s:
        yield s


def test_a_zip_of_frames_runs_warm_to_a_downloadable_sequence_that_survives_a_restart(
        server: Server, work_dir: Path, painting_path: Path, tmp_path: Path) -> None:
    client = server.client()
    frames = pan_frames(painting_path, 3)
    upload = tmp_path / "shot.zip"  # in a folder, out of name order: the server orders them naturally
    upload.write_bytes(zip_of({"shot/f_10.png": frames[2], "shot/f_8.png": frames[0], "shot/f_9.png": frames[1]}))
    submitted = client.submit_sequence(str(upload), TINY, fps=12)
    assert submitted["kind"] == "sequence" and submitted["sequence"]["frames"] == 3, submitted
    assert submitted["state"] in ("queued", "running") and submitted["width"] == 32
    with pytest.raises(BackendError, match="poll GET"):  # 409 while it runs
        client.sequence_archive(submitted["id"])
    with pytest.raises(BackendError, match="fits a sequence|has no stroke file"):
        client.strokes(submitted["id"])

    status = finished(client, submitted["id"])
    assert status["state"] == "done", status
    assert status["sequence"] == {"frames": 3, "frames_done": 3, "warm": True, "fps": 12.0}
    assert status["progress"]["fraction"] == 1.0 and status["progress"]["iterations"] == 3
    assert status["result"]["frames"] == 3 and status["result"]["psnr"] > 10

    archive = client.sequence_archive(submitted["id"])
    manifest = extract_sequence(archive, str(tmp_path))
    seq = sequence.load(manifest)
    assert (seq.width, seq.height, seq.fps) == (32, 32, 12.0)
    assert [f.source for f in seq.frames] == ["f_8.png", "f_9.png", "f_10.png"]
    assert [f.warm for f in seq.frames] == [False, True, True]
    assert seq.carried_over(1) > 0 and seq.carried_over(2) > 0
    for frame in seq.frames:
        doc = strokefile.load(sequence.resolve(manifest, frame.strokes))
        assert len(doc.strokes) == len(frame.stroke_ids) and doc.metadata["frame"] == frame.index
        assert sequence.resolve(manifest, frame.render).is_file()
    with zipfile.ZipFile(io.BytesIO(archive)) as z:  # the manifest and what it names: no input frames
        assert len(z.namelist()) == 1 + 2 * 3

    # A server restarted on the same work dir has the job, still downloadable.
    with running_server("--work-dir", str(work_dir), fake_worker=False) as again:
        restored = again.client().job(submitted["id"])
        assert restored["kind"] == "sequence" and restored["state"] == "done"
        assert restored["sequence"]["frames_done"] == 3
        assert again.client().sequence_archive(submitted["id"]) == archive


def test_http_sequence_job_runs_a_folder_of_frames(server: Server, painting_path: Path, tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i, data in enumerate(pan_frames(painting_path, 2)):
        (folder / f"frame_{i + 9}.png").write_bytes(data)  # frame_9 before frame_10
    (folder / "notes.txt").write_text("not a frame: left out of the upload")
    out = tmp_path / "out"
    out.mkdir()
    job = HttpSequenceJob(server.client, str(folder), TINY, str(out))
    job.start()
    events = run_events(job)
    done = events[-1]
    assert done["event"] == "done", events
    assert done["manifest"] == str(out / "sequence" / "sequence.json") and done["frames"] == 2
    seq = sequence.load(done["manifest"])
    assert [f.source for f in seq.frames] == ["frame_9.png", "frame_10.png"]
    assert [f.warm for f in seq.frames] == [False, True]
    assert strokefile.load(done["strokes"]).metadata["frame"] == 1
    fractions = [e["fraction"] for e in events if e["event"] == "progress" and e.get("phase") == "frame"]
    assert fractions and fractions == sorted(fractions)
    assert any(e["event"] == "preview" for e in events)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial folder left
    assert job.job_id not in {j["id"] for j in jobs(server.client())}  # deleted once its files were fetched


def test_cancel_mid_video_keeps_the_finished_frames(server: Server, painting_path: Path, tmp_path: Path) -> None:
    """A video, decoded by the worker; the client's cancel after the first frame keeps that frame."""
    import imageio_ffmpeg
    import numpy as np

    video = tmp_path / "clip.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (48, 48), fps=10, macro_block_size=16)
    writer.send(None)
    for data in pan_frames(painting_path, 6, step=(2, 1)):
        writer.send(np.ascontiguousarray(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))))
    writer.close()
    job = HttpSequenceJob(server.client, str(video), TINY, str(tmp_path))
    job.start()
    events = run_events(job, until=lambda e: e["event"] == "progress" and (e.get("iteration") or 0) >= 1)
    assert not job.finished and job.job_id is not None, events
    running = server.client().job(job.job_id)["sequence"]
    assert running["frames"] == 6 and running["frames_done"] >= 1 and running["fps"] == 10.0, running
    job.cancel(timeout=60)
    events += job.poll()
    cancelled = events[-1]
    assert cancelled["event"] == "cancelled", events
    assert 1 <= cancelled["frames"] < 6
    seq = sequence.load(cancelled["manifest"])
    assert len(seq.frames) == cancelled["frames"] and seq.fps == 10.0 and (seq.width, seq.height) == (32, 32)
    for frame in seq.frames:
        assert len(strokefile.load(sequence.resolve(cancelled["manifest"], frame.strokes)).strokes) > 0


def _post(server: Server, filename: str, data: bytes, **fields: object) -> BackendError:
    from diffpaint_addon.client import encode_multipart

    body, ctype = encode_multipart({**TINY, **fields}, {"file": (filename, data)})
    with pytest.raises(BackendError) as refused:
        server.client().request("POST", "/sequences", body=body, content_type=ctype)
    return refused.value


@pytest.mark.parametrize(("filename", "entries", "status", "message"), [
    ("frames.zip", b"PK\x03\x04 but not really a zip", 422, "not a readable zip archive"),
    ("frames.zip", {"../escape.png": b"x"}, 422, "not a plain relative path"),
    ("frames.zip", {"/etc/frame.png": b"x"}, 422, "not a plain relative path"),
    ("frames.zip", {"a.png": b"PNG", "readme.txt": b"hello"}, 422, "'readme.txt' is not a frame image"),
    ("frames.zip", {"a.png": b"not a png at all"}, 422, "a.png: not a readable image"),
    ("frames.zip", {"__MACOSX/._a.png": b"x"}, 422, "holds no frame images"),
    ("frames.zip", {f"{i}.png": b"x" for i in range(13)}, 413, "limit of 12 frames"),
    ("frames.zip", {"a/f.png": b"x", "b/f.png": b"x"}, 422, "two frames are named 'f.png'"),
    ("clip.mp4", b"\x00\x00\x00\x18ftypmp42 not a video", 422, "cannot be decoded as a video"),
    ("painting.png", b"x", 422, "neither a video nor a .zip"),
    ("frames.zip", b"", 422, "is empty"),
])
def test_bad_sequence_uploads_get_4xx_and_leave_no_job(server: Server, work_dir: Path, painting_path: Path,
                                                        filename: str, entries: bytes | dict[str, bytes],
                                                        status: int, message: str) -> None:
    if isinstance(entries, dict):
        frame = pan_frames(painting_path, 1)[0]
        entries = zip_of({name: frame if data == b"PNG" else data for name, data in entries.items()})
    before = {p.name for p in work_dir.iterdir()}
    refused = _post(server, filename, entries)
    assert refused.status == status and message in str(refused), refused
    assert {p.name for p in work_dir.iterdir()} == before


def test_frames_of_two_sizes_and_settings_a_sequence_cannot_carry_are_refused(
        server: Server, work_dir: Path, painting_path: Path) -> None:
    frame = pan_frames(painting_path, 1)[0]
    small = io.BytesIO()
    Image.open(io.BytesIO(frame)).resize((20, 20)).save(small, "PNG")
    before = {p.name for p in work_dir.iterdir()}
    refused = _post(server, "f.zip", zip_of({"1.png": frame, "2.png": small.getvalue()}))
    assert refused.status == 422 and "share one size" in str(refused)
    refused = _post(server, "f.zip", zip_of({"1.png": frame}), smudge=True)
    assert refused.status == 422 and "smudge" in str(refused)
    assert {p.name for p in work_dir.iterdir()} == before


def test_an_image_job_has_no_sequence(server: Server, painting_path: Path) -> None:
    from diffpaint_addon.client import encode_multipart

    client = server.client()
    body, ctype = encode_multipart({**TINY, "device": "cpu"}, {"image": ("p.png", pan_frames(painting_path, 1)[0])})
    job = json.loads(client.request("POST", "/jobs", body=body, content_type=ctype)[2])
    assert job["kind"] == "image" and job["sequence"] is None
    with pytest.raises(BackendError, match="fits an image, not a sequence") as refused:
        client.sequence_archive(job["id"])
    assert refused.value.status == 409
    client.delete(job["id"])


@pytest.mark.parametrize("name", ["../evil.json", "/abs.json", "a/../../evil.json"])
def test_the_client_refuses_an_archive_that_climbs_out(tmp_path: Path, name: str) -> None:
    with pytest.raises(BackendError, match="unsafe path"):
        extract_sequence(zip_of({"sequence.json": b"{}", name: b"x"}), str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # nothing unpacked, no partial folder left


def test_an_animated_gif_is_unpacked_into_frames(server: Server, work_dir: Path, painting_path: Path,
                                                 tmp_path: Path) -> None:
    frames = [Image.open(io.BytesIO(data)).convert("RGB") for data in pan_frames(painting_path, 3)]
    gif = tmp_path / "loop.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)  # GIF times are in 1/100 s
    client = server.client()
    job = client.submit_sequence(str(gif), TINY)
    assert job["sequence"] == {"frames": 3, "frames_done": 0, "warm": True, "fps": 10.0}, job
    assert sorted(p.name for p in (work_dir / job["id"] / "frames").iterdir()) == ["00000.png", "00001.png",
                                                                                   "00002.png"]
    client.delete(job["id"])

"""`diffpaint serve` over real HTTP on 127.0.0.1: auth, uploads, the job lifecycle, queueing, failures.

Jobs run tests/fake_worker.py (same protocol and files as the real worker, no optimizer) except in
the last test, which fits a tiny image with the real one."""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import Server, png_bytes, running_server, wait_for, write_png

from diffpaint_addon.client import BackendError, Client, HttpJob, encode_multipart
from diffpaint_shared import strokefile

LIMITS = ("--max-upload-mb", "0.25", "--max-megapixels", "0.01", "--max-queued", "2", "--max-size", "64",
          "--max-strokes", "64", "--max-iterations", "5", "--max-levels", "3", "--max-rounds", "2")
SMALL = {"strokes": 6, "levels": 2, "size": 32, "iterations": 3, "rounds": 1}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server(*LIMITS) as s:
        yield s


def raw(server: Server, method: str, path: str, headers: dict[str, str] | None = None,
        body: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(server.url + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def submit(server: Server, tmp_path: Path, name: str = "painting.png", **settings: object) -> dict:
    return server.client().submit(str(write_png(tmp_path / name)), {**SMALL, **settings})


def finished(client: Client, job_id: str) -> dict:
    return wait_for(lambda: (s := client.job(job_id))["state"] in ("done", "failed", "cancelled") and s)


def test_health_and_schema_are_public_everything_else_needs_the_token(server: Server) -> None:
    assert raw(server, "GET", "/health") == (200, {"status": "ok"})
    status, schema = raw(server, "GET", "/openapi.json")
    assert status == 200 and "/jobs" in schema["paths"] and schema["info"]["title"] == "DiffPaint backend"
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        for method, path in (("GET", "/info"), ("GET", "/jobs"), ("POST", "/jobs"), ("GET", "/jobs/x/preview")):
            status, body = raw(server, method, path, headers)
            assert status == 401, (method, path, headers)
            assert "bearer token" in body["detail"]
    info = server.client().info()
    assert info["version"] == "0.1.0" and info["device"] in ("cpu", "cuda") and info["device_name"]
    assert info["limits"]["max_strokes"] == 64 and info["styles"] == ["digital", "oil", "watercolor", "ink", "pencil"]
    with pytest.raises(BackendError, match="refused the token") as e:
        server.client(token="nope").info()
    assert e.value.status == 401


def test_smudge_is_off_by_default_and_can_be_switched_on(server: Server, tmp_path: Path) -> None:
    client = server.client()
    off, on = submit(server, tmp_path, "off.png"), submit(server, tmp_path, "on.png", smudge="true")
    assert off["settings"]["smudge"] is False and on["settings"]["smudge"] is True
    for job in (on, off):
        assert finished(client, job["id"])["state"] == "done"


def test_job_lifecycle_submit_progress_preview_levels_result_delete(server: Server, tmp_path: Path) -> None:
    client = server.client()
    job = submit(server, tmp_path, levels=2)
    assert job["state"] in ("queued", "running") and job["settings"]["strokes"] == 6
    assert (job["width"], job["height"]) == (32, 24)  # 40×30 fitted at a long side of 32
    previews = {client.preview(job["id"])[1]}  # the target, before any canvas exists
    seen = []
    while (status := client.job(job["id"]))["state"] not in ("done", "failed", "cancelled"):
        if status["progress"]:
            seen.append(status["progress"])
        previews.add(client.preview(job["id"])[1])
    assert status["state"] == "done", status
    assert status["levels_done"] == [1, 2] and status["preview_version"] >= 2
    assert status["result"]["psnr"] == 30.5 and status["result"]["strokes"] == 2
    assert status["progress"]["fraction"] == 1.0 and status["progress"]["eta"] == 0.0
    assert any(p["eta"] is not None for p in seen) or not seen
    for p in seen:
        assert {"phase", "level", "levels", "iteration", "iterations", "fraction", "loss", "psnr", "eta"} <= set(p)
    data, kind = client.preview(job["id"])
    assert kind == "result" and data.startswith(b"\x89PNG")
    assert previews <= {"target", "canvas", "result"} and "target" in previews
    doc = strokefile.loads(client.strokes(job["id"]).decode())
    assert (doc.canvas.width, doc.canvas.height) == (32, 24) and len(doc.strokes) == 2
    assert len(strokefile.loads(client.level(job["id"], 1).decode()).strokes) == 1
    with pytest.raises(BackendError, match="level 3 .* is not complete") as e:
        client.level(job["id"], 3)
    assert e.value.status == 404
    assert job["id"] in [j["id"] for j in json.loads(client.request("GET", "/jobs")[2])]
    client.delete(job["id"])
    with pytest.raises(BackendError) as e:
        client.job(job["id"])
    assert e.value.status == 404


def test_cancel_stops_the_worker_and_keeps_completed_levels(server: Server, tmp_path: Path) -> None:
    client = server.client()
    job = submit(server, tmp_path, name="slow.png", levels=2)
    wait_for(lambda: client.job(job["id"])["levels_done"] == [1])
    with pytest.raises(BackendError, match="is running.*poll") as e:
        client.strokes(job["id"])
    assert e.value.status == 409
    status = client.cancel(job["id"])
    assert status["state"] == "cancelled" and status["levels_done"] == [1]
    with pytest.raises(BackendError, match="cancelled.*levels") as e:
        client.strokes(job["id"])
    assert e.value.status == 409
    assert len(strokefile.loads(client.level(job["id"], 1).decode()).strokes) == 1
    assert client.cancel(job["id"])["state"] == "cancelled"  # idempotent
    client.delete(job["id"])


def test_one_job_per_device_the_rest_queue_and_a_full_queue_is_refused(server: Server, tmp_path: Path) -> None:
    client = server.client()
    first = submit(server, tmp_path, name="slow.png")
    wait_for(lambda: client.job(first["id"])["state"] == "running")
    second, third = submit(server, tmp_path, name="a.png"), submit(server, tmp_path, name="b.png")
    assert (second["state"], second["queue_position"]) == ("queued", 1)
    assert (third["state"], third["queue_position"]) == ("queued", 2)
    with pytest.raises(BackendError, match="queue is full") as e:  # --max-queued 2
        submit(server, tmp_path, name="c.png")
    assert e.value.status == 503
    assert client.cancel(second["id"])["state"] == "cancelled"  # a queued job goes at once
    assert client.job(third["id"])["queue_position"] == 1
    client.cancel(first["id"])
    assert finished(client, third["id"])["state"] == "done"
    for job in (first, second, third):
        client.delete(job["id"])


def test_failed_and_crashed_jobs_are_reported_and_the_server_goes_on(server: Server, tmp_path: Path) -> None:
    client = server.client()
    failed = finished(client, submit(server, tmp_path, name="fail.png")["id"])
    assert failed["state"] == "failed" and failed["error"] == "the fake worker was told to fail"
    crashed = finished(client, submit(server, tmp_path, name="crash.png")["id"])
    assert crashed["state"] == "failed" and "fake out of memory" in crashed["error"]
    with pytest.raises(BackendError, match="failed, so it has no stroke file") as e:
        client.strokes(crashed["id"])
    assert e.value.status == 409
    assert finished(client, submit(server, tmp_path)["id"])["state"] == "done"
    assert client.health() == {"status": "ok"}


def _post_image(server: Server, name: str, data: bytes, **fields: object) -> tuple[int, str]:
    body, ctype = encode_multipart({**SMALL, **fields}, {"image": (name, data)} if data is not None else {})
    status, reply = raw(server, "POST", "/jobs", {"Authorization": f"Bearer {server.token}",
                                                  "Content-Type": ctype}, body)
    return status, reply["detail"] if status >= 400 else reply


@pytest.mark.parametrize(
    ("name", "data", "fields", "status", "message"),
    [
        ("big.png", os.urandom(400_000), {}, 413, "larger than this server's limit of 0 MiB"),
        ("wide.png", png_bytes(200, 100), {}, 413, "200×100 px .* at most 0 MP: downscale it"),
        ("cut.png", png_bytes(40, 30)[:60], {}, 422, "could not be decoded .* corrupt"),
        ("notes.txt", b"these are not pixels\n" * 10, {}, 422, "not an image format .* PNG, JPEG"),
        ("empty.png", b"", {}, 422, "is empty"),
        ("tiny.png", png_bytes(4, 4), {}, 422, "at least 8 px a side"),
        ("ok.png", png_bytes(), {"strokes": 0}, 422, "strokes: Input should be greater than or equal to 1"),
        ("ok.png", png_bytes(), {"size": 4096}, 422, "size: Input should be less than or equal to 64"),
        ("ok.png", png_bytes(), {"strokes": 2, "levels": 3}, 422, "cannot cover 3 levels"),
        ("ok.png", png_bytes(), {"background": "teal"}, 422, "background: String should match"),
        ("ok.png", png_bytes(), {"style": "gouache"}, 422,
         "style: Input should be 'digital', 'oil', 'watercolor', 'ink', 'pencil' or 'auto'"),
        ("ok.png", png_bytes(), {"seed": "abc"}, 422, "seed: Input should be a valid integer"),
    ],
)
def test_bad_uploads_and_settings_get_4xx_saying_what_to_fix(server: Server, name: str, data: bytes,
                                                            fields: dict, status: int, message: str) -> None:
    import re

    got_status, detail = _post_image(server, name, data, **fields)
    assert got_status == status, detail
    assert re.search(message, detail), detail


def test_missing_image_and_unavailable_device(server: Server) -> None:
    body, ctype = encode_multipart(SMALL, {})
    status, reply = raw(server, "POST", "/jobs", {"Authorization": f"Bearer {server.token}",
                                                  "Content-Type": ctype}, body)
    assert status == 422 and reply["detail"] == "image: Field required"
    if "cuda" not in server.client().info()["devices"]:
        status, detail = _post_image(server, "ok.png", png_bytes(), device="cuda")
        assert status == 422 and "no CUDA device; choose one of: auto, cpu" in detail


def test_http_job_drives_a_server_job_to_a_stroke_file(server: Server, tmp_path: Path) -> None:
    """The add-on's HttpJob (stdlib only) end to end: events, preview file, downloaded result."""
    job = HttpJob(server.client, str(write_png(tmp_path / "p.png")), SMALL, str(tmp_path), poll_interval=0.05,
                  preview_interval=0.0)
    job.start()
    events = wait_for(lambda: job.poll() or None, timeout=30) or []
    while not job.finished:
        events += wait_for(lambda: job.poll() or None, timeout=30)
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done" and "progress" in kinds and "preview" in kinds, events
    assert strokefile.load(events[-1]["strokes"]).canvas.width == 32
    assert Path(tmp_path / "preview.png").read_bytes().startswith(b"\x89PNG")
    wait_for(lambda: job.job_id not in [j["id"] for j in json.loads(server.client().request("GET", "/jobs")[2])])


def test_http_job_cancel_saves_the_last_completed_level(server: Server, tmp_path: Path) -> None:
    job = HttpJob(server.client, str(write_png(tmp_path / "slow.png")), {**SMALL, "levels": 3}, str(tmp_path),
                  poll_interval=0.05)
    job.start()
    events: list[dict] = []
    wait_for(lambda: events.extend(job.poll()) or any(e["event"] == "preview" for e in events) and
             server.client().job(job.job_id)["levels_done"] if job.job_id else False)
    job.cancel()
    events += job.poll()
    assert events[-1]["event"] == "cancelled" and events[-1]["level"] == 1 and events[-1]["levels"] == 3
    assert len(strokefile.load(events[-1]["partial"]).strokes) == 1
    assert job.finished and job.poll() == []


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(BackendError, match="cannot reach the DiffPaint backend at http://127.0.0.1:9"):
        Client("http://127.0.0.1:9", "t", timeout=2).info()


def test_real_worker_fits_a_tiny_image(tmp_path: Path) -> None:
    with running_server(fake_worker=False) as s:
        client = s.client()
        job = client.submit(str(write_png(tmp_path / "tiny.png", 40, 30)), {**SMALL, "levels": 1})
        status = wait_for(lambda: (st := client.job(job["id"]))["state"] not in ("queued", "running") and st,
                          timeout=600)
        assert status["state"] == "done", status
        assert status["result"]["width"] == 32 and status["result"]["psnr"] > status["result"]["blank_psnr"]
        doc = strokefile.loads(client.strokes(job["id"]).decode())
        assert 1 <= len(doc.strokes) <= 6 and doc.metadata["source"] == "tiny.png"
        assert client.preview(job["id"])[1] == "result"


def test_real_worker_previews_the_live_canvas_while_it_runs(tmp_path: Path) -> None:
    """The optimizer's per-step canvas reaches GET /jobs/{id}/preview (X-DiffPaint-Preview: canvas)
    before the job ends, at the job's working size."""
    import io

    from PIL import Image

    with running_server(fake_worker=False) as s:
        client = s.client()
        job = client.submit(str(write_png(tmp_path / "live.png", 40, 30)),
                            {**SMALL, "levels": 2, "iterations": 60, "rounds": 2})
        kinds: set[str] = set()

        def canvas_or_finished() -> tuple[bytes, str] | dict | None:
            data, kind = client.preview(job["id"])
            kinds.add(kind)
            if kind == "canvas":
                return data, kind
            status = client.job(job["id"])
            return status if status["state"] not in ("queued", "running") else None

        seen = wait_for(canvas_or_finished, timeout=600)
        assert isinstance(seen, tuple), (kinds, seen)  # a canvas came while the job was still queued or running
        with Image.open(io.BytesIO(seen[0])) as im:
            assert im.size == (32, 24)
        assert "result" not in kinds
        client.cancel(job["id"])


def test_real_worker_cancel_keeps_completed_levels_and_a_failing_job_is_reported(tmp_path: Path) -> None:
    """The real worker: a cancel after level 1 keeps level 1's strokes; a job whose upload is
    damaged after the server checked it (here while it waits in the queue) fails with the worker's
    own message, and the server goes on."""
    work_dir = tmp_path / "work"
    with running_server("--work-dir", str(work_dir), fake_worker=False) as s:
        client = s.client()
        first = client.submit(str(write_png(tmp_path / "first.png", 40, 30)),
                              {**SMALL, "strokes": 12, "levels": 3, "iterations": 40})
        second = client.submit(str(write_png(tmp_path / "second.png", 40, 30)), SMALL)
        assert second["state"] == "queued"
        (work_dir / second["id"] / "input.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged after the check")
        wait_for(lambda: client.job(first["id"])["levels_done"], timeout=600)
        cancelled = client.cancel(first["id"])
        assert cancelled["state"] == "cancelled" and cancelled["levels_done"][0] == 1, cancelled
        doc = strokefile.loads(client.level(first["id"], 1).decode())
        assert doc.strokes and doc.metadata["level"] == 1
        failed = wait_for(lambda: (st := client.job(second["id"]))["state"] not in ("queued", "running") and st,
                          timeout=600)
        assert failed["state"] == "failed" and "input.png" in failed["error"], failed
        assert client.health() == {"status": "ok"}


def test_server_exits_when_its_stdin_closes() -> None:
    """How the add-on's local server follows Blender out, even when Blender crashes."""
    with running_server("--stop-on-stdin-eof") as s:
        assert s.client().health() == {"status": "ok"}
        assert s.proc.stdin is not None
        s.proc.stdin.close()
        assert s.proc.wait(15) == 0


def test_http_job_cancel_while_still_connecting_returns_at_once(tmp_path: Path) -> None:
    import threading

    release = threading.Event()

    def slow_connect() -> Client:  # like a local server still importing torch
        release.wait(30)
        raise BackendError("never connected")

    job = HttpJob(slow_connect, str(write_png(tmp_path / "p.png")), SMALL, str(tmp_path))
    job.start()
    cancelling = threading.Thread(target=job.cancel, daemon=True)
    cancelling.start()
    cancelling.join(30)
    try:
        assert not cancelling.is_alive(), "cancel waited for the connection"  # which is still blocked here
    finally:
        release.set()

"""`diffpaint serve` as a service that runs for weeks (issue 13): how it stops, restarts, keeps its
disk and memory bounded, and stands up to hostile clients. Real server processes on 127.0.0.1,
running tests/fake_worker.py."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from blender_helpers import ROOT
from PIL import Image
from server_helpers import TOKEN, Server, png_bytes, running_server, wait_for, write_png

from diffpaint_addon.client import BackendError, Client, encode_multipart
from diffpaint_shared import strokefile

SMALL = {"strokes": 6, "levels": 2, "size": 32, "iterations": 3, "rounds": 1}
FINISHED = ("done", "failed", "cancelled")


def submit(server: Server, tmp_path: Path, name: str = "painting.png", **settings: object) -> dict:
    return server.client().submit(str(write_png(tmp_path / name)), {**SMALL, **settings})


def finished(client: Client, job_id: str) -> dict:
    return wait_for(lambda: (s := client.job(job_id))["state"] in FINISHED and s)


def job_folders(work_dir: Path) -> list[Path]:
    return sorted(p for p in work_dir.iterdir() if p.is_dir()) if work_dir.exists() else []


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def post(server: Server, name: str, data: bytes, token: bytes | None = None) -> tuple[int, dict]:
    """POST /jobs over a plain socket, so the test chooses every byte (e.g. a UTF-8 token)."""
    body, ctype = encode_multipart(SMALL, {"image": (name, data)})
    auth = token if token is not None else server.token.encode()
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    head = (f"POST /jobs HTTP/1.1\r\nHost: {host}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\nAuthorization: Bearer ").encode() + auth + b"\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2] or b"null")


# --- item 1: stopping ----------------------------------------------------------------------------


def test_sigterm_stops_cleanly_and_removes_the_servers_own_work_dir(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    with running_server(env={"TMPDIR": str(temp)}) as s:
        (work_dir,) = job_folders(temp)  # the temporary work dir the server made itself
        done = finished(s.client(), submit(s, tmp_path)["id"])
        assert done["state"] == "done" and len(job_folders(work_dir)) == 1
        slow = submit(s, tmp_path, name="slow.png")  # running when the signal comes
        wait_for(lambda: s.client().job(slow["id"])["levels_done"] == [1])
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(30) == 0
    assert job_folders(temp) == []  # nothing left: uploads, results, the work dir itself


# --- item 2: restarting --------------------------------------------------------------------------


def test_a_restart_on_the_same_work_dir_keeps_results_and_reports_interrupted_jobs(tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    with running_server("--work-dir", str(work_dir)) as s:
        client = s.client()
        done = finished(client, submit(s, tmp_path)["id"])
        slow = submit(s, tmp_path, name="slow.png", levels=2)
        wait_for(lambda: client.job(slow["id"])["levels_done"] == [1])
        s.proc.kill()  # a crash: no cleanup at all
        s.proc.wait()
        os.kill(int((work_dir / slow["id"] / "worker.pid").read_text()), signal.SIGKILL)  # its orphaned worker
    half_made = work_dir / "0123456789abcdef"  # a submission the crash cut short: no record
    half_made.mkdir()
    (half_made / "input.png").write_bytes(b"partial")
    (work_dir / "notes").mkdir()  # not the server's: left alone
    with running_server("--work-dir", str(work_dir)) as s:
        client = s.client()
        again = client.job(done["id"])
        assert again["state"] == "done" and again["result"] == done["result"]
        assert len(strokefile.loads(client.strokes(done["id"]).decode()).strokes) == 2
        assert client.preview(done["id"])[1] == "result"
        interrupted = client.job(slow["id"])
        assert interrupted["state"] == "failed" and "interrupted" in interrupted["error"]
        assert interrupted["levels_done"] == [1]
        assert len(strokefile.loads(client.level(slow["id"], 1).decode()).strokes) == 1
        assert not half_made.exists() and (work_dir / "notes").is_dir()
        client.delete(done["id"])
    assert not (work_dir / done["id"]).exists()
    assert (work_dir / slow["id"] / "level-1.json").is_file()  # a user-given work dir keeps what it holds


# --- item 3: retention and disk ------------------------------------------------------------------


def test_retention_is_enforced_when_jobs_finish(tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    with running_server("--work-dir", str(work_dir), "--keep-finished", "2") as s:
        client = s.client()
        ids = [finished(client, submit(s, tmp_path, name=f"{i}.png")["id"])["id"] for i in range(3)]
        wait_for(lambda: [j["id"] for j in json.loads(client.request("GET", "/jobs")[2])] == ids[1:])
        assert [p.name for p in job_folders(work_dir)] == sorted(ids[1:])
        with pytest.raises(BackendError) as e:
            client.job(ids[0])
        assert e.value.status == 404


def test_a_disk_budget_evicts_the_oldest_finished_jobs_and_info_reports_usage(tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    budget_mb = 0.008
    with running_server("--work-dir", str(work_dir), "--max-disk-mb", str(budget_mb)) as s:
        client = s.client()
        ids = []
        for i in range(6):
            ids.append(finished(client, submit(s, tmp_path, name=f"{i}.png")["id"])["id"])
            # Eviction follows the job's end: wait until it is over and the figures agree.
            disk = wait_for(lambda: (d := client.info()["disk"])["used_bytes"] <= d["max_bytes"]
                            and d["used_bytes"] == folder_bytes(work_dir) and d)
            assert disk["max_bytes"] == int(budget_mb * 2**20)
        kept = [j["id"] for j in json.loads(client.request("GET", "/jobs")[2])]
        assert 1 <= len(kept) < 6 and kept == ids[-len(kept):]  # the newest are kept, the oldest went
        assert client.info()["disk"]["jobs"] == len(kept) == len(job_folders(work_dir))


# --- item 4: a full server refuses before decoding -------------------------------------------------


def test_a_full_queue_refuses_an_upload_before_decoding_it(tmp_path: Path) -> None:
    with running_server("--max-queued", "1") as s:
        client = s.client()
        running = submit(s, tmp_path, name="slow.png")
        wait_for(lambda: client.job(running["id"])["state"] == "running")
        submit(s, tmp_path, name="queued.png")
        status, reply = post(s, "notes.txt", b"not an image at all")  # decoding it would say 422
        assert status == 503 and "queue is full" in reply["detail"]
        client.cancel(running["id"])


# --- item 6: only the formats the README lists -----------------------------------------------------


def saved(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 10, 10)).save(buf, fmt)
    return buf.getvalue()


def corrupt_dds() -> bytes:
    """A DDS whose pixel format is a FourCC Pillow does not know: NotImplementedError inside Pillow."""
    data = bytearray(saved("DDS"))
    data[80:84], data[84:88] = (4).to_bytes(4, "little"), b"XXXX"  # pixel format flags: FourCC; the code
    return bytes(data)


@pytest.mark.parametrize(("name", "data"), [
    ("broken.dds", corrupt_dds()),
    ("figure.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"),  # would run Ghostscript
    ("flat.gif", saved("GIF")),
    ("flat.bmp", saved("BMP")),
])
def test_other_formats_get_a_json_4xx(tmp_path: Path, name: str, data: bytes) -> None:
    with running_server() as s:
        status, reply = post(s, name, data)
        assert status == 422 and "not an image format DiffPaint can read" in reply["detail"]
        assert s.client().health() == {"status": "ok"}
    (tmp_path / name).write_bytes(data)
    cli = subprocess.run([sys.executable, "-m", "diffpaint", "reconstruct", str(tmp_path / name), "--out",
                          str(tmp_path / "out")], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert cli.returncode != 0 and "not an image format DiffPaint can read" in cli.stderr
    assert "Traceback" not in cli.stderr


# --- item 7: hostile clients, file modes, tokens -------------------------------------------------


def test_idle_and_stalled_connections_are_closed(tmp_path: Path) -> None:
    with running_server("--request-timeout", "1") as s:
        host, port = s.url.removeprefix("http://").rsplit(":", 1)
        socks = [socket.create_connection((host, int(port)), timeout=30) for _ in range(4)]
        socks[1].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # headers begun, never ended
        socks[2].sendall(f"POST /jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {s.token}\r\n"
                         "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000\r\n\r\n--b\r\n"
                         .encode())  # a body that stalls
        socks[3].sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")  # a keep-alive connection, left idle
        replies = []
        for sock in socks:
            data = b""
            while chunk := sock.recv(65536):  # a closed connection reads b""; an open one would time out
                data += chunk
            replies.append(data)
            sock.close()
        assert replies[0] == replies[1] == b""
        assert replies[2].startswith(b"HTTP/1.1 408") and b"stalled" in replies[2]
        assert replies[3].startswith(b"HTTP/1.1 200")
        assert s.client().health() == {"status": "ok"}


def test_job_files_are_private_to_the_servers_user(tmp_path: Path) -> None:
    work_dir = tmp_path / "work"
    with running_server("--work-dir", str(work_dir)) as s:
        job = finished(s.client(), submit(s, tmp_path)["id"])
        assert job["state"] == "done"
        paths = [work_dir, *work_dir.rglob("*")]
        assert len(paths) > 5
        for path in paths:
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, (path, oct(path.stat().st_mode))


def test_a_non_ascii_token_works_for_clients_that_send_utf8(tmp_path: Path) -> None:
    token = "grüße-aus-köln-0123456789"
    with running_server(token=token) as s:
        status, reply = post(s, "painting.png", png_bytes(), token=token.encode("utf-8"))
        assert status == 201, reply
        status, reply = post(s, "painting.png", png_bytes(), token=token.encode("latin-1"))
        assert status == 401 and "bearer token" in reply["detail"]


def test_short_tokens_are_refused_and_a_token_file_is_read(tmp_path: Path) -> None:
    env = {**os.environ, "DIFFPAINT_TOKEN": "secret"}
    proc = subprocess.run([sys.executable, "-m", "diffpaint", "serve", "--port", "0"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "the token has 6 characters; use at least 16" in proc.stderr
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "-from-a-file\n")
    with running_server("--token-file", str(token_file), token="") as s:
        assert Client(s.url, TOKEN + "-from-a-file").info()["version"]
        with pytest.raises(BackendError) as e:
            Client(s.url, TOKEN).info()
        assert e.value.status == 401


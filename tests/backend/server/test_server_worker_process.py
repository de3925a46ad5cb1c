"""WorkerProcess: how the server drives each job's worker process, with real child processes."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from blender_helpers import ROOT
from server_helpers import write_png

from diffpaint.server.worker_process import WorkerProcess
from diffpaint_shared.jobschema import JobSettings
from diffpaint_shared.progress import Event
from diffpaint_shared.strokefile import load


def fake_backend(tmp_path: Path, body: str) -> list[str]:
    script = tmp_path / "fake_backend.py"
    script.write_text("import json, os, subprocess, sys, time\n"
                      "def emit(**e):\n    print(json.dumps(e), flush=True)\n" + textwrap.dedent(body))
    return [sys.executable, str(script)]


def run_to_end(job: WorkerProcess, timeout: float = 60) -> list[Event]:
    events: list[Event] = []
    deadline = time.monotonic() + timeout
    while not job.finished:
        assert time.monotonic() < deadline, f"backend did not finish; events so far: {events}"
        events += job.poll()
        time.sleep(0.02)
    return events


def test_progress_then_done(tmp_path: Path) -> None:
    job = WorkerProcess(fake_backend(tmp_path, """
        print("loading model...")            # stray output is ignored
        print("[1, 2]")
        emit(event="progress", phase="paint", level=1, levels=2, iteration=1, iterations=2, fraction=0.25)
        emit(event="progress", phase="paint", level=2, levels=2, iteration=2, iterations=2, fraction=1.0)
        emit(event="done", strokes="/somewhere/strokes.json")
    """))
    job.start()
    events = run_to_end(job)
    assert [e["event"] for e in events] == ["progress", "progress", "done"]
    assert events[0]["fraction"] == 0.25
    assert events[-1]["strokes"] == "/somewhere/strokes.json"
    assert job.returncode == 0 and not job.cancelled


def test_backend_error_message_is_passed_on(tmp_path: Path) -> None:
    job = WorkerProcess(fake_backend(tmp_path, """
        emit(event="error", message="cannot read image 'x.png'")
        sys.exit(1)
    """))
    job.start()
    assert run_to_end(job) == [{"event": "error", "message": "cannot read image 'x.png'"}]


def test_crash_reports_exit_status_and_stderr(tmp_path: Path) -> None:
    job = WorkerProcess(fake_backend(tmp_path, """
        emit(event="progress", fraction=0.1)
        raise SystemExit("ModuleNotFoundError: No module named 'torch'")
    """))
    job.start()
    events = run_to_end(job)
    assert [e["event"] for e in events] == ["progress", "error"]
    assert "exited with status 1" in events[-1]["message"]
    assert "No module named 'torch'" in events[-1]["message"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("pass", "without producing a stroke file"),  # clean exit, no result
        ("emit(event='done', strokes='/x.json'); sys.exit(4)", "exited with status 4"),  # done, then failed
    ],
)
def test_done_requires_both_the_event_and_a_clean_exit(tmp_path: Path, body: str, message: str) -> None:
    job = WorkerProcess(fake_backend(tmp_path, body))
    job.start()
    (event,) = run_to_end(job)
    assert event["event"] == "error" and message in event["message"]


def test_chatty_stderr_cannot_stall_the_backend(tmp_path: Path) -> None:
    job = WorkerProcess(fake_backend(tmp_path, """
        for i in range(20000):
            print("tqdm-like noise " * 8, file=sys.stderr)
        emit(event="done", strokes="/x.json")
    """))
    job.start()
    assert run_to_end(job, timeout=30)[-1]["event"] == "done"


def in_thread(fn: Callable[[], list[Event]], deadline: float = 30) -> list[Event]:
    """fn's result, which must come well within `deadline` seconds (the child below sleeps far longer)."""
    result: list[list[Event]] = []
    thread = threading.Thread(target=lambda: result.append(fn()), daemon=True)
    thread.start()
    thread.join(deadline)
    assert result, f"no return within {deadline} s"
    return result[0]


def test_poll_never_blocks_and_a_poll_with_a_timeout_wakes_on_output(tmp_path: Path) -> None:
    ready = tmp_path / "go"
    job = WorkerProcess(fake_backend(tmp_path, f"""
        while not os.path.exists({str(ready)!r}):
            time.sleep(0.02)
        emit(event="progress", fraction=0.5)
        time.sleep(600)
    """))
    job.start()
    try:
        assert in_thread(job.poll) == []  # nothing yet, and no wait for the child's 600 s
        ready.touch()
        assert in_thread(lambda: job.poll(timeout=600)) == [{"event": "progress", "fraction": 0.5}]
    finally:
        job.cancel()


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan stays a zombie until some ancestor reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
def test_cancel_stops_the_backend_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    job = WorkerProcess(fake_backend(tmp_path, f"""
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        emit(event="progress", fraction=0.0)
        time.sleep(60)
    """))
    job.start()
    deadline = time.monotonic() + 20
    while not job.poll():
        assert time.monotonic() < deadline
        time.sleep(0.02)
    job.cancel()
    assert job.finished and job.cancelled and job.returncode is not None
    assert job.poll() == []  # nothing more after a cancel, not even a terminal event
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while running(child):  # the grandchild is stopped with its process group
        assert time.monotonic() < deadline, "the backend's child outlived the cancel"
        time.sleep(0.05)
    job.cancel()  # idempotent


def test_missing_interpreter_raises_a_clear_error(tmp_path: Path) -> None:
    job = WorkerProcess([str(tmp_path / "no-such-python"), "-m", "diffpaint"])
    with pytest.raises(OSError, match="cannot start the worker"):
        job.start()


def test_real_worker_fits_a_job_folder(tmp_path: Path) -> None:
    """The real `python -m diffpaint.server.worker JOB_DIR`, at toy settings: level events, then done."""
    write_png(tmp_path / "input.png", 40, 30)
    settings = {"strokes": 6, "levels": 2, "size": 32, "iterations": 3, "rounds": 1}
    (tmp_path / "job.json").write_text(json.dumps({"image": "input.png", "source": "tiny.png", "device": "cpu",
                                                   "settings": {**JobSettings().as_dict(), **settings}}))
    job = WorkerProcess([sys.executable, "-m", "diffpaint.server.worker", str(tmp_path)], cwd=str(ROOT))
    job.start()
    events = run_to_end(job, timeout=600)
    assert events[-1]["event"] == "done", events[-1]
    assert [e["level"] for e in events if e["event"] == "level"] == [1, 2]
    assert all(0.0 <= e["fraction"] <= 1.0 for e in events if e["event"] == "progress")
    doc = load(events[-1]["strokes"])
    assert (doc.canvas.width, doc.canvas.height) == (32, 24) and 1 <= len(doc.strokes) <= 6
    assert (tmp_path / "render.png").is_file() and (tmp_path / "level-1.json").is_file()


def test_real_worker_reports_a_bad_job_and_exits(tmp_path: Path) -> None:
    (tmp_path / "input.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    (tmp_path / "job.json").write_text(json.dumps({"image": "input.png", "source": "bad.png", "device": "cpu",
                                                   "settings": JobSettings().as_dict()}))
    job = WorkerProcess([sys.executable, "-m", "diffpaint.server.worker", str(tmp_path)], cwd=str(ROOT))
    job.start()
    (event,) = run_to_end(job, timeout=600)
    assert event["event"] == "error" and "input.png" in event["message"], event
    assert job.returncode == 2

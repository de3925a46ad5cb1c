"""'Set Up Backend': the commands it would run, and the runner that shows their progress, with
stand-in commands (no real multi-GB install)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from blender_helpers import ROOT

from diffpaint_addon.backend_setup import (
    SetupJob,
    find_backend_source,
    is_backend_source,
    new_build_dir,
    setup_commands,
    venv_python,
)


def test_commands_create_a_venv_install_a_copy_of_the_source_and_check_it(tmp_path: Path) -> None:
    venv = str(tmp_path / "backend-venv")
    steps = setup_commands("/blender/python/bin/python3.11", venv, "/src/diffpaint", "/tmp/build/src")
    py = venv_python(venv)
    assert py == str(tmp_path / "backend-venv" / "bin" / "python")
    assert [argv for _, argv in steps if not callable(argv)] == [
        ["/blender/python/bin/python3.11", "-m", "venv", venv],
        [py, "-m", "pip", "install", "--upgrade", "pip"],
        [py, "-m", "pip", "install", "--progress-bar", "off", "/tmp/build/src"],
        [py, "-m", "diffpaint", "--version"],
    ]
    assert all(label for label, _ in steps)


def test_installing_builds_in_a_copy_and_leaves_the_source_untouched(tmp_path: Path) -> None:
    """pip builds in the tree it installs (build/, *.egg-info): in the installed extension's
    backend_src that would change the extension. The install step gets a copy, removed afterwards."""
    source = tmp_path / "extension" / "backend_src"
    (source / "backend" / "diffpaint").mkdir(parents=True)
    (source / "pyproject.toml").write_text("[project]\nname = 'diffpaint'\n")
    (source / "backend" / "diffpaint" / "__init__.py").write_text("")
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    build = new_build_dir()
    steps = setup_commands(sys.executable, str(tmp_path / "venv"), str(source), build)
    copy = next(work for label, work in steps if callable(work))
    install = next(argv for label, argv in steps if not callable(argv) and "install" in argv and "pip" not in argv[-1])
    # A stand-in pip: builds in the folder it installs, as setuptools does.
    pip = py("import os, sys; os.makedirs(os.path.join(sys.argv[1], 'build')); "
             "os.makedirs(os.path.join(sys.argv[1], 'diffpaint.egg-info')); "
             "print('built', os.path.isfile(os.path.join(sys.argv[1], 'pyproject.toml')))") + [install[-1]]
    job = SetupJob([("Copying", copy), ("Installing", pip)], python="x", scratch=os.path.dirname(build))
    job.start()
    job.wait(30)
    assert job.state == "done", job.error
    assert list(job.output) == ["built True"]  # it built a full copy of the source
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before
    assert not os.path.exists(os.path.dirname(build))  # the copy is gone


def test_backend_source_is_found_in_this_checkout_or_where_told(tmp_path: Path, monkeypatch) -> None:
    assert is_backend_source(ROOT) and not is_backend_source(tmp_path)
    monkeypatch.delenv("DIFFPAINT_BACKEND_SOURCE", raising=False)
    assert find_backend_source() == str(ROOT)  # the add-on runs from this checkout
    assert find_backend_source(str(tmp_path)) == str(ROOT)  # a folder without the backend is skipped
    monkeypatch.setenv("DIFFPAINT_BACKEND_SOURCE", str(ROOT))
    assert find_backend_source() == str(ROOT)


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_setup_job_runs_the_steps_in_order_and_shows_their_output(tmp_path: Path) -> None:
    marker = tmp_path / "order"
    job = SetupJob([
        ("First", py(f"open({str(marker)!r}, 'a').write('1'); print('made it')")),
        ("Second", py(f"open({str(marker)!r}, 'a').write('2'); print('diffpaint 0.1.0')")),
    ], python="/venv/bin/python")
    assert job.state == "running" and job.fraction == 0.0
    job.start()
    job.wait(30)
    assert job.state == "done" and job.fraction == 1.0
    assert marker.read_text() == "12"
    assert job.status == "Backend ready: diffpaint 0.1.0"
    assert list(job.output) == ["made it", "diffpaint 0.1.0"]


def test_a_failing_step_stops_the_set_up_with_its_last_words(tmp_path: Path) -> None:
    job = SetupJob([
        ("Installing", py("import sys; print('ERROR: No matching distribution found for torch'); sys.exit(1)")),
        ("Never", py(f"open({str(tmp_path / 'ran')!r}, 'w')")),
    ], python="x")
    job.start()
    job.wait(30)
    assert job.state == "failed"
    assert job.error == "Installing failed (exit status 1): ERROR: No matching distribution found for torch"
    assert not (tmp_path / "ran").exists()


def test_a_missing_interpreter_is_a_clear_failure(tmp_path: Path) -> None:
    job = SetupJob([("Creating the virtual environment", [str(tmp_path / "no-python"), "-m", "venv", "v"])],
                   python="x")
    job.start()
    job.wait(30)
    assert job.state == "failed" and "cannot run" in job.error


def test_cancel_stops_a_running_step() -> None:
    job = SetupJob([("Installing", py("import time; print('working', flush=True); time.sleep(60)"))], python="x")
    job.start()
    import time

    deadline = time.monotonic() + 20
    while not job.output:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    job.cancel()
    job.wait(10)
    assert job.state == "failed"

"""Batches and sequences as Ray tasks on a real local Ray (2 CPUs), and a worker killed mid-batch."""

import os
import signal
import threading
import time

import pytest

from diffpaint import cli
from diffpaint.batch.atomic import partial_pid
from diffpaint.imageio import read_image, save_png
from diffpaint_shared import sequence

ray = pytest.importorskip("ray")

TINY = ["--size", "32", "--strokes", "8", "--levels", "1", "--iterations", "6", "--rounds", "1", "--engine", "ray"]


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


@pytest.fixture
def image_folder(tmp_path, painting_path):
    folder = tmp_path / "in"
    folder.mkdir()
    image = read_image(painting_path, 96).rgb
    for i in range(4):
        save_png(image[8 * i: 8 * i + 32, 8 * i: 8 * i + 32], folder / f"crop{i}.png")
    return folder


def test_batch_and_sequence_run_as_ray_tasks(tmp_path, image_folder, capsys):
    frames = tmp_path / "in" / "shot"  # a subfolder of frames: a sequence item of the batch
    frames.mkdir()
    for i in range(3):
        (frames / f"f{i}.png").write_bytes((image_folder / f"crop{i}.png").read_bytes())
    out = tmp_path / "out"
    assert cli.main(["batch", str(image_folder), "--out", str(out), "--sequences", "--chunk", "2",
                     "--warm-iterations", "3", *TINY]) == 0
    assert "engine: ray" in capsys.readouterr().err
    for i in range(4):
        assert (out / f"crop{i}" / "strokes.json").is_file()
    manifest = sequence.load(out / "shot" / sequence.MANIFEST_NAME)
    assert [(f.chunk, f.warm) for f in manifest.frames] == [(0, False), (0, True), (1, False)]
    assert all(sequence.resolve(out / "shot" / "sequence.json", f.strokes).is_file() for f in manifest.frames)


def test_a_worker_killed_mid_batch_loses_nothing(tmp_path, image_folder):
    out = tmp_path / "out"
    status: list[int] = []
    batch = threading.Thread(target=lambda: status.append(cli.main(["batch", str(image_folder), "--out", str(out),
                                                                     *TINY])))
    batch.start()
    victim = None
    deadline = time.monotonic() + 300
    while victim is None and batch.is_alive() and time.monotonic() < deadline:
        partials = [p for p in out.glob(".*") if partial_pid(p)] if out.is_dir() else []
        victim = partial_pid(partials[0]) if partials else None
        time.sleep(0.02)
    assert victim is not None, "no item was seen running"
    os.kill(victim, signal.SIGKILL)  # the Ray worker writing that item dies mid-write
    batch.join(timeout=600)
    assert status == [0]
    assert sorted(p.name for p in out.iterdir()) == [f"crop{i}" for i in range(4)]  # no partial folder left
    for i in range(4):
        assert (out / f"crop{i}" / "report.json").is_file()

"""`diffpaint batch` in-process: one result folder per image, made whole or not at all, resumable."""

import os

import pytest

from diffpaint import cli
from diffpaint.batch.atomic import atomic_folder, partial_pid, remove_partials
from diffpaint.imageio import read_image, save_png
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import SETTINGS

TINY = ["--size", "32", "--strokes", "8", "--levels", "1", "--iterations", "4", "--rounds", "1"]


@pytest.fixture
def image_folder(tmp_path, painting_path):
    folder = tmp_path / "in"
    folder.mkdir()
    image = read_image(painting_path, 64).rgb
    save_png(image[:32, :32], folder / "left.png")
    save_png(image[:32, -32:], folder / "right.png")
    (folder / "notes.txt").write_text("not an image: ignored")
    return folder


def test_atomic_folder_appears_whole_or_not_at_all(tmp_path):
    final = tmp_path / "result"
    with pytest.raises(RuntimeError), atomic_folder(final) as partial:
        (partial / "half.json").write_text("{")
        assert partial_pid(partial) == os.getpid()
        raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    with atomic_folder(final) as partial:
        (partial / "whole.json").write_text("{}")
    assert [p.name for p in final.iterdir()] == ["whole.json"]
    assert partial_pid(final) is None


def test_batch_writes_a_result_per_image_and_skips_what_is_done(tmp_path, image_folder, capsys):
    out = tmp_path / "out"
    killed_writer = out / ".left.partial-12345-abcd"  # what a batch killed mid-item leaves
    killed_writer.mkdir(parents=True)
    assert cli.main(["batch", str(image_folder), "--out", str(out), "--engine", "local", *TINY]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["left", "right"]  # the killed writer's leftovers removed
    for name in ("left", "right"):
        assert {"strokes.json", "render.png", "target.png", "report.json", "log.txt"} <= {
            p.name for p in (out / name).iterdir()}
        assert "strokes, PSNR" in (out / name / "log.txt").read_text()  # what `reconstruct` says of its run
    err = capsys.readouterr().err
    assert "2 of 2 items to do" in err and "[2/2]" in err

    (out / "right").rename(tmp_path / "right-away")  # as if the batch had stopped before "right"
    stamp = (out / "left" / "strokes.json").stat().st_mtime_ns
    assert cli.main(["batch", str(image_folder), "--out", str(out), "--engine", "local", *TINY]) == 0
    assert "1 of 2 items to do (1 done before)" in capsys.readouterr().err
    assert (out / "left" / "strokes.json").stat().st_mtime_ns == stamp
    assert (out / "right" / "strokes.json").is_file()


def test_a_bad_image_fails_alone_with_its_reason(tmp_path, image_folder, capsys):
    (image_folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "out"
    assert cli.main(["batch", str(image_folder), "--out", str(out), "--engine", "local", *TINY]) == 1
    captured = capsys.readouterr()
    assert "broken: FAILED" in captured.err and "truncated or corrupt" in captured.err
    assert "2 of 3 done, 1 failed" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["left", "right"]  # nothing half-made for "broken"


def test_batch_refuses_inputs_that_share_a_result_folder(tmp_path, image_folder, capsys):
    save_png(read_image(image_folder / "left.png", 32).rgb, image_folder / "left.webp")
    assert cli.main(["batch", str(image_folder), "--out", str(tmp_path / "out"), "--engine", "local"]) == 2
    assert "share a result folder: left" in capsys.readouterr().err


def test_remove_partials_touches_only_partial_folders(tmp_path):
    (tmp_path / "done").mkdir()
    (tmp_path / ".done.partial-77-ab").mkdir()
    (tmp_path / ".hidden").mkdir()
    assert remove_partials(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "done"]


def test_batch_options_are_the_job_settings_with_their_defaults(tmp_path, capsys):
    args = cli._parser().parse_args(["batch", str(tmp_path), "--out", str(tmp_path / "out")])
    assert {s.name: getattr(args, s.name) for s in SETTINGS} == {s.name: s.default for s in SETTINGS}
    assert cli.main(["batch", str(tmp_path), "--out", str(tmp_path / "out"), "--strokes", "2", "--levels", "3"]) == 2
    assert "cannot cover 3 levels" in capsys.readouterr().err


def test_a_batch_of_images_takes_reconstruct_settings_through(tmp_path, image_folder):
    out = tmp_path / "out"
    argv = ["batch", str(image_folder), "--out", str(out), "--engine", "local", "--style", "ink", "--background",
            "white", *TINY]
    assert cli.main(argv) == 0
    doc = strokefile.load(out / "left" / "strokes.json")
    assert doc.textures and doc.canvas.background == (1.0, 1.0, 1.0)
    assert doc.metadata["settings"]["style"] == "ink"

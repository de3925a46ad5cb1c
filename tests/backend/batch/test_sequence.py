"""Image sequences: warm-started frame fitting (diffpaint.batch.sequence) and `diffpaint sequence`."""

import json

import numpy as np
import pytest
import torch

from diffpaint import cli
from diffpaint.batch.sequence import SequenceSettings, estimate_shift, fit_frames
from diffpaint.batch.synthetic import pan
from diffpaint.fit.optimize import Settings
from diffpaint.imageio import read_image, save_png
from diffpaint.painting import from_stroke_file
from diffpaint_shared import sequence, strokefile

SMALL = ["--size", "32", "--strokes", "16", "--levels", "2", "--iterations", "6", "--rounds", "1",
         "--warm-iterations", "5", "--engine", "local"]


@pytest.fixture(scope="module")
def frames(painting_path):
    return pan(read_image(painting_path, 160).rgb, 48, 4, step=(2, 1))


@pytest.fixture(scope="module")
def frame_folder(tmp_path_factory, frames):
    folder = tmp_path_factory.mktemp("frames")
    for i, f in enumerate(frames[:3]):
        save_png(f, folder / f"shot_{i + 9}.png")  # shot_9 comes before shot_10: names sort naturally
    return folder


def test_estimate_shift_finds_the_pan(frames):
    assert estimate_shift(frames[0], frames[1]) == (-2.0, -1.0)  # the window moves right/down: content left/up
    assert estimate_shift(frames[1], frames[1]) == (0.0, 0.0)


def test_warm_frames_carry_strokes_over_and_keep_the_budget(frames):
    background = tuple(frames[0].mean(dim=(0, 1)).tolist())
    settings = SequenceSettings(fit=Settings(strokes=24, levels=2, iterations=8, rounds=1), warm_iterations=5)
    fits = list(fit_frames(frames, background, settings, first_id=100))
    assert [f.warm for f in fits] == [False, True, True, True]
    assert min(fits[0].stroke_ids) == 100
    for before, after in zip(fits, fits[1:], strict=False):
        assert len(after.stroke_ids) == len(set(after.stroke_ids)) == len(after.painting.paint) <= 24
        assert after.carried == len(set(before.stroke_ids) & set(after.stroke_ids)) >= len(before.stroke_ids) // 2
        born = set(after.stroke_ids) - set(before.stroke_ids)
        assert all(i > max(before.stroke_ids) for i in born)  # a new stroke never reuses an id
        assert after.shift == (-2.0, -1.0)
        assert after.psnr > 15.0


def test_independent_frames_share_no_strokes(frames):
    background = tuple(frames[0].mean(dim=(0, 1)).tolist())
    settings = SequenceSettings(fit=Settings(strokes=12, levels=1, iterations=4, rounds=1), warm=False)
    fits = list(fit_frames(frames[:2], background, settings))
    assert not fits[1].warm and not set(fits[0].stroke_ids) & set(fits[1].stroke_ids)


def test_sequence_command_writes_a_manifest_per_frame_and_resumes(tmp_path, frame_folder, capsys):
    out = tmp_path / "anim"
    assert cli.main(["sequence", str(frame_folder), "--out", str(out), "--chunk", "2", *SMALL]) == 0
    manifest = sequence.load(out / "sequence.json")
    assert [f.source for f in manifest.frames] == ["shot_9.png", "shot_10.png", "shot_11.png"]
    assert [f.warm for f in manifest.frames] == [False, True, False]  # the second chunk starts cold
    assert [f.chunk for f in manifest.frames] == [0, 0, 1]
    assert (manifest.width, manifest.height, manifest.fps) == (32, 32, 24.0)
    assert manifest.carried_over(1) > 0 and manifest.carried_over(2) == 0
    assert not set(manifest.frames[1].stroke_ids) & set(manifest.frames[2].stroke_ids)
    for frame in manifest.frames:
        doc = strokefile.load(sequence.resolve(out / "sequence.json", frame.strokes))
        assert len(doc.strokes) == len(frame.stroke_ids) and doc.metadata["frame"] == frame.index
        assert len(from_stroke_file(doc).paint) == len(frame.stroke_ids)
        assert sequence.resolve(out / "sequence.json", frame.render).is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no partial folder left

    # Run again: everything is there, nothing is fitted again.
    before = (out / "chunk-0000" / "frame-00000.json").stat().st_mtime_ns
    capsys.readouterr()
    assert cli.main(["sequence", str(frame_folder), "--out", str(out), "--chunk", "2", *SMALL]) == 0
    assert "0 of 0 items to do" in capsys.readouterr().err
    assert (out / "chunk-0000" / "frame-00000.json").stat().st_mtime_ns == before


def test_sequence_from_a_video_file(tmp_path, frames):
    import imageio_ffmpeg

    video = tmp_path / "pan.mp4"
    writer = imageio_ffmpeg.write_frames(str(video), (48, 48), fps=10, macro_block_size=16)
    writer.send(None)
    for f in frames[:2]:
        writer.send(np.ascontiguousarray((f.numpy() * 255).round().astype(np.uint8)))
    writer.close()
    out = tmp_path / "anim"
    assert cli.main(["sequence", str(video), "--out", str(out), *SMALL]) == 0
    manifest = sequence.load(out / "sequence.json")
    assert len(manifest.frames) == 2 and manifest.fps == 10.0 and manifest.frames[1].warm
    assert json.loads((out / "sequence.json").read_text())["metadata"]["source"] == "pan.mp4"


def test_bad_sequence_input_fails_clearly_and_leaves_nothing(tmp_path, capsys):
    out = tmp_path / "anim"
    assert cli.main(["sequence", str(tmp_path / "missing_*.png"), "--out", str(out), *SMALL]) == 2
    assert "no frames found" in capsys.readouterr().err
    assert not out.exists()


def test_frames_of_different_sizes_are_refused(tmp_path, frames, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    save_png(frames[0], folder / "f1.png")
    save_png(torch.zeros(40, 48, 3), folder / "f2.png")
    assert cli.main(["sequence", str(folder), "--out", str(tmp_path / "anim"), *SMALL]) == 2
    assert "f2.png is 48×40 px" in capsys.readouterr().err
    assert not (tmp_path / "anim").exists()


@pytest.mark.parametrize("option", [["--smudge"], ["--style", "oil"]])
def test_settings_a_sequence_cannot_carry_are_refused_before_any_work(tmp_path, frame_folder, capsys, option):
    with pytest.raises(SystemExit):  # `sequence` does not offer them
        cli._parser().parse_args(["sequence", str(frame_folder), "--out", str(tmp_path), *option])
    out = tmp_path / "out"
    folder = tmp_path / "in"
    (folder / "shot").mkdir(parents=True)
    for frame in sorted(frame_folder.iterdir()):
        (folder / "shot" / frame.name).write_bytes(frame.read_bytes())
    argv = ["batch", str(folder), "--sequences", "--out", str(out), *SMALL, *option]
    assert cli.main(argv) == 2
    assert "smudge and painting media are not supported" in capsys.readouterr().err
    assert not out.exists()


def test_the_temporal_term_holds_what_did_not_change(frames):
    # The right third of the second frame is new; the rest is the first frame's, pixel for pixel.
    first = frames[0]
    second = first.clone()
    second[:, 32:] = frames[3][:, 32:].flip(0)
    background = tuple(first.mean(dim=(0, 1)).tolist())
    still = torch.zeros(first.shape[:2], dtype=torch.bool)
    still[:, :24] = True  # left of the change, with a margin for strokes that straddle it
    change = {}
    for temporal in (0.0, 5.0):
        fit = Settings(strokes=16, levels=2, iterations=8, rounds=1, joint_iterations=10, relocation_iterations=5)
        # 20 warm steps: refine's learning rate ramps up over its first 10, so 10 would barely move a stroke.
        settings = SequenceSettings(fit=fit, warm_iterations=20, follow_motion=False, keyframe_share=1.0,
                                    temporal=temporal)
        before, after = fit_frames([first, second], background, settings)
        assert after.warm
        change[temporal] = (after.canvas - before.canvas).abs().mean(dim=-1)[still].mean().item()
    assert change[5.0] < 0.5 * change[0.0]

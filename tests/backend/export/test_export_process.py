"""Process media (MP4, GIF, PNG frames) and scaled renders of a real reconstruction."""

import subprocess
import sys
from dataclasses import replace

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from diffpaint.export.process import Timing, build_frames, save_animation, stroke_counts
from diffpaint.imageio import load_image, resize
from diffpaint.metrics import psnr
from diffpaint.painting import Painting, from_stroke_file, render_painting, to_stroke_file
from diffpaint.render.smudge import SmudgeSettings, SmudgeStrokes
from diffpaint.style import attach_style, initial_style, render_styled_painting, styled_painting
from diffpaint_shared import strokefile as sf


def _diffpaint(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diffpaint", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def _painting(reconstruction):
    doc = sf.load(reconstruction / "strokes.json")
    background = torch.tensor(doc.canvas.background).expand(doc.canvas.height, doc.canvas.width, 3).contiguous()
    return from_stroke_file(doc), background


def test_stroke_counts_run_from_one_stroke_to_all():
    assert stroke_counts(10, 4) == [1, 4, 7, 10]
    counts = stroke_counts(5, 12)  # more frames than strokes: each count repeats
    assert len(counts) == 12 and counts[0] == 1 and counts[-1] == 5 and counts == sorted(counts)
    assert stroke_counts(0, 3) == [0, 0, 0]


def test_incremental_frames_equal_rendering_each_prefix(reconstruction):
    strokes, background = _painting(reconstruction)
    counts = [0, 1, 2, 30, 30, len(strokes) // 2, len(strokes)]
    frames = build_frames(strokes, background, counts)
    with torch.no_grad():
        for n, frame in zip(counts, frames, strict=True):
            expected = render_painting(strokes.span(0, n), background)
            assert torch.allclose(frame, expected, atol=1e-5), n
    with pytest.raises(ValueError, match="must not decrease"):
        build_frames(strokes, background, [3, 2])


def test_timing_refuses_nonsense():
    for bad in ({"duration": 0.0}, {"hold": -1.0}, {"fps": 0.5}):
        with pytest.raises(ValueError, match="duration > 0"):
            Timing(**bad)


def test_video_builds_the_painting_then_holds_it(reconstruction, tmp_path):
    out = tmp_path / "process.mp4"
    proc = _diffpaint("video", reconstruction / "strokes.json", "--out", out, "--duration", "2", "--hold", "1",
                      "--fps", "12")
    assert proc.returncode == 0, proc.stderr
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = reader.__next__()
    width, height = meta["size"]
    frames = [torch.from_numpy(np.frombuffer(f, np.uint8).reshape(height, width, 3).astype(np.float32) / 255)
              for f in reader]
    assert len(frames) == 3 * 12
    final, _ = load_image(reconstruction / "render.png", 1 << 16)
    h, w = final.shape[:2]
    assert (width - w, height - h) in {(0, 0), (1, 0), (0, 1), (1, 1)}  # H.264 needs even sides
    frames = [f[:h, :w] for f in frames]
    errors = [psnr(f, final) for f in frames]
    assert errors[0] < errors[len(errors) // 2] < errors[24]  # the painting comes together...
    assert min(errors[24:]) > 32.0  # ...and holds, finished, for the last second (lossy H.264)


def test_side_by_side_gif_shows_the_target_beside_the_painting(reconstruction, tmp_path):
    out = tmp_path / "process.gif"
    proc = _diffpaint("video", reconstruction / "strokes.json", "--out", out, "--duration", "1", "--hold", "2",
                      "--side-by-side", reconstruction / "target.png", "--scale", "1.5")
    assert proc.returncode == 0, proc.stderr
    target, _ = load_image(reconstruction / "target.png", 1 << 16)
    h, w = round(1.5 * target.shape[0]), round(1.5 * target.shape[1])
    with Image.open(out) as gif:
        assert gif.size == (2 * w, h)
        assert gif.n_frames == 10  # 1 s at GIF's default 10 fps
        durations = []
        for i in range(gif.n_frames):
            gif.seek(i)
            durations.append(gif.info["duration"])
        gif.seek(gif.n_frames - 1)
        last = torch.from_numpy(np.asarray(gif.convert("RGB"), dtype=np.float32) / 255)
    assert sum(durations) == pytest.approx(3000, abs=50)
    assert psnr(last[:, :w], resize(target, w, h)) > 25.0  # GIF's 256-color palette


def test_bad_video_requests_fail_clearly(reconstruction, tmp_path):
    proc = _diffpaint("video", reconstruction / "strokes.json", "--out", tmp_path / "p.avi")
    assert proc.returncode == 2 and "written as .mp4 or .gif" in proc.stderr
    wrong = tmp_path / "square.png"
    Image.new("RGB", (50, 50)).save(wrong)
    proc = _diffpaint("video", reconstruction / "strokes.json", "--out", tmp_path / "p.mp4", "--side-by-side", wrong)
    assert proc.returncode == 2 and "not the painting's shape" in proc.stderr
    assert not (tmp_path / "p.mp4").exists()
    with pytest.raises(ValueError, match="written as"):
        save_animation([torch.zeros(8, 8, 3)], tmp_path / "p.webm", Timing())


def test_frames_at_chosen_steps(reconstruction, tmp_path):
    doc = sf.load(reconstruction / "strokes.json")
    n = len(doc.strokes)
    proc = _diffpaint("frames", reconstruction / "strokes.json", "--out", tmp_path / "f", "--steps", f"{n},1,10")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "f").iterdir()) == [f"strokes-{k:04d}.png" for k in (1, 10, n)]
    last, _ = load_image(tmp_path / "f" / f"strokes-{n:04d}.png", 1 << 16)
    final, _ = load_image(reconstruction / "render.png", 1 << 16)
    assert psnr(last, final) > 50.0
    proc = _diffpaint("frames", reconstruction / "strokes.json", "--out", tmp_path / "g", "--steps", f"{n + 1}")
    assert proc.returncode == 2 and f"the file has {n}" in proc.stderr
    proc = _diffpaint("frames", reconstruction / "strokes.json", "--out", tmp_path / "e", "--every", "40")
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "e").iterdir())) == len({*range(40, n, 40), n})


def _textured(reconstruction, path):
    """The reconstruction's paint strokes in two runs around a smudge, textured in oil with varied
    mappings, saved to `path`: (painting, style, background)."""
    plain, background = _painting(reconstruction)
    half = len(plain.paint) // 2
    smudge = SmudgeStrokes(torch.tensor([[[20.0, 40.0], [60.0, 50.0], [100.0, 40.0]]]), torch.tensor([[5.0, 5.0]]))
    painting = (Painting.empty(SmudgeSettings()).then_paint(plain.paint.select(slice(0, half)))
                .then_smudge(smudge, 0).then_paint(plain.paint.select(slice(half, None))))
    n = len(painting.paint)
    style = replace(initial_style("oil", n), u_scale=torch.linspace(0.5, 2.0, n), softness=torch.linspace(0.0, 0.6, n))
    painting = styled_painting(painting, style)
    doc = sf.load(reconstruction / "strokes.json")
    height, width = background.shape[:2]
    sf.save(attach_style(to_stroke_file(painting, width, height, doc.canvas.background, {}), style), path)
    return painting, style, background


def test_frames_of_a_textured_painting_are_textured(reconstruction, tmp_path):
    painting, style, background = _textured(reconstruction, tmp_path / "oil.json")
    total = len(painting)
    counts = [0, 3, len(painting.paint) // 2 + 1, total - 5, total]  # the third right after the smudge
    frames = build_frames(painting, background, counts, style=style)
    with torch.no_grad():
        for n, frame in zip(counts, frames, strict=True):
            prefix = painting.span(0, n)
            own = style.select(torch.arange(len(prefix.paint)))
            assert torch.allclose(frame, render_styled_painting(prefix, own, background), atol=1e-4), n
        assert psnr(frames[-1], render_painting(painting, background)) < 35.0  # the textures show

    proc = _diffpaint("frames", tmp_path / "oil.json", "--out", tmp_path / "f", "--steps", f"{total}")
    assert proc.returncode == 0, proc.stderr
    assert _diffpaint("render", tmp_path / "oil.json", "--out", tmp_path / "oil.png").returncode == 0
    last, _ = load_image(tmp_path / "f" / f"strokes-{total:04d}.png", 1 << 16)
    rendered, _ = load_image(tmp_path / "oil.png", 1 << 16)
    assert psnr(last, rendered) > 50.0


def _edge_width(row: torch.Tensor) -> int:
    """Pixels on a row between 10 % and 90 % of the way from dark to light."""
    lo, hi = float(row.min()), float(row.max())
    return int(((row > lo + 0.1 * (hi - lo)) & (row < lo + 0.9 * (hi - lo))).sum())


def test_a_4x_render_stays_sharp(tmp_path):
    black, white = (0.0, 0.0, 0.0), (1.0, 1.0, 1.0)
    stroke = sf.Stroke(points=((8.0, 16.3), (32.0, 16.3), (56.0, 16.3)), radius=(6.2, 6.2), color=(black, black))
    path = tmp_path / "one.json"
    sf.save(sf.StrokeFile(canvas=sf.Canvas(64, 32, white), strokes=(stroke,)), path)
    for scale in (1, 4):
        assert _diffpaint("render", path, "--out", tmp_path / f"x{scale}.png", "--scale", scale).returncode == 0
    small, _ = load_image(tmp_path / "x1.png", 1 << 16)
    big, _ = load_image(tmp_path / "x4.png", 1 << 16)
    assert big.shape[:2] == (128, 256)
    upscaled = resize(small, 256, 128)
    column = 128  # across the stroke, through its middle
    # An edge of a vector render spans ~1 output pixel at any scale; bicubic upscaling spreads it over ~4.
    sharp = [_edge_width(big[:64, column, 0]), _edge_width(big[64:, column, 0])]
    blurred = [_edge_width(upscaled[:64, column, 0]), _edge_width(upscaled[64:, column, 0])]
    assert max(sharp) <= 2 and min(blurred) >= 3, (sharp, blurred)

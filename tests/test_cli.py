import json
import subprocess
import sys

import pytest
import torch
from PIL import Image

from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint_shared import strokefile


def _diffpaint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "diffpaint", *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_reconstruct_writes_every_output(reconstruction):
    for name in ("strokes.json", "render.png", "target.png", "process.gif", "report.json"):
        assert (reconstruction / name).is_file(), name
    doc = strokefile.load(reconstruction / "strokes.json")
    report = json.loads((reconstruction / "report.json").read_text())
    assert len(doc.strokes) == report["strokes"] > 0
    assert report["psnr"] > report["blank_psnr"] + 5.0
    # The PNG is the backend's own render of the stroke file's strokes.
    target, _ = load_image(reconstruction / "target.png", 1 << 16)
    rendered, _ = load_image(reconstruction / "render.png", 1 << 16)
    assert abs(psnr(rendered, target) - report["psnr"]) < 0.2
    with Image.open(reconstruction / "process.gif") as gif:
        assert gif.n_frames > 1


def test_render_rescales_vector_strokes(reconstruction, tmp_path):
    out = tmp_path / "big.png"
    proc = _diffpaint("render", reconstruction / "strokes.json", "--out", out, "--scale", "2")
    assert proc.returncode == 0, proc.stderr
    doc = strokefile.load(reconstruction / "strokes.json")
    with Image.open(out) as im:
        assert im.size == (2 * doc.canvas.width, 2 * doc.canvas.height)
    small, _ = load_image(reconstruction / "render.png", 1 << 16)
    big, _ = load_image(out, 1 << 16)
    down = torch.nn.functional.avg_pool2d(big.permute(2, 0, 1)[None], 2)[0].permute(1, 2, 0)
    assert psnr(down, small) > 30.0


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"this is not an image", "not an image format"), (None, "could not be decoded")],
)
def test_bad_images_fail_clearly_and_write_nothing(tmp_path, painting_path, content, message):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(content if content is not None else painting_path.read_bytes()[:2000])
    out = tmp_path / "out"
    proc = _diffpaint("reconstruct", bad, "--out", out, "--progress-json")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1])["event"] == "error"
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--strokes", "0"], "must be a positive integer"), (["--strokes", "2"], "cannot cover 3 levels"),
     (["--background", "purple"], "--background must be"),
     (["--loss", "style=1"], "unknown loss term 'style'"), (["--loss", "ot=-1"], "ot"),
     (["--loss", "perceptual=0.1"], "perceptual loss needs a pretrained backbone")],
)
def test_absurd_parameters_are_refused(tmp_path, painting_path, args, message):
    proc = _diffpaint("reconstruct", painting_path, "--out", tmp_path / "o", "--size", "32", *args)
    assert proc.returncode == 2
    assert message in proc.stderr


def test_malformed_stroke_file_is_refused_by_render(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text('{"format": "diffpaint-strokes", "version": 9}')
    proc = _diffpaint("render", bad, "--out", tmp_path / "x.png")
    assert proc.returncode == 2
    assert "unsupported stroke file version 9" in proc.stderr


def test_render_of_a_file_with_smudges_is_the_reconstruction(painting_path, tmp_path):
    result = tmp_path / "r"
    proc = _diffpaint("reconstruct", painting_path, "--out", result, "--size", "96", "--strokes", "80",
                      "--iterations", "15", "--gif-frames", "4", "--smudge")
    assert proc.returncode == 0, proc.stderr
    doc = strokefile.load(result / "strokes.json")
    smudges = [s for s in doc.strokes if s.kind == "smudge"]
    report = json.loads((result / "report.json").read_text())
    assert len(smudges) == report["smudge_strokes"] > 0
    assert max(s.level for s in smudges) < max(doc.levels)  # the last level paints only
    out = tmp_path / "again.png"
    proc = _diffpaint("render", result / "strokes.json", "--out", out)
    assert proc.returncode == 0, proc.stderr
    again, _ = load_image(out, 1 << 16)
    rendered, _ = load_image(result / "render.png", 1 << 16)
    assert (again - rendered).abs().max() <= 1 / 255

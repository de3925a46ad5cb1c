import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from diffpaint.cli import _parser
from diffpaint.imageio import load_image
from diffpaint.metrics import MAX_PSNR, psnr
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import SETTINGS


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
    [(["--strokes", "0"], "argument --strokes: strokes must be at least 1, not 0"),
     (["--strokes", "2", "--levels", "3"], "cannot cover 3 levels"),
     (["--strokes", "many"], "strokes must be int, not 'many'"),
     (["--seed", "-1"], "seed must be between 0 and 2147483647, not -1"), (["--size", "4"], "size must be at least 8"),
     (["--background", "purple"], "argument --background: background must be 'mean' (of the image), 'white'"),
     (["--style", "gouache"], "style must be one of digital, oil, watercolor, ink, pencil"),
     (["--loss", "style=1"], "unknown loss term 'style'"), (["--loss", "ot=-1"], "ot"),
     (["--loss", "perceptual=inf"], "loss weight 'perceptual' must be a finite number")],
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


def strict_json(text: str) -> dict:
    """JSON as other languages read it: Infinity and NaN are not JSON."""
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_reconstruct_options_are_the_job_settings_with_their_defaults(tmp_path: Path) -> None:
    args = _parser().parse_args(["reconstruct", "x.png", "--out", str(tmp_path)])
    assert {s.name: getattr(args, s.name) for s in SETTINGS} == {s.name: s.default for s in SETTINGS}
    args = _parser().parse_args(["reconstruct", "x.png", "--out", str(tmp_path), "--smudge", "--style", "ink",
                                 "--background", "#102030", "--levels", "2"])
    assert (args.smudge, args.style, args.background, args.levels) == (True, "ink", "#102030", 2)
    help_text = " ".join(_diffpaint("reconstruct", "--help").stdout.split())  # as argparse wraps it
    assert "(default 256)" in help_text and "--smudge, --no-smudge" in help_text and "(default off)" in help_text


def test_stylize_needs_a_medium(reconstruction: Path, tmp_path: Path) -> None:
    proc = _diffpaint("stylize", reconstruction / "strokes.json", "--target", reconstruction / "target.png",
                      "--style", "digital", "--out", tmp_path / "s.json")
    assert proc.returncode == 2 and "invalid choice: 'digital'" in proc.stderr  # digital is plain strokes


@pytest.mark.parametrize("color", [(0, 0, 0), (200, 30, 60)], ids=["black", "one-color"])
def test_a_flat_image_is_fitted_and_written_as_strict_json(tmp_path: Path, color: tuple[int, int, int]) -> None:
    """A perfect fit has an infinite PSNR, which the stroke file refused after all the fitting."""
    image = tmp_path / "flat.png"
    Image.new("RGB", (40, 30), color).save(image)
    out = tmp_path / "out"
    proc = _diffpaint("reconstruct", image, "--out", out, "--size", "32", "--strokes", "4", "--levels", "2",
                      "--iterations", "3", "--rounds", "1", "--gif-frames", "2", "--progress-json")
    assert proc.returncode == 0, proc.stderr
    events = [strict_json(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "done" and all(e["event"] == "progress" for e in events[:-1])
    report = strict_json((out / "report.json").read_text())
    assert report["blank_psnr"] == MAX_PSNR  # the mean color is the image: the bare canvas is perfect
    assert 0 < report["psnr"] <= MAX_PSNR and events[-1]["psnr"] == report["psnr"]
    doc = strokefile.load(out / "strokes.json")
    assert doc.metadata["psnr"] == round(report["psnr"], 3)


@pytest.mark.parametrize(
    ("reference", "style", "message"),
    [("missing.png", "oil", "style reference: image not found: "),
     ("cut.jpg", "auto", "style reference: cut.jpg could not be decoded"),
     ("painting", "digital", "a style reference needs a painting medium")],
)
def test_an_unusable_style_reference_fails_clearly_and_writes_nothing(tmp_path, painting_path, reference, style,
                                                                      message):
    path = painting_path if reference == "painting" else tmp_path / reference
    if reference == "cut.jpg":
        path.write_bytes(painting_path.read_bytes()[:2000])
    out = tmp_path / "out"
    proc = _diffpaint("reconstruct", painting_path, "--out", out, "--size", "32", "--style", style,
                      "--style-reference", path)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert not out.exists()


def test_auto_style_with_a_reference_paints_a_textured_file(tmp_path, painting_path):
    from diffpaint import samples

    out = tmp_path / "out"
    proc = _diffpaint("reconstruct", painting_path, "--out", out, "--size", "32", "--strokes", "6", "--levels", "1",
                      "--iterations", "2", "--rounds", "1", "--style", "auto",
                      "--style-reference", samples.painting(436535).path)
    assert proc.returncode == 0, proc.stderr
    doc = strokefile.load(out / "strokes.json")
    assert doc.metadata["settings"]["style"] == "auto" and doc.textures
    assert {t.style for t in doc.textures.values()} == {doc.metadata["medium"]}
    assert doc.metadata["medium"] in {"oil", "watercolor", "ink"}

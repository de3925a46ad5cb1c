"""The job worker's adapter to the optimizer: today's progress-only optimizer, and the richer hooks
(live canvas on Progress, per-level strokes) it is ready for."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from diffpaint.fit.optimize import Progress, Reconstruction, Settings
from diffpaint.metrics import MAX_PSNR
from diffpaint.results import ResultFiles
from diffpaint.server.reconstructor import Reconstructor
from diffpaint.server.worker import JobFiles
from diffpaint.strokes import Strokes
from diffpaint_shared import strokefile
from diffpaint_shared.jobschema import JobSettings


@dataclass(frozen=True)
class ProgressWithCanvas(Progress):
    canvas: torch.Tensor | None = None


def strokes(n: int) -> Strokes:
    return Strokes(points=torch.tensor([[[2.0, 2.0], [8.0, 4.0], [14.0, 10.0]]] * n),
                   radius=torch.full((n, 2), 2.0), color=torch.full((n, 2, 3), 0.5), opacity=torch.ones(n),
                   level=torch.arange(n))


def events(capsys: pytest.CaptureFixture[str]) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_richer_optimizer_hooks_become_previews_and_level_files(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    canvas = torch.rand(12, 16, 3)

    def reconstruct(target, background, settings, on_progress=None, on_level=None) -> Reconstruction:
        for level in (1, 2):
            on_progress(ProgressWithCanvas("paint", level, 2, 1, 1, level / 2, 0.1, 20.0, 0.5, canvas=canvas))
            on_level(level, strokes(level), canvas)
        return Reconstruction(strokes(2), canvas, background, 21.0, 1.0)

    adapter = Reconstructor(reconstruct)
    assert adapter.reports_levels
    files = JobFiles(ResultFiles(tmp_path, 16, 12, (0.5, 0.5, 0.5), {"source": "x.png"}))
    result = adapter.run(torch.zeros(12, 16, 3), (0.5, 0.5, 0.5), Settings(strokes=4, levels=2), files)
    assert result.psnr == 21.0
    kinds = [e["event"] for e in events(capsys)]
    assert kinds.count("level") == 2 and "preview" in kinds and "progress" in kinds
    doc = strokefile.load(tmp_path / "level-2.json")
    assert len(doc.strokes) == 2 and doc.metadata["level"] == 2 and doc.metadata["source"] == "x.png"
    with Image.open(tmp_path / "preview.png") as im:
        assert im.size == (16, 12)
    assert not list(tmp_path.glob("*.tmp*"))  # written by rename, never half a file


def test_todays_optimizer_reports_progress_through_the_adapter(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    target = torch.zeros(16, 16, 3)
    target[4:12, 4:12] = torch.tensor([0.9, 0.2, 0.1])
    files = JobFiles(ResultFiles(tmp_path, 16, 16, (0.5, 0.5, 0.5), {}))
    result = Reconstructor().run(target, (0.5, 0.5, 0.5), Settings(strokes=2, levels=1, iterations=2, rounds=1),
                                 files)
    assert 1 <= len(result.strokes) <= 2
    progress = [e for e in events(capsys) if e["event"] == "progress"]
    assert progress and progress[-1]["fraction"] == 1.0


def test_a_textured_jobs_level_files_carry_their_textures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Import Last Level after a cancel shows the level as it was painted, textures included."""
    from diffpaint.painting import from_stroke_file
    from diffpaint.style import render_styled_painting, style_from_file

    target = torch.zeros(24, 24, 3)
    target[4:20, 6:18] = torch.tensor([0.2, 0.3, 0.8])
    files = JobFiles(ResultFiles(tmp_path, 24, 24, (0.9, 0.9, 0.9), {}))
    settings = Settings(strokes=6, levels=2, iterations=3, rounds=1, style="ink", style_iterations=2)
    Reconstructor().run(target, (0.9, 0.9, 0.9), settings, files)
    for level in (1, 2):
        doc = strokefile.load(tmp_path / f"level-{level}.json")
        assert doc.textures and all(s.texture in doc.textures for s in doc.strokes if s.kind == "paint")
    style = style_from_file(doc)
    assert style is not None
    background = torch.tensor([0.9, 0.9, 0.9]).expand(24, 24, 3).contiguous()
    with torch.no_grad():
        again = render_styled_painting(from_stroke_file(doc), style, background)
    with Image.open(tmp_path / "preview.png") as im:  # the last level's canvas, as published
        published = torch.from_numpy(np.asarray(im.convert("RGB"), dtype=np.float32) / 255)
    assert (again - published).abs().max() <= 1.5 / 255


def strict_json(text: str) -> dict:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("color", [(0, 0, 0), (30, 160, 90)], ids=["black", "one-color"])
def test_the_worker_fits_a_flat_image_and_writes_strict_json(tmp_path: Path, color: tuple[int, int, int]) -> None:
    """A perfect fit has an infinite PSNR, which the stroke file refused after all the fitting."""
    Image.new("RGB", (40, 30), color).save(tmp_path / "upload.png")
    settings = JobSettings(strokes=4, levels=2, size=32, iterations=3, rounds=1)
    spec = {"image": "upload.png", "source": "flat.png", "device": "cpu", "settings": settings.as_dict()}
    (tmp_path / "job.json").write_text(json.dumps(spec))
    proc = subprocess.run([sys.executable, "-m", "diffpaint.server.worker", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    events = [strict_json(line) for line in proc.stdout.splitlines()]
    assert events[-1]["event"] == "done" and [e["level"] for e in events if e["event"] == "level"] == [1, 2]
    report = strict_json((tmp_path / "report.json").read_text())
    assert report["blank_psnr"] == MAX_PSNR and 0 < report["psnr"] <= MAX_PSNR
    doc = strokefile.load(tmp_path / "strokes.json")
    assert doc.metadata["source"] == "flat.png" and doc.metadata["settings"] == settings.as_dict()
    for name in ("render.png", "target.png", "level-2.json"):
        assert (tmp_path / name).is_file(), name
    assert not list(tmp_path.glob("*.tmp*"))

import pytest
import torch

from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.optimize import Settings, reconstruct, strokes_per_level


def test_budget_is_split_over_levels_coarse_to_fine():
    counts = strokes_per_level(256, 3)
    assert sum(counts) == 256
    assert counts == sorted(counts) and counts[0] >= 1
    with pytest.raises(ValueError, match="at least 3"):
        strokes_per_level(2, 3)


def test_reconstruction_of_a_real_painting_beats_the_blank_canvas(painting_path):
    target, _ = load_image(painting_path, 128)
    background = tuple(target.mean(dim=(0, 1)).tolist())
    blank = psnr(torch.tensor(background).expand_as(target), target)
    levels_seen = []
    result = reconstruct(target, background, Settings(strokes=96, iterations=40),
                         on_progress=lambda p: levels_seen.append(p.level))
    print(f"blank canvas {blank:.2f} dB → {result.psnr:.2f} dB with {len(result.strokes)} strokes")
    assert result.psnr > blank + 5.0
    assert sorted(set(levels_seen)) == [1, 2, 3]
    assert set(result.strokes.level.tolist()) == {0, 1, 2}
    assert torch.isfinite(result.strokes.points).all()
    single = (result.strokes.color[:, 0] == result.strokes.color[:, 1]).all(dim=-1)
    print(f"{int(single.sum())} of {len(single)} strokes converged to a single colour")
    assert 0 < int(single.sum()) < len(single)  # both kinds occur on a real painting


def test_level_and_progress_hooks_expose_intermediate_results(painting_path):
    target, _ = load_image(painting_path, 48)
    levels, previews = [], []
    result = reconstruct(
        target, (1.0, 1.0, 1.0), Settings(strokes=12, levels=2, iterations=3),
        on_progress=lambda p: previews.append(p.canvas.shape),
        on_level=lambda level, strokes, canvas: levels.append((level, len(strokes), canvas.shape)),
    )
    assert [lv for lv, _, _ in levels] == [1, 2]
    assert levels[0][1] <= levels[1][1] == len(result.strokes)
    assert all(shape == target.shape for _, _, shape in levels)
    assert len(previews) == 2 * 2 * 3 and previews[-1] == target.shape  # the finest level works at full size


def test_same_seed_same_strokes_on_cpu(painting_path):
    target, _ = load_image(painting_path, 48)
    settings = Settings(strokes=12, levels=2, iterations=5, seed=7)
    a = reconstruct(target, (1.0, 1.0, 1.0), settings).strokes
    b = reconstruct(target, (1.0, 1.0, 1.0), settings).strokes
    assert torch.equal(a.points, b.points) and torch.equal(a.color, b.color)

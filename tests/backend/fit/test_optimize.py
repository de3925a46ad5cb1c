import math

import pytest
import torch

from diffpaint.fit.optimize import (
    JOINT_WARMUP,
    PLATEAU_EVERY,
    PROGRESS_EVERY,
    Progress,
    Settings,
    _JointSchedule,
    level_budgets,
    reconstruct,
    strokes_per_level,
)
from diffpaint.fit.placement import place_smudges, place_strokes
from diffpaint.fit.smudge_fit import prune_smudges, smudge_loss
from diffpaint.imageio import load_image
from diffpaint.metrics import psnr
from diffpaint.painting import from_stroke_file, render_painting, to_stroke_file
from diffpaint.render import render
from diffpaint.render.smudge import SmudgeStrokes, smudge
from diffpaint_shared import strokefile


def test_budget_is_split_over_levels_coarse_to_fine():
    counts = strokes_per_level(256, 3)
    assert sum(counts) == 256
    assert counts == sorted(counts) and counts[0] >= 1
    with pytest.raises(ValueError, match="at least 3"):
        strokes_per_level(2, 3)


def test_levels_0_follow_the_budget_as_the_paper_grids_it():
    # The paper paints up to 512 strokes on 4×4 grids and 1,024 on 5×5; small budgets keep 3 levels.
    counts = {n: Settings(strokes=n).level_count for n in (2, 96, 256, 512, 1024, 8000)}
    assert counts == {2: 2, 96: 3, 256: 3, 512: 4, 1024: 5, 8000: 5}
    def per_finest_cell(n: int, levels: int) -> float:
        return strokes_per_level(n, levels)[-1] / levels**2

    for n, levels in counts.items():  # the fewest levels, from 3 to 5, whose finest cells get ≤ 20 strokes each
        assert levels == min(n, 5) or per_finest_cell(n, levels) <= 20
        assert levels <= 3 or per_finest_cell(n, levels - 1) > 20
    assert Settings(strokes=1024, levels=2).level_count == 2  # a level count asked for is kept


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
    paint = result.strokes.paint
    assert set(paint.level.tolist()) == {0, 1, 2}
    assert torch.isfinite(paint.points).all()
    single = (paint.color[:, 0] == paint.color[:, 1]).all(dim=-1)
    print(f"{int(single.sum())} of {len(single)} strokes converged to a single color")
    assert 0 < int(single.sum()) < len(single)  # both kinds occur on a real painting


def test_level_and_progress_hooks_expose_intermediate_results(painting_path):
    target, _ = load_image(painting_path, 48)
    levels, previews, iterations, phases = [], [], [], []
    steps = PROGRESS_EVERY + 2

    def on_progress(p: Progress) -> None:
        previews.append(p.canvas.shape)
        phases.append(p.phase)
        if p.phase == "paint":
            iterations.append(p.iteration)

    result = reconstruct(
        target, (1.0, 1.0, 1.0), Settings(strokes=12, levels=2, iterations=steps, smudge=False),
        on_progress=on_progress,
        on_level=lambda level, strokes, canvas, style: levels.append((level, len(strokes), canvas.shape)),
    )
    assert [lv for lv, _, _ in levels] == [1, 2]
    assert levels[0][1] <= levels[1][1] == len(result.strokes)
    assert all(shape == target.shape for _, _, shape in levels)
    # Progress comes every PROGRESS_EVERY steps and after each round's last, over 2 levels × 2 rounds.
    assert iterations == [PROGRESS_EVERY, steps] * (2 * 2)
    assert previews[-1] == target.shape  # the finest level and the joint phase work at full size
    assert "joint" in phases and set(phases) <= {"paint", "relocate", "joint"}


def test_a_spent_time_budget_cuts_every_phase_short_and_keeps_the_whole_budget(painting_path):
    target, _ = load_image(painting_path, 48)
    events = []
    settings = Settings(strokes=12, levels=2, iterations=3 * PROGRESS_EVERY, time_budget=1e-9)
    result = reconstruct(target, (1.0, 1.0, 1.0), settings,
                         on_progress=lambda p: events.append((p.phase, p.iteration, p.iterations, p.fraction)))
    # Paint rounds stop at their first clock read; with the budget spent, nothing is relocated or jointly fitted.
    assert [e[:3] for e in events] == [("paint", PROGRESS_EVERY, PROGRESS_EVERY)] * (2 * 2)
    assert all(fraction == 1.0 for *_, fraction in events)
    assert len(result.strokes.paint) == 12


def test_same_seed_same_strokes_on_cpu(painting_path):
    target, _ = load_image(painting_path, 48)
    settings = Settings(strokes=12, levels=2, iterations=5, seed=7)
    a = reconstruct(target, (1.0, 1.0, 1.0), settings).strokes
    b = reconstruct(target, (1.0, 1.0, 1.0), settings).strokes
    assert torch.equal(a.paint.points, b.paint.points) and torch.equal(a.paint.color, b.paint.color)
    assert torch.equal(a.smudge.points, b.smudge.points)


def test_budget_gives_smudge_strokes_a_share_of_every_level_but_the_last():
    budgets = level_budgets(Settings(strokes=256, smudge=True, smudge_share=0.1))
    assert sum(p + m for p, m in budgets) == 256
    assert budgets[-1][1] == 0 and all(m > 0 for _, m in budgets[:-1])
    assert all(m == 0 for _, m in level_budgets(Settings(strokes=256, smudge=False)))
    with pytest.raises(ValueError, match="smudge_share"):
        Settings(smudge_share=1.0)


def test_gradients_reach_smudge_geometry_through_the_smudge_loss(painting_path):
    target, _ = load_image(painting_path, 64)
    canvas = target.mean(dim=(0, 1)).expand_as(target).contiguous()
    canvas = render(place_strokes(target, canvas, 10, 64.0, 0, torch.Generator().manual_seed(0)), canvas).image
    init = place_smudges(target, canvas, 3, 32.0, torch.Generator().manual_seed(0))
    points, radius = init.points.clone().requires_grad_(), init.radius.clone().requires_grad_()
    settings = Settings()
    image = smudge(canvas, SmudgeStrokes(points, radius), settings.smudge_brush)
    loss = smudge_loss(image, target, SmudgeStrokes(points, radius), settings.smudge_weights, 32.0)
    loss.backward()
    for g in (points.grad, radius.grad):
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0


def test_reconstruct_with_smudge_smudges_every_level_but_the_last(painting_path, tmp_path):
    target, _ = load_image(painting_path, 96)
    background = tuple(target.mean(dim=(0, 1)).tolist())
    phases = set()
    settings = Settings(strokes=60, iterations=15, smudge=True, smudge_share=0.3, smudge_iterations=6)
    result = reconstruct(target, background, settings, on_progress=lambda p: phases.add((p.phase, p.level)))
    painting = result.strokes
    levels = painting.smudge_level.tolist()
    print(f"{len(painting.paint)} paint + {len(painting.smudge)} smudge strokes, levels {levels}, "
          f"PSNR {result.psnr:.2f} dB")
    assert len(painting.smudge) > 0 and set(levels) <= {0, 1}
    assert ("smudge", 1) in phases and ("smudge", 2) in phases and ("smudge", 3) not in phases
    # Each level's smudges come right after its paint strokes.
    for j, level in enumerate(levels):
        assert int((painting.paint.level <= level).sum()) == int(painting.smudge_after[j])
    # The stroke file's render is the reconstruction's canvas.
    h, w = target.shape[:2]
    path = tmp_path / "s.json"
    strokefile.save(to_stroke_file(painting, w, h, background, {}), path)
    back = from_stroke_file(strokefile.load(path))
    with torch.no_grad():
        image = render_painting(back, torch.tensor(background).expand_as(target).contiguous())
    assert torch.equal(image, result.canvas)
    assert abs(psnr(image, target) - result.psnr) < 1e-6


def test_pruning_keeps_the_smudges_that_lower_the_loss_and_drops_the_rest():
    canvas = torch.ones(48, 48, 3)
    canvas[:, 24:] = torch.tensor([0.2, 0.3, 0.8])  # a hard step down the middle
    across = SmudgeStrokes(torch.tensor([[[16.0, 24.0], [24.0, 24.0], [32.0, 24.0]]]), torch.full((1, 2), 4.0))
    elsewhere = SmudgeStrokes(torch.tensor([[[30.0, 8.0], [38.0, 8.0], [46.0, 8.0]]]), torch.full((1, 2), 4.0))
    settings = Settings()
    target = smudge(canvas, across, settings.smudge_brush)  # the step smudged there, nowhere else
    kept = prune_smudges(target, canvas, elsewhere.cat(across).cat(elsewhere), settings.smudge_brush,
                         settings.smudge_weights)
    assert torch.equal(kept.points, across.points) and torch.equal(kept.radius, across.radius)
    none = prune_smudges(canvas, canvas, elsewhere, settings.smudge_brush, settings.smudge_weights)
    assert len(none) == 0


def test_deterministic_setting_holds_during_the_run_only(painting_path):
    target, _ = load_image(painting_path, 32)
    during = []
    reconstruct(target, (1.0, 1.0, 1.0), Settings(strokes=4, levels=1, rounds=1, iterations=2, deterministic=True),
                on_progress=lambda p: during.append(torch.are_deterministic_algorithms_enabled()))
    assert during and all(during)
    assert not torch.are_deterministic_algorithms_enabled()


def test_a_segmentation_with_more_regions_than_asked_for_still_fits(painting_path):
    """SLIC's region count is a target: on small crops it returns more than `Settings.regions`
    (a 24 px crop of the Van Gogh at 64 px gives 33 for 32), which the segmentation loss must still accept."""
    from diffpaint.fit.segmentation import segment

    target = load_image(painting_path, 64)[0][:24, :24].contiguous()
    settings = Settings(strokes=16, levels=2, iterations=3, rounds=1, joint_iterations=2, relocation_iterations=1)
    assert int(segment(target, settings.segmenter, settings.regions).max()) + 1 > settings.regions
    result = reconstruct(target, tuple(target.mean(dim=(0, 1)).tolist()), settings)
    assert len(result.strokes.paint) == 16


def test_the_joint_schedule_warms_up_then_anneals_over_one_window_once_the_loss_plateaus():
    schedule = _JointSchedule(200)
    ramp = [schedule.factor(step) for step in range(JOINT_WARMUP + 1)]  # from a fitted painting: small steps first
    assert ramp[0] == 1.0 / (JOINT_WARMUP + 1) and all(a < b for a, b in zip(ramp[:-1], ramp[1:], strict=True))
    assert abs(ramp[-1] - 0.5 * (1.0 + math.cos(math.pi * JOINT_WARMUP / 200))) < 1e-12
    assert abs(schedule.factor(100) - 0.5) < 1e-12 and schedule.factor(200) == 0.0
    schedule.anneal(60)  # the plateau: from where the cosine was, straight down to 0 one window later
    at_plateau = 0.5 * (1.0 + math.cos(math.pi * 60 / 200))
    assert schedule.length == 60 + PLATEAU_EVERY
    assert abs(schedule.factor(60) - at_plateau) < 1e-12
    assert abs(schedule.factor(60 + PLATEAU_EVERY // 2) - at_plateau / 2) < 1e-12
    assert schedule.factor(60 + PLATEAU_EVERY) == 0.0
    schedule.anneal(100)  # a later plateau changes nothing
    assert schedule.length == 60 + PLATEAU_EVERY
    budgeted = _JointSchedule(200)
    budgeted.shorten(50)  # a time budget's: the whole cosine fits into the steps there is time for
    assert budgeted.length == 50 and abs(budgeted.factor(25) - 0.5) < 1e-12

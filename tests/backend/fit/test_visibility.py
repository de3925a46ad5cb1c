"""Every stroke of the budget shows: visibility from the compositing weights, and relocation instead of pruning."""

import math

import torch

from diffpaint.fit import optimize
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.fit.visibility import hidden_footprint, visible_area
from diffpaint.imageio import load_image
from diffpaint.painting import Painting
from diffpaint.render import render
from diffpaint.strokes import Strokes


def _dots(centers: list[tuple[float, float]], radius: float, opacity: list[float]) -> Strokes:
    """Straight 10 px strokes centered at `centers` (x, y)."""
    c = torch.tensor(centers)
    points = torch.stack([c - torch.tensor([5.0, 0.0]), c, c + torch.tensor([5.0, 0.0])], dim=1)
    n = len(centers)
    return Strokes(points, torch.full((n, 2), radius), torch.rand(n, 2, 3, generator=torch.Generator().manual_seed(0)),
                   torch.tensor(opacity), torch.zeros(n, dtype=torch.long))


def test_visible_area_counts_what_the_canvas_shows_of_each_stroke():
    background = torch.ones(32, 48, 3)
    # 0: alone and opaque; 1: under 2, which covers it; 3: faint; 4: off the canvas; 5: half off the left edge.
    strokes = _dots([(10.0, 8.0), (30.0, 20.0), (30.0, 20.0), (10.0, 24.0), (80.0, 8.0), (0.0, 16.0)], 3.0,
                    [1.0, 1.0, 1.0, 0.1, 1.0, 1.0])
    strokes.radius[2] = 5.0  # wider than 1 everywhere
    shown = visible_area(strokes, render(strokes, background))
    capsule = 2 * 3.0 * 10.0 + math.pi * 3.0**2
    print([round(a, 2) for a in shown.tolist()], f"capsule {capsule:.1f} px²")
    assert abs(shown[0] - capsule) < 0.05 * capsule
    assert shown[1] < 0.1 and shown[4] == 0.0  # soft edges let a trace through
    assert abs(shown[3] - 0.1 * capsule) < 0.01 * capsule
    assert abs(shown[5] - 0.5 * capsule) < 0.06 * capsule


def test_a_reconstruction_returns_its_whole_budget_and_every_stroke_shows(painting_path):
    target, _ = load_image(painting_path, 48)
    background = tuple(target.mean(dim=(0, 1)).tolist())
    settings = Settings(strokes=40, levels=2, rounds=1, iterations=10, joint_iterations=20, relocation_iterations=5)
    result = reconstruct(target, background, settings)
    paint = result.strokes.paint
    bg = torch.tensor(background).expand_as(target).contiguous()
    with torch.no_grad():
        shown = visible_area(paint, render(paint, bg))
    print(f"{len(paint)} strokes, least visible {float(shown.min()):.2f} px², PSNR {result.psnr:.2f} dB")
    assert len(paint) == settings.strokes
    assert (shown >= 1.0).all()


def _covered_stroke_over_a_strip() -> tuple[torch.Tensor, Strokes]:
    """A gray 48² target with a saturated blue strip along the top; stroke 0, gray, wide, its top edge in the
    strip; stroke 1, gray and opaque, over all of stroke 0 but that edge."""
    target = torch.full((48, 48, 3), 0.5)
    target[:6] = torch.tensor([0.1, 0.2, 1.0])
    points = torch.tensor([[[4.0, 24.0], [24.0, 24.0], [44.0, 24.0]], [[4.0, 26.0], [24.0, 26.0], [44.0, 26.0]]])
    strokes = Strokes(points, torch.full((2, 2), 19.0), torch.full((2, 2, 3), 0.5), torch.ones(2),
                      torch.tensor([0, 2]))
    return target, strokes


def test_hidden_footprint_measures_what_later_strokes_cover_and_the_target_under_it():
    target, strokes = _covered_stroke_over_a_strip()
    with torch.no_grad():
        rendered = render(strokes, torch.full_like(target, 0.5))
        hidden, under = hidden_footprint(strokes, rendered, target)
        shown = visible_area(strokes, rendered)
    print(f"hidden {hidden.tolist()} px², shown {shown.tolist()} px², under {under.tolist()}")
    assert hidden[1] < 1.0 and hidden[0] > 5 * shown[0]  # nothing covers the top stroke; most of 0 is covered
    assert torch.allclose(under[1], torch.full((3,), 0.5), atol=0.02)  # stroke 1 lies on gray
    assert torch.allclose(under[0], torch.full((3,), 0.5), atol=0.05)  # stroke 0's covered part, too


def test_joint_phase_keeps_a_covered_stroke_near_the_colors_it_lies_on():
    # Adam takes full steps on the tiny gradient of the sliver that shows of stroke 0 (over the blue strip):
    # without the hidden-color term its color ran to (0.06, 0.19, 1.0), a band wherever stroke 1 moves off.
    target, strokes = _covered_stroke_over_a_strip()
    settings = Settings(strokes=3, levels=3, hidden_color=0.5)
    run = optimize._Run(target, settings, settings.joint_iterations, None)
    painting = Painting.empty(settings.smudge_brush).then_paint(strokes)
    fitted = optimize._joint_phase(run, painting, torch.full_like(target, 0.5)).paint
    print(f"covered stroke's colors {fitted.color[0].tolist()}")
    assert (fitted.color[0] - 0.5).abs().max() < 0.1


def test_a_relocated_stroke_that_helps_nowhere_stays_visible_and_on_the_canvas():
    # Over a canvas that already equals the target, a red stroke only costs: fitted freely it fades, thins
    # or leaves the canvas, and the final relocation used to put such a stroke back unfitted (a flat band).
    target = torch.full((48, 48, 3), 0.5)
    strokes = _dots([(40.0, 24.0), (24.0, 8.0)], 2.0, [0.4, 0.4])  # as faint and thin as the fit leaves them
    strokes.color[:] = torch.tensor([1.0, 0.0, 0.0])
    settings = Settings(strokes=4, levels=2)
    run = optimize._Run(target, settings, 100, None)
    shown = {}
    for phase in ("paint", "relocate"):
        fitted = optimize._fit_round(run, phase, 1, strokes, target.clone(), 30)
        with torch.no_grad():
            shown[phase] = visible_area(fitted, render(fitted, target))
        print(f"{phase}: shown {shown[phase].tolist()} px², opacity {fitted.opacity.tolist()}, "
              f"radius {fitted.radius.tolist()}")
    assert (shown["paint"] < 1.0).all()  # unbounded, the fit hides what cannot help
    assert (shown["relocate"] >= 1.0).all()
    assert ((fitted.points >= 0) & (fitted.points <= 48)).all()


def test_the_final_relocation_runs_only_with_the_time_the_first_one_took_left():
    # Moved strokes need fitting: with less time left than the move before the joint phase took, a covered
    # stroke stays where it is (a budget run of 8,000 strokes lost 1.2 dB moving them with 10 steps, 28 s late).
    target = torch.rand(32, 48, 3, generator=torch.Generator().manual_seed(1))
    strokes = _dots([(10.0, 8.0), (30.0, 20.0), (30.0, 20.0)], 3.0, [1.0, 1.0, 1.0])
    strokes.radius[2] = 5.0  # covers stroke 1
    painting = Painting.empty(Settings().smudge_brush).then_paint(strokes)
    background = torch.full_like(target, 0.5)
    settings = Settings(strokes=3, levels=2, relocation_iterations=2, time_budget=1e6)
    moved = {}
    for estimate in (0.0, 2e6):
        run = optimize._Run(target, settings, 100, None)
        run.relocation_seconds = estimate
        relocated = optimize._relocate(run, painting, background, final=True).paint
        moved[estimate] = not torch.equal(relocated.points, strokes.points)
    assert moved == {0.0: True, 2e6: False}

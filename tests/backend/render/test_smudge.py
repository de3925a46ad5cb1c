"""The differentiable smudge operator: gradients, direction of the smear, identities, agreement of the
one-shot brush model with the classic recursive one, and the Beta kernel."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor

from diffpaint.render.smudge import (
    SmudgeSettings,
    SmudgeStrokes,
    _apply,
    _patch_offsets,
    _sample,
    beta_kernel,
    smudge,
    smudge_deposits,
    smudge_recursive,
    stamp_parameters,
)

SIZE = 96
RED = torch.tensor([0.9, 0.1, 0.1])


def red_circle(cx: float = 40.0, cy: float = 48.0, radius: float = 16.0) -> Tensor:
    """White SIZE² canvas with a red disc (1 px soft edge)."""
    c = torch.arange(SIZE, dtype=torch.float32) + 0.5
    py, px = torch.meshgrid(c, c, indexing="ij")
    inside = torch.sigmoid(radius - torch.sqrt((px - cx) ** 2 + (py - cy) ** 2))[..., None]
    return inside * RED + (1.0 - inside) * torch.ones(3)


def redness(image: Tensor) -> Tensor:
    return image[..., 0] - image[..., 1:].mean(-1)


def rightward(radius: float = 6.0, grad: bool = False) -> SmudgeStrokes:
    """From the disc's center (40, 48) out to the right, to (80, 48)."""
    points = torch.tensor([[[40.0, 48.0], [60.0, 49.0], [80.0, 48.0]]], requires_grad=grad)
    return SmudgeStrokes(points, torch.full((1, 2), radius, requires_grad=grad))


@pytest.mark.parametrize("fn", [smudge, smudge_recursive])
def test_gradients_reach_positions_and_radii(fn) -> None:
    strokes = rightward(grad=True)
    out = fn(red_circle(), strokes, SmudgeSettings(stamps=20))
    weights = torch.rand(out.shape, generator=torch.Generator().manual_seed(0))
    g_points, g_radius = torch.autograd.grad((out * weights).sum(), [strokes.points, strokes.radius])
    for g in (g_points, g_radius):
        assert torch.isfinite(g).all()
        assert g.abs().sum() > 1e-3


def test_gradients_reach_the_canvas() -> None:
    canvas = red_circle().requires_grad_(True)
    (g,) = torch.autograd.grad(smudge(canvas, rightward()).sum(), [canvas])
    assert torch.isfinite(g).all() and g.abs().sum() > 0


@pytest.mark.parametrize("fn", [smudge, smudge_recursive])
def test_red_is_dragged_downstream_only(fn) -> None:
    canvas = red_circle()
    out = fn(canvas, rightward(), SmudgeSettings(stamps=40))
    gain = redness(out) - redness(canvas)
    band = slice(45, 52)
    downstream = gain[band, 60:78].mean()  # white before, beyond the disc along the stroke
    upstream = gain[band, 4:22].abs().max()  # white, behind the stroke's start
    assert downstream > 0.05
    assert upstream < 1e-6
    # Away from the stroke nothing changes.
    assert (out[:30] - canvas[:30]).abs().max() < 1e-6


@pytest.mark.parametrize("fn", [smudge, smudge_recursive])
def test_zero_length_or_zero_alpha_leaves_canvas_unchanged(fn) -> None:
    canvas = red_circle()
    still = SmudgeStrokes(torch.tensor([[[50.0, 50.0]] * 3]), torch.tensor([[9.0, 9.0]]))  # across the edge
    assert (fn(canvas, still) - canvas).abs().max() < 1e-6
    # On per-pixel noise the float32 rounding of the Bézier's stamp centers (~1e-6 px apart) shows.
    noisy = canvas * torch.rand(SIZE, SIZE, 1, generator=torch.Generator().manual_seed(1))
    assert (fn(noisy, still) - noisy).abs().max() < 1e-5
    no_pickup = SmudgeSettings(alpha_c=0.0)
    assert (fn(canvas, rightward(), no_pickup) - canvas).abs().max() < 1e-6
    assert (fn(canvas, SmudgeStrokes(torch.zeros(0, 3, 2), torch.zeros(0, 2))) - canvas).abs().max() == 0


@pytest.mark.parametrize("stamps, share", [(20, 0.3), (100, 0.5)])
def test_one_shot_agrees_with_recursive(stamps: int, share: float) -> None:
    """Measured: K=20 L1 6.1e-3 (change 3.2e-2), K=100 L1 1.5e-2 (change 4.3e-2)."""
    canvas = red_circle(48.0, 48.0, 16.0)
    through = SmudgeStrokes(torch.tensor([[[12.0, 48.0], [48.0, 44.0], [84.0, 48.0]]]), torch.tensor([[8.0, 8.0]]))
    settings = SmudgeSettings(stamps=stamps)
    one_shot = smudge(canvas, through, settings)
    recursive = smudge_recursive(canvas, through, settings)
    l1 = (one_shot - recursive).abs().mean().item()
    change = (recursive - canvas).abs().mean().item()
    print(f"one-shot vs recursive, K={stamps}: mean L1 {l1:.2e} (mean change {change:.2e})")
    assert change > 1e-2
    assert l1 < share * change


@pytest.mark.parametrize("fn", [smudge, smudge_recursive])
def test_strokes_off_the_canvas_are_safe(fn) -> None:
    canvas = red_circle()
    off = SmudgeStrokes(torch.tensor([[[-60.0, 10.0], [30.0, 5.0], [140.0, -40.0]]], requires_grad=True),
                        torch.tensor([[10.0, 20.0]], requires_grad=True))
    out = fn(canvas, off, SmudgeSettings(stamps=15))
    assert out.shape == canvas.shape and torch.isfinite(out).all()
    assert (out[40:] - canvas[40:]).abs().max() < 1e-6  # far from the stroke
    assert (out[:5] - canvas[:5]).abs().max() < 1e-6  # white canvas, white brush: nothing to drag
    (g,) = torch.autograd.grad(out.sum(), [off.points])
    assert torch.isfinite(g).all()


def test_strokes_apply_in_order() -> None:
    canvas = red_circle()
    a = rightward()
    b = SmudgeStrokes(torch.tensor([[[40.0, 20.0], [41.0, 48.0], [40.0, 80.0]]]), torch.tensor([[5.0, 5.0]]))
    both = SmudgeStrokes(torch.cat([a.points, b.points]), torch.cat([a.radius, b.radius]))
    settings = SmudgeSettings(stamps=10)
    assert torch.allclose(smudge(canvas, both, settings), smudge(smudge(canvas, a, settings), b, settings), atol=1e-6)


def test_beta_kernel_is_causal_and_row_normalized() -> None:
    t = torch.linspace(0.0, 1.0, 12)
    for a, b in [(1.0, 5.0), (0.5, 0.5), (3.0, 1.0)]:
        kern = beta_kernel(t, a, b)
        assert torch.isfinite(kern).all()
        assert torch.allclose(kern.sum(-1), torch.ones(12), atol=1e-6)
        assert (torch.triu(kern, diagonal=1) == 0).all()
        assert (kern[torch.tril(torch.ones(12, 12, dtype=torch.bool))] > 0).all()
    # a = b = 1 is a plain running mean.
    assert torch.allclose(beta_kernel(t, 1.0, 1.0)[5, :6], torch.full((6,), 1 / 6))


def test_stamp_arc_length_is_normalized_and_safe_at_zero_length() -> None:
    points = torch.tensor([[[0.0, 0.0], [10.0, 0.0], [30.0, 0.0]], [[5.0, 5.0]] * 3], requires_grad=True)
    _, _, t = stamp_parameters(points, torch.ones(2, 2), 9)
    assert torch.allclose(t[:, 0], torch.zeros(2)) and torch.allclose(t[:, -1], torch.ones(2))
    assert (t[:, 1:] >= t[:, :-1]).all()
    (g,) = torch.autograd.grad(t.sum(), [points])
    assert torch.isfinite(g).all()


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SmudgeSettings().stamps = 3  # type: ignore[misc]


def test_gradients_finite_with_a_stamp_on_a_pixel_center() -> None:
    strokes = SmudgeStrokes(torch.tensor([[[40.5, 48.5], [50.5, 48.5], [60.5, 48.5]]], requires_grad=True),
                            torch.tensor([[6.0, 6.0]], requires_grad=True))
    out = smudge(red_circle(), strokes, SmudgeSettings(stamps=11))
    for g in torch.autograd.grad(out.sum(), [strokes.points, strokes.radius]):
        assert torch.isfinite(g).all()


def test_deposits_are_the_brush_color_and_how_much_the_stroke_moved_the_canvas() -> None:
    canvas = red_circle()
    strokes = rightward()
    after, color, strength = smudge_deposits(canvas, strokes, SmudgeSettings(stamps=20))
    assert torch.equal(after, smudge(canvas, strokes, SmudgeSettings(stamps=20)))
    assert color.shape == (1, 20, 3) and strength.shape == (1, 20)
    assert ((strength >= 0) & (strength <= 1)).all()
    # The brush starts in the disc, so it carries red out onto the white canvas, and there the deposit shows.
    assert redness(color[0, 1]) > 0.5
    downstream = strength[0, 12:].mean()
    inside = strength[0, :3].mean()  # red over red: nothing to see
    print(f"deposit strength inside the disc {inside:.3f}, downstream {downstream:.3f}")
    assert downstream > 0.3 and inside < 0.1


def test_a_flat_brush_over_a_flat_canvas_deposits_alpha_c() -> None:
    """One stamp's worth: a stroke whose stamps all sit on one spot, brush red, canvas white under it."""
    canvas = torch.ones(SIZE, SIZE, 3)
    canvas[:, :48] = RED  # the brush picks up red at the first stamp, left of the edge
    settings = SmudgeSettings(stamps=2, alpha_s=1.0)  # B_k = B⁰_k: the brush keeps its first pick-up
    hop = SmudgeStrokes(torch.tensor([[[36.0, 48.0], [48.0, 48.0], [60.0, 48.0]]]), torch.tensor([[4.0, 4.0]]))
    _, color, strength = smudge_deposits(canvas, hop, settings)
    assert torch.allclose(color[0, 1], RED, atol=1e-3)
    assert abs(float(strength[0, 1]) - settings.alpha_c) < 0.02


@pytest.mark.parametrize("bad", [dict(stamps=1), dict(alpha_c=1.5), dict(edge=0.0), dict(patch=2.5)])
def test_absurd_settings_are_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="smudge"):
        SmudgeSettings(**bad)


def test_strokes_of_different_sizes_run_together_near_the_border():
    """Strokes that do not overlap run in one wave with the larger one's window size: a small stroke at
    the canvas' edge must keep its grown window inside the canvas (this raised IndexError)."""
    canvas = torch.rand(40, 60, 3, generator=torch.Generator().manual_seed(0))
    points = torch.tensor([[[8.0, 8.0], [14.0, 10.0], [20.0, 12.0]],  # large, top left
                           [[57.0, 37.0], [58.0, 38.0], [59.5, 39.5]]])  # small, at the bottom-right corner
    strokes = SmudgeStrokes(points, torch.tensor([[6.0, 6.0], [1.5, 1.5]]))
    together = smudge(canvas, strokes, SmudgeSettings(stamps=6))
    one_by_one = smudge(smudge(canvas, strokes.select(torch.tensor([True, False])), SmudgeSettings(stamps=6)),
                        strokes.select(torch.tensor([False, True])), SmudgeSettings(stamps=6))
    assert torch.allclose(together, one_by_one, atol=1e-6)


@pytest.mark.parametrize("fn", [smudge, smudge_recursive])
def test_hand_written_backward_matches_finite_differences(fn) -> None:
    """The stamps' backward is written by hand (`_Stamps`): its gradients to the canvas, the points and the
    radii must match finite differences, in double precision, with strokes in two waves (the first two
    overlap) and two strokes side by side in a wave (the first and the third do not)."""
    canvas = torch.rand(16, 40, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    points = torch.tensor([[[3.1, 4.2], [6.3, 5.1], [9.2, 7.3]], [[10.2, 10.1], [11.3, 9.2], [12.1, 10.3]],
                           [[30.3, 6.2], [33.1, 8.4], [35.2, 9.1]]], dtype=torch.float64, requires_grad=True)
    radius = torch.tensor([[2.1, 2.5], [1.6, 2.0], [2.2, 1.7]], dtype=torch.float64, requires_grad=True)
    settings = SmudgeSettings(stamps=4, patch=5)

    def run(image: Tensor, p: Tensor, r: Tensor) -> Tensor:
        return fn(image, SmudgeStrokes(p, r), settings)

    assert torch.autograd.gradcheck(run, (canvas.requires_grad_(), points, radius), eps=1e-7, atol=1e-4, rtol=1e-3,
                                   fast_mode=True)


@pytest.mark.parametrize("start", [(20.0, 15.0), (1.0, 38.0), (-30.0, -20.0)])
def test_stamps_read_their_patch_as_bilinear_samples_of_the_canvas(start: tuple[float, float]) -> None:
    """A stamp reads its patch as two matrix products on its window; that must be the bilinear samples
    (border replicated) `smudge_deposits` measures with, also for a stamp at the edge or far beyond the
    canvas (a window clamped into the padded canvas). The one-shot brush's first state is the first stamp's
    patch on the canvas before the stroke."""
    canvas = torch.rand(40, 60, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    x, y = start
    strokes = SmudgeStrokes(torch.tensor([[[x, y], [x + 6.0, y + 2.0], [x + 12.0, y + 1.0]]], dtype=torch.float64),
                            torch.tensor([[5.0, 3.0]], dtype=torch.float64))
    settings = SmudgeSettings(stamps=4, patch=9)
    brushes = canvas.new_zeros(1, settings.stamps, settings.patch, settings.patch, 3)
    _apply(canvas, strokes, settings, one_shot=True, brushes=brushes)
    centers, radii, _ = stamp_parameters(strokes.points, strokes.radius, settings.stamps)
    expected = _sample(canvas, centers[0, 0] + radii[0, 0] * _patch_offsets(settings, canvas))
    assert torch.allclose(brushes[0, 0], expected, atol=1e-12)

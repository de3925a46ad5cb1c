import functools
import itertools
from dataclasses import replace

import torch

from diffpaint.render import Fragments, RasterSettings, canvas_grid, composite, rasterize_strokes, render
from diffpaint.render.composite import _TransmittanceAfter
from diffpaint.render.raster import _segment_signed_distance, _SweptSegment
from diffpaint.render.reference import render_sequential
from diffpaint.strokes import Strokes


def _random_strokes(n: int, size: float, seed: int, dtype=torch.float32) -> Strokes:
    g = torch.Generator().manual_seed(seed)
    center = torch.rand(n, 1, 2, generator=g, dtype=dtype) * size
    points = center + (torch.rand(n, 3, 2, generator=g, dtype=dtype) - 0.5) * size * 0.6
    radius = torch.rand(n, 2, generator=g, dtype=dtype) * size * 0.08 + 1.0
    color = torch.rand(n, 2, 3, generator=g, dtype=dtype)
    opacity = torch.rand(n, generator=g, dtype=dtype) * 0.6 + 0.4
    return Strokes(points, radius, color, opacity, torch.zeros(n, dtype=torch.long))


def test_parallel_renderer_agrees_with_sequential_stamp_reference():
    strokes = _random_strokes(24, 64, seed=1)
    background = torch.tensor([0.9, 0.8, 0.7]).expand(64, 64, 3)
    parallel = render(strokes, background, RasterSettings(samples=33)).image
    sequential = render_sequential(strokes, background, stamps=256)
    diff = (parallel - sequential).abs()
    print(f"parallel vs sequential: mean |Δ| {diff.mean():.5f}, max |Δ| {diff.max():.4f}")
    assert diff.mean() < 2e-3
    assert diff.max() < 0.08  # only at the few pixels where sampled stamps and swept segments part


def test_discrete_stamp_mode_equals_the_sequential_renderer_at_any_stamp_count():
    strokes = _random_strokes(16, 48, seed=4)
    background = torch.tensor([0.2, 0.3, 0.4]).expand(48, 48, 3)
    for stamps in (3, 10, 40):
        parallel = render(strokes, background, RasterSettings(samples=stamps, sweep=False)).image
        assert torch.allclose(parallel, render_sequential(strokes, background, stamps=stamps), atol=1e-3)


def test_tiling_and_off_canvas_strokes_do_not_change_the_image():
    strokes = _random_strokes(30, 80, seed=2)
    strokes.points[0] += 60.0  # partly off canvas
    strokes.points[1] -= 500.0  # entirely off canvas
    background = torch.full((50, 70, 3), 0.5)  # not a multiple of any tile size
    images = [render(strokes, background, RasterSettings(tile=t)).image for t in (8, 16, 32)]
    assert torch.allclose(images[0], images[1], atol=1e-5)
    assert torch.allclose(images[0], images[2], atol=1e-5)


def test_over_compositing_order_and_opacity():
    # Two overlapping opaque discs: the later one wins; at half opacity it mixes with what is below,
    # in linear light: half blue over red is linear (0.5, 0, 0.5), which is sRGB 0.735.
    points = torch.tensor([[[10.0, 10.0], [10.0, 10.0], [10.0, 10.0]]] * 2)
    radius = torch.full((2, 2), 6.0)
    color = torch.tensor([[[1.0, 0.0, 0.0]] * 2, [[0.0, 0.0, 1.0]] * 2])
    background = torch.zeros(20, 20, 3)
    opaque = render(Strokes(points, radius, color, torch.tensor([1.0, 1.0]), torch.zeros(2)), background).image
    assert torch.allclose(opaque[10, 10], torch.tensor([0.0, 0.0, 1.0]), atol=1e-4)
    half = render(Strokes(points, radius, color, torch.tensor([1.0, 0.5]), torch.zeros(2)), background).image
    assert torch.allclose(half[10, 10], torch.tensor([0.7354, 0.0, 0.7354]), atol=1e-3)
    assert torch.allclose(half[0, 0], torch.zeros(3), atol=1e-4)


def test_gradients_match_finite_differences():
    strokes = _random_strokes(3, 12, seed=3, dtype=torch.float64)
    background = torch.rand(12, 12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    settings = RasterSettings(samples=5, edge=1.0, tile=8)
    inputs = [t.clone().requires_grad_() for t in (strokes.points, strokes.radius, strokes.color, strokes.opacity)]

    def f(points, radius, color, opacity):
        return render(Strokes(points, radius, color, opacity, strokes.level), background, settings).image

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-5)


def test_geometry_gradient_moves_a_stroke_towards_its_target():
    def disc_at(x: float, grad: bool = False):
        points = torch.tensor([[[x, 16.0], [x + 1, 16.0], [x + 2, 16.0]]], requires_grad=grad)
        return points, Strokes(points, torch.full((1, 2), 4.0), torch.ones(1, 2, 3), torch.ones(1), torch.zeros(1))

    background = torch.zeros(32, 32, 3)
    _, target_strokes = disc_at(16.0)
    target = render(target_strokes, background).image
    points, strokes = disc_at(12.0, grad=True)
    (render(strokes, background).image - target).abs().mean().backward()
    assert points.grad[0, :, 0].sum() < 0  # moving right (towards x=16) lowers the loss


def test_render_is_its_stages_composed_and_the_shader_changes_what_is_composited():
    strokes = _random_strokes(12, 40, seed=5)
    background = torch.tensor([0.3, 0.5, 0.7]).expand(40, 40, 3)
    settings = RasterSettings()
    grid = canvas_grid(background, settings)
    staged = composite(rasterize_strokes(strokes, grid, settings), strokes.opacity, background, grid)
    assert torch.equal(render(strokes, background, settings).image, staged.image)

    def half_coverage(frags: Fragments) -> Fragments:
        return replace(frags, coverage=0.5 * frags.coverage)

    shaded = render(strokes, background, settings, shader=half_coverage)
    half_opacity = render(replace(strokes, opacity=0.5 * strokes.opacity), background, settings)
    assert torch.allclose(shaded.image, half_opacity.image, atol=1e-6)
    assert torch.allclose(shaded.fragments.coverage, 0.5 * staged.fragments.coverage)  # what was composited
    assert (shaded.image - staged.image).abs().max() > 0.05


def test_swept_segment_function_equals_autograd_through_its_plain_formula():
    # The rasterizer's hand-written backward (`raster._SweptSegment`) against autograd through
    # `_segment_signed_distance` and the color lerp: same values bit for bit, same gradients up to float
    # rounding (float32), and a gradcheck in float64, in one pass over the pairs and in two (the second
    # short). Pixels lie before, along and past their segments.
    for dtype, chunk in itertools.product((torch.float32, torch.float64), (6, 4)):
        g = torch.Generator().manual_seed(5)
        n, k, pairs, pixels = 4, 5, 6, 16
        centers = (torch.rand(n, k, 2, generator=g, dtype=dtype) * 20).requires_grad_()
        radii = (torch.rand(n, k, generator=g, dtype=dtype) * 3 + 0.5).requires_grad_()
        colors = torch.rand(n, k, 3, generator=g, dtype=dtype).requires_grad_()
        stroke = torch.randint(0, n, (pairs,), generator=g)
        nearest = torch.randint(0, k - 1, (pairs, pixels), generator=g)
        pix = torch.rand(pairs, pixels, 2, generator=g, dtype=dtype) * 30 - 5
        first = (nearest + stroke[:, None] * k).T.contiguous()
        grads = [torch.randn(pairs, pixels, generator=g, dtype=dtype),
                 torch.randn(pairs, pixels, generator=g, dtype=dtype),
                 torch.randn(pairs, pixels, 3, generator=g, dtype=dtype)]

        a, b, ra, rb, ca, cb = (x[stroke[:, None], nearest + o] for x in (centers, radii, colors) for o in (0, 1))
        u, signed = _segment_signed_distance(pix, a, b, ra, rb)
        expected = u, signed, ca + u[..., None] * (cb - ca)
        px, py = pix[..., 0].T.contiguous(), pix[..., 1].T.contiguous()
        fused = functools.partial(_swept, first=first, px=px, py=py, chunk=chunk)
        actual = fused(centers, radii, colors)
        for e, a in zip(expected, actual, strict=True):
            assert torch.equal(e, a)
        inputs = (centers, radii, colors)
        want = torch.autograd.grad(expected, inputs, grads)
        got = torch.autograd.grad(actual, inputs, grads)
        for w, h in zip(want, got, strict=True):
            assert torch.allclose(w, h, rtol=1e-5, atol=1e-5 * float(w.abs().max()))
        if dtype == torch.float64:
            assert torch.autograd.gradcheck(fused, inputs)


def _swept(centers, radii, colors, first, px, py, chunk):
    return _SweptSegment.apply(centers, radii, colors, first, px, py, chunk)


def test_transmittance_after_each_fragment_in_its_tile_and_its_hand_written_gradient():
    g = torch.Generator().manual_seed(6)
    tile_index = torch.tensor([0, 0, 0, 2, 3, 3, 5, 5, 5, 5])
    log_t = (-torch.rand(len(tile_index), 4, generator=g, dtype=torch.float64) * 3).requires_grad_()
    expected = torch.stack([log_t[(tile_index == tile_index[i]) & (torch.arange(len(log_t)) > i)].sum(0).exp()
                            for i in range(len(log_t))])
    assert torch.allclose(_TransmittanceAfter.apply(log_t, tile_index), expected, rtol=1e-12)
    assert torch.autograd.gradcheck(lambda x: _TransmittanceAfter.apply(x, tile_index), (log_t,))

"""CUDA agreement: the renderer and the smudge operator give the CPU's results on a GPU (skipped without one)."""

import pytest
import torch

from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import load_image
from diffpaint.render import render
from diffpaint.render.smudge import SmudgeStrokes, smudge
from diffpaint.strokes import Strokes

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none visible to torch)")


def _strokes(count: int, size: int) -> Strokes:
    g = torch.Generator().manual_seed(3)
    center = torch.rand(count, 1, 2, generator=g) * size
    points = center + (torch.rand(count, 3, 2, generator=g) - 0.5) * 0.3 * size
    return Strokes(points, 1.0 + torch.rand(count, 2, generator=g) * 0.05 * size, torch.rand(count, 2, 3, generator=g),
                   0.5 + 0.5 * torch.rand(count, generator=g), torch.zeros(count, dtype=torch.long))


def test_render_and_its_gradients_agree_with_the_cpu():
    size, cuda = 96, torch.device("cuda")
    background = torch.full((size, size, 3), 0.4)
    results = []
    for device in (torch.device("cpu"), cuda):
        strokes = _strokes(64, size).to(device)
        strokes.points.requires_grad_()
        image = render(strokes, background.to(device)).image
        image.square().mean().backward()
        results.append((image.detach().cpu(), strokes.points.grad.cpu()))
    (cpu_image, cpu_grad), (gpu_image, gpu_grad) = results
    assert (cpu_image - gpu_image).abs().max() < 1e-4
    assert (cpu_grad - gpu_grad).norm() < 1e-3 * cpu_grad.norm()


def test_smudge_agrees_with_the_cpu():
    size = 64
    canvas = torch.rand(size, size, 3, generator=torch.Generator().manual_seed(5))
    strokes = SmudgeStrokes(torch.tensor([[[10.0, 30.0], [30.0, 26.0], [50.0, 32.0]]]), torch.full((1, 2), 5.0))
    on_cpu = smudge(canvas, strokes)
    on_gpu = smudge(canvas.cuda(), strokes.to(torch.device("cuda"))).cpu()
    assert (on_cpu - on_gpu).abs().mean() < 1e-5


def test_deterministic_reconstruction_repeats_bit_for_bit(painting_path):
    target, _ = load_image(painting_path, 48)
    settings = Settings(strokes=12, levels=2, iterations=5, deterministic=True)
    runs = [reconstruct(target.cuda(), (1.0, 1.0, 1.0), settings).strokes.paint for _ in range(2)]
    assert torch.equal(runs[0].points, runs[1].points) and torch.equal(runs[0].color, runs[1].color)
    assert not torch.are_deterministic_algorithms_enabled()  # restored after the run

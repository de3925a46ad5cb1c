"""The fitting loop stays on the device: host reads (each a wait for a GPU) per paint step, counted on any device."""

import torch

from diffpaint.fit.optimize import Progress, Settings, reconstruct
from diffpaint.fit.sync import count_host_reads
from diffpaint.imageio import load_image

# Explicit reads (item, float, tolist, …) per paint step, progress and once-per-round work included
# (before the loop was made to stay on the device: about 60).
BUDGET = 3.0
# Compactions whose size depends on the data, per render: binning boxes to tiles, keeping the tiles a
# segment reaches, numbering (tile, stroke) pairs; and per relocation, finding the invisible strokes.
IMPLICIT_PER_RENDER, IMPLICIT_PER_RELOCATION = 3, 1


def test_counter_sees_reads_of_every_kind_and_nothing_else():
    x = torch.arange(4.0)
    with count_host_reads() as reads:
        y = (x * 2).sum()  # stays a tensor: no read
        float(y), int(y), bool(y), y.item(), x.tolist(), x.cpu(), x.numpy(), [0, 1][x[1].long()]
        x[x > 1], torch.nonzero(x), torch.repeat_interleave(x, torch.tensor([1, 0, 2, 1]))
        torch.repeat_interleave(x, torch.tensor([1, 0, 2, 1]), output_size=4)  # size given: no wait
    assert dict(reads.explicit) == {"__float__": 1, "__int__": 1, "__bool__": 1, "item": 1, "tolist": 1, "cpu": 1,
                                    "numpy": 1, "__index__": 1}
    assert dict(reads.implicit) == {"__getitem__": 1, "nonzero": 1, "repeat_interleave": 1}
    assert float(y) == 12.0  # the wrappers are gone afterwards, and the values were right


def test_a_paint_step_reads_the_host_at_most_three_times_on_average(painting_path):
    target, _ = load_image(painting_path, 48)
    # Segmentation on every level (it reads labels), progress reported (it reads loss and PSNR).
    # The joint phase runs its steps to the end (no plateau stop in 10 steps); relocations fit their strokes
    # (counted as steps once: the final one may have nothing to fit).
    settings = Settings(strokes=16, levels=2, rounds=2, iterations=10, joint_iterations=10, relocation_iterations=10)
    reports: list[Progress] = []
    with count_host_reads() as reads:
        result = reconstruct(target, (1.0, 1.0, 1.0), settings, on_progress=reports.append)
    paint_steps = settings.levels * settings.rounds * settings.iterations
    steps = paint_steps + settings.joint_iterations + settings.relocation_iterations
    rounds = settings.levels * settings.rounds
    # + the final relocation's fit, the canvas after each round; per relocation, the visibility render and
    # the canvas without the moved strokes; + the final one
    relocations = 2 * 2
    renders = steps + settings.relocation_iterations + rounds + 2 * relocations + 1
    print(f"{reads.total / steps:.2f} host reads per paint step {dict(reads.explicit)}; "
          f"implicit {dict(reads.implicit)}; PSNR {result.psnr:.2f} dB")
    assert reports and reports[-1].fraction == 1.0 and reports[-1].psnr > 10.0
    assert reads.total / steps <= BUDGET
    assert sum(reads.implicit.values()) <= IMPLICIT_PER_RENDER * renders + IMPLICIT_PER_RELOCATION * relocations

"""Style auto: the medium chosen from an image's detail statistics (bench/auto_medium.py measures how
often it agrees with the Met catalog)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data

from diffpaint import samples
from diffpaint.imageio import read_image
from diffpaint.style.auto_medium import choose_medium, detail_statistics


def painting(object_id: int, size: int) -> torch.Tensor:
    image = read_image(samples.painting(object_id).path, size)
    return image.over(image.mean_color())


@pytest.mark.parametrize(("object_id", "medium"), [
    (45428, "ink"),  # Illustrated Legends of the Kitano Tenjin Shrine: ink, color and gold on paper
    (49156, "ink"),  # The Kangxi Emperor's Southern Inspection: ink and color on silk
    (437881, "oil"),  # Vermeer, Young Woman with a Water Pitcher
    (436535, "oil"),  # Van Gogh, Wheat Field with Cypresses
])
def test_paintings_read_as_their_medium_at_any_job_size(object_id: int, medium: str) -> None:
    for size in (256, 384, 512):  # statistics are read at one size, well below the job's
        assert choose_medium(painting(object_id, size)) == medium, size


def test_a_photo_is_painted_in_oil() -> None:
    photo = torch.from_numpy(np.array(data.astronaut())).float() / 255.0
    assert choose_medium(photo) == "oil"


def test_ink_is_low_contrast_fine_detail() -> None:
    ink, oil = detail_statistics(painting(45428, 256)), detail_statistics(painting(437881, 256))
    assert ink.contrast < oil.contrast and ink.high_frequency > oil.high_frequency

"""Style from a reference painting: brushwork statistics, read offline, that the style phase matches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data

from diffpaint import samples
from diffpaint.fit.optimize import Settings, reconstruct
from diffpaint.imageio import ImageInputError, read_image
from diffpaint.style import StyleSettings, initial_style, optimize_style, render_styled_painting
from diffpaint.style.reference import BANDS, DIRECTIONS, brushwork_statistics, read_reference

VAN_GOGH = 436535  # Wheat Field with Cypresses, oil: brushwork that runs in strokes


def astronaut(size: int) -> torch.Tensor:
    image = Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.LANCZOS)
    return torch.from_numpy(np.array(image)).float() / 255.0


def test_statistics_describe_brushwork_not_contrast_or_content() -> None:
    van_gogh = read_image(samples.painting(VAN_GOGH).path, 96)
    painting = van_gogh.over(van_gogh.mean_color())
    stats = brushwork_statistics(painting)
    assert stats.band_share.shape == (BANDS,) and stats.orientation.shape == (BANDS, DIRECTIONS)
    assert torch.allclose(stats.orientation.sum(-1), torch.ones(BANDS))
    assert stats.distance(painting).item() == pytest.approx(0.0, abs=1e-6)
    faded = 0.25 + 0.5 * painting  # the same marks at half the contrast
    assert stats.distance(faded).item() < 0.01
    assert stats.distance(astronaut(96)).item() > 10 * stats.distance(faded).item()


def test_a_photo_painted_with_an_oil_reference_takes_on_its_brushwork() -> None:
    """Geometry and color fitted to the astronaut, the style phase fitted with and without Van Gogh's
    brushwork statistics: with them, the render's statistics end closer to Van Gogh's."""
    size = 64
    target = astronaut(size)
    background = tuple(target.mean((0, 1)).tolist())
    plain = reconstruct(target, background, Settings(strokes=24, levels=2, iterations=15, rounds=1,
                                                     joint_iterations=0, relocation_iterations=0))
    reference = read_reference(samples.painting(VAN_GOGH).path, size)
    canvas = torch.tensor(background).expand(size, size, 3).contiguous()
    distances = {}
    for name, statistics in (("without", None), ("with", reference)):
        style = initial_style("oil", len(plain.strokes.paint), seed=0)
        settings = StyleSettings(iterations=25, reference=statistics)
        painting, fitted = optimize_style(plain.strokes, style, target, canvas, settings)
        with torch.no_grad():
            distances[name] = reference.distance(render_styled_painting(painting, fitted, canvas)).item()
    print(f"distance to Van Gogh's brushwork: {distances['without']:.3f} without, {distances['with']:.3f} with")
    assert distances["with"] < 0.9 * distances["without"]


def test_an_unusable_reference_is_named_as_the_style_reference(tmp_path: Path) -> None:
    with pytest.raises(ImageInputError, match="style reference: image not found: .*nowhere.png"):
        read_reference(tmp_path / "nowhere.png", 64)
    corrupt = tmp_path / "cut.jpg"
    corrupt.write_bytes(samples.painting(VAN_GOGH).path.read_bytes()[:400])
    with pytest.raises(ImageInputError, match="style reference: cut.jpg could not be decoded"):
        read_reference(corrupt, 64)

"""The canvas grain's shading (diffpaint_shared.grain): the one rule both renderers follow."""

from __future__ import annotations

import numpy as np
import pytest

from diffpaint_shared.color import srgb_to_linear
from diffpaint_shared.grain import canvas_linear, grain_field, standardized

GRAY = np.random.default_rng(3).integers(0, 256, size=(6, 8)).astype(np.uint8)


def test_the_texture_is_standardized() -> None:
    z = standardized(GRAY)
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0)
    assert not standardized(np.full((4, 4), 77)).any()  # a flat texture shades nothing


def test_one_texel_per_pixel_reads_the_texels_and_tiles_from_the_top_left() -> None:
    z = grain_field(GRAY, 1.0, 20, 15)
    assert z[:6, :8] == pytest.approx(standardized(GRAY))
    assert z[6:12, 8:16] == pytest.approx(z[:6, :8])  # wraps around


def test_larger_scales_interpolate_between_texels() -> None:
    z, texels = grain_field(GRAY, 2.0, 16, 12), standardized(GRAY)
    # pixel center 2.5 / 2 - 0.5 = 0.75: three quarters of the way from texel 0 to texel 1 either way
    assert z[2, 2] == pytest.approx(0.25 * (0.25 * texels[0, 0] + 0.75 * texels[0, 1])
                                    + 0.75 * (0.25 * texels[1, 0] + 0.75 * texels[1, 1]))
    # pixel center 0.5 / 2 - 0.5 = -0.25: between the last texel (wrapped) and the first
    assert z[0, 0] == pytest.approx(0.25 * (0.25 * texels[-1, -1] + 0.75 * texels[-1, 0])
                                    + 0.75 * (0.25 * texels[0, -1] + 0.75 * texels[0, 0]))


def test_the_canvas_is_the_background_shaded_in_linear_light_and_clipped() -> None:
    background = (0.9, 0.5, 0.1)
    flat = canvas_linear(background, GRAY, 2.0, 0.0, 10, 7)
    assert flat.shape == (7, 10, 3)
    assert flat == pytest.approx(np.broadcast_to(srgb_to_linear(np.array(background)), (7, 10, 3)))
    shaded = canvas_linear(background, GRAY, 1.0, 0.3, 10, 7)
    z = grain_field(GRAY, 1.0, 10, 7)
    assert shaded[..., 1] == pytest.approx(srgb_to_linear(np.array(0.5)) * (1 + 0.3 * z))
    assert canvas_linear((1.0, 1.0, 1.0), GRAY, 1.0, 1.0, 10, 7).max() == 1.0  # white paper only darkens

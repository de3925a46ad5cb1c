"""One definition of a job's settings (diffpaint_shared.jobschema) and its one mapping onto the
optimizer's Settings (diffpaint.job), and the one progress event both the CLI and the worker print."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest
import torch

from diffpaint import style
from diffpaint.fit.optimize import Progress, Settings
from diffpaint.job import fit_settings
from diffpaint.style.reference import BANDS
from diffpaint_shared.jobschema import SETTING, STYLES, JobSettings
from diffpaint_shared.progress import progress_event

FITTED = ("strokes", "levels", "iterations", "rounds", "seed", "smudge", "style", "grain")


def test_the_optimizers_defaults_are_the_schemas() -> None:
    """A run without settings (tests, benches, refine) fits as a default job does."""
    defaults = Settings()
    assert {name: getattr(defaults, name) for name in FITTED} == {name: SETTING[name].default for name in FITTED}


def test_fit_settings_carries_every_fitted_setting_and_the_overrides() -> None:
    job = JobSettings(strokes=40, levels=2, iterations=7, rounds=3, seed=5, smudge=True, style="ink", grain="paper")
    settings = fit_settings(job, strokes=50, style_iterations=4)
    assert {name: getattr(settings, name) for name in FITTED} == {**{n: getattr(job, n) for n in FITTED},
                                                                   "strokes": 50}
    assert settings.style_iterations == 4
    assert set(FITTED) <= {f.name for f in fields(Settings)}


def test_a_time_budget_of_0_means_none() -> None:
    assert fit_settings(JobSettings()).time_budget is None
    assert fit_settings(JobSettings(time_budget=45)).time_budget == 45


def test_every_medium_the_schema_names_has_textures() -> None:
    for medium in STYLES:
        assert style.generate_textures(medium, variants=1).shape[0] == 1, medium


@pytest.mark.parametrize(("name", "value", "message"), [
    ("strokes", 0, "strokes must be at least 1, not 0"),
    ("seed", 2**31, "seed must be between 0 and 2147483647"),
    ("background", "purple", "background must be 'mean' (of the image), 'white', or a hex color"),
    ("device", "tpu", "device must be one of auto, cpu, cuda"),
    ("smudge", 1, "smudge must be bool, not 1"),
])
def test_each_setting_says_what_to_change(name: str, value: object, message: str) -> None:
    problem = SETTING[name].problem(value)
    assert problem is not None and problem.startswith(message)
    assert JobSettings(**{name: value}).problems()[0].startswith(message)


def test_a_server_limit_is_named_as_such() -> None:
    assert JobSettings(strokes=9000).problems({"strokes": 8192}) == [
        "strokes must be between 1 and 8192 on this server, not 9000"]


def test_a_progress_event_is_strict_json_whatever_the_numbers() -> None:
    event = progress_event(Progress("paint", 1, 3, 2, 80, 0.123456, float("nan"), float("inf"), 1.234))
    assert event == {"event": "progress", "phase": "paint", "level": 1, "levels": 3, "iteration": 2,
                     "iterations": 80, "fraction": 0.1235, "loss": None, "psnr": None, "elapsed": 1.23}
    json.dumps(event, allow_nan=False)


def test_auto_picks_a_textured_medium_from_the_image_and_needs_one() -> None:
    image = torch.rand(40, 60, 3)
    assert fit_settings(JobSettings(style="auto"), image).style in STYLES[1:]
    with pytest.raises(ValueError, match="style auto picks the medium from a single image"):
        fit_settings(JobSettings(style="auto"))


def test_a_style_reference_needs_a_medium_and_is_read_into_the_fit(painting_path) -> None:
    assert JobSettings(style_reference="ref.png").problems() == [
        "a style reference needs a painting medium: choose a style other than digital (or auto)"]
    settings = fit_settings(JobSettings(style="oil", style_reference=str(painting_path), size=48))
    assert settings.style_reference is not None
    assert settings.style_reference.band_share.shape == (BANDS,)
    assert fit_settings(JobSettings(style="oil")).style_reference is None

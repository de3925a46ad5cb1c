"""The time estimate learns from this machine's runs: start-up (server, worker) plus the preset model's
fit time scaled by how fast the fit really ran here, per device setting, kept across sessions."""

from __future__ import annotations

from pathlib import Path

import pytest

from diffpaint_addon import timing
from diffpaint_addon.presets import estimate_seconds


def test_a_fresh_estimate_counts_the_start_up_too() -> None:
    fresh = timing.Calibration()
    fit = estimate_seconds("DRAFT", 256, 3)
    assert fresh.estimate(fit, "auto") == pytest.approx(timing.DEFAULT_STARTUP + fit)


def test_runs_calibrate_the_estimate_per_device_and_persist(tmp_path: Path) -> None:
    """The issue's case: the model said ~5 s, the fit took 53 s after an 11.6 s start-up."""
    path = str(tmp_path / timing.FILE_NAME)
    calibration = timing.load(path)  # none yet: the defaults
    assert calibration.runs == 0
    calibration.record(model_seconds=5.0, device="cpu", startup=11.6, fit_seconds=53.0)
    assert calibration.estimate(5.0, "cpu") == pytest.approx(11.6 + 53.0)
    assert calibration.estimate(5.0, "cuda") == pytest.approx(11.6 + 5.0)  # another device learns on its own
    calibration.record(model_seconds=10.0, device="cpu", startup=8.4, fit_seconds=96.0)  # 9.6 s per model s
    timing.save(calibration, path)
    again = timing.load(path)
    assert again == calibration and again.runs == 2
    assert again.estimate(10.0, "cpu") == pytest.approx(10.0 + 10.0 * (10.6 + 9.6) / 2)


def test_an_unreadable_calibration_falls_back_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / timing.FILE_NAME
    path.write_text("{not json")
    assert timing.load(str(path)) == timing.Calibration()

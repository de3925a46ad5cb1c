"""Time estimates calibrated on this machine: after each finished run, how long the backend took to start
(server, worker, upload: until the first optimizer step) and how the fit's time compared with the preset
model's (presets.estimate_seconds), per device setting, kept in a small JSON file in the add-on's user
folder. Standard library only."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

DEFAULT_STARTUP = 10.0  # seconds before the first step on a cold local backend (torch import, worker start)
WEIGHT = 0.5  # of the newest run in the running averages: a new machine or backend shows within a few runs
FILE_NAME = "timing.json"


@dataclass
class Calibration:
    startup: float = DEFAULT_STARTUP
    factor: dict[str, float] = field(default_factory=dict)  # fit seconds / model seconds, by device setting
    runs: int = 0

    def estimate(self, model_seconds: float, device: str) -> float:
        """The whole run's expected seconds: start-up, then the model's fit time as this machine runs it."""
        return self.startup + model_seconds * self.factor.get(device, 1.0)

    def record(self, model_seconds: float, device: str, startup: float, fit_seconds: float) -> None:
        """A finished run: its start-up and fit seconds, and the model's estimate of the fit."""
        if model_seconds <= 0 or startup < 0 or fit_seconds <= 0:
            return
        first = self.runs == 0
        self.startup = startup if first else (1 - WEIGHT) * self.startup + WEIGHT * startup
        ratio = fit_seconds / model_seconds
        old = self.factor.get(device)
        self.factor[device] = ratio if old is None else (1 - WEIGHT) * old + WEIGHT * ratio
        self.runs += 1


def load(path: str) -> Calibration:
    """The stored calibration; the defaults when there is none yet or it cannot be read."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        factor = {str(k): float(v) for k, v in dict(data.get("factor", {})).items() if float(v) > 0}
        return Calibration(float(data["startup"]), factor, int(data.get("runs", 0)))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return Calibration()


def save(calibration: Calibration, path: str) -> None:
    tmp = f"{path}.part"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump({"startup": calibration.startup, "factor": calibration.factor, "runs": calibration.runs}, f)
    os.replace(tmp, path)

"""From a job's settings (`diffpaint_shared.jobschema.JobSettings`) to what the optimizer takes: its
`Settings`, the torch device, and the target over its canvas color. `diffpaint reconstruct|refine`
and the server's job worker both start here, so a setting means the same in either."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffpaint.fit.optimize import Settings
from diffpaint.imageio import read_image
from diffpaint.style.auto_medium import choose_medium
from diffpaint.style.reference import read_reference
from diffpaint_shared.jobschema import AUTO_STYLE, JobSettings, background_rgb


def fit_settings(job: JobSettings, image: Tensor | None = None, **overrides: Any) -> Settings:
    """The optimizer's settings for ``job`` fitting ``image`` (H, W, 3), from which style ``auto`` picks the
    medium; the style reference's brushwork is read here, so a bad reference fails before anything is
    written. ``overrides`` sets fields of `Settings` the job has no setting for (loss weights) or that a
    run decides itself (refine's stroke count). ValueError (ImageInputError for the reference) saying
    what to change."""
    style = job.style
    if style == AUTO_STYLE:
        if image is None:
            raise ValueError("style auto picks the medium from a single image; choose a medium here")
        style = choose_medium(image)
    reference = read_reference(job.style_reference, job.size) if job.style_reference else None
    from_job = {"strokes": job.strokes, "levels": job.levels, "iterations": job.iterations, "rounds": job.rounds,
                "seed": job.seed, "smudge": job.smudge, "style": style, "time_budget": job.time_budget or None,
                "deterministic": job.deterministic, "style_reference": reference, "grain": job.grain}
    return Settings(**{**from_job, **overrides})


def torch_device(choice: str) -> torch.device:
    """The device a job's ``device`` setting names ('auto': CUDA when present); ValueError when asked
    for CUDA that PyTorch cannot see."""
    if choice == "cuda" and not torch.cuda.is_available():
        raise ValueError("device cuda was asked for, but PyTorch sees no CUDA device")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


@dataclass(frozen=True)
class FitTarget:
    image: Tensor  # (H, W, 3) sRGB in [0, 1] on the fitting device: transparent areas as bare canvas
    background: tuple[float, float, float]  # the canvas color
    mask: Tensor | None  # the image's alpha, None when opaque
    notice: str | None  # what was done to the image (downscaling), for the user


def fit_target(path: str | os.PathLike[str], job: JobSettings, device: torch.device) -> FitTarget:
    """The image at ``path`` as ``job`` fits it: downscaled to ``job.size``, over ``job.background``."""
    image = read_image(path, job.size)
    background = background_rgb(job.background, image.mean_color())
    return FitTarget(image.over(background).to(device), background, image.alpha, image.notice)

"""An upload's way into a job folder: saved in chunks under the size cap, checked with the same
`read_image` rules the worker will use, and written out as ``target.png`` (the image as fitted).
A sequence's upload (`sequence_upload`) takes the same way in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import HTTPException, UploadFile

from diffpaint.server.config import Limits
from diffpaint.server.guard import too_large
from diffpaint_shared.jobschema import SETTINGS, JobSettings

UPLOAD_CHUNK = 1 << 20


def store_image(upload: UploadFile, job_dir: Path, limits: Limits, size: int) -> tuple[str, tuple[int, int]]:
    """Save the upload, check it is an image DiffPaint can fit, write target.png. Returns the saved
    name and the fitted size; 413/422 with what to fix."""
    path, label = save_upload(upload, job_dir, limits, "an image file (PNG, JPEG, TIFF, WebP)")
    return path.name, write_target(path, label, job_dir, limits, size)


def store_setting_files(settings: JobSettings, fields: Mapping[str, Any], job_dir: Path, limits: Limits) -> JobSettings:
    """``settings`` with each file setting's upload (in ``fields``: the style reference) stored in the job
    folder as ``<name>.png`` (checked and downscaled to the job's size as the image is) and named by its
    path there; 413/422 naming the setting when its file cannot be used."""
    stored: dict[str, Any] = {}
    for s in SETTINGS:
        upload = fields.get(s.name) if s.path else None
        if upload is None:
            continue
        path, label = save_upload(upload, job_dir, limits,
                                  f"an image file (PNG, JPEG, TIFF, WebP) as the {s.label.lower()}", stem=s.name)
        write_image(path, f"{s.label.lower()} {label}", job_dir / f"{s.name}.png", limits, settings.size)
        stored[s.name] = str((job_dir / f"{s.name}.png").resolve())
    return replace(settings, **stored)


def save_upload(upload: UploadFile, job_dir: Path, limits: Limits, wanted: str,
                stem: str = "input") -> tuple[Path, str]:
    """The upload saved as ``<stem>.<its suffix>`` in chunks under the size cap, and how to name it
    in messages; 413 when too large, 422 when empty (`wanted` says what to send instead)."""
    suffix = "".join(c for c in Path(upload.filename or "").suffix.lower() if c.isascii() and c.isalnum())[:8]
    path = job_dir / (f"{stem}.{suffix}" if suffix else stem)
    total = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(UPLOAD_CHUNK):
            total += len(chunk)
            if total > limits.max_upload_bytes:
                raise HTTPException(413, too_large(limits.max_upload_bytes))
            out.write(chunk)
    label = upload.filename or "the upload"
    if total == 0:
        raise HTTPException(422, f"{label} is empty; send {wanted}")
    return path, label


def write_target(path: Path, label: str, job_dir: Path, limits: Limits, size: int) -> tuple[int, int]:
    """Check `path` is an image DiffPaint can fit (with the rules the worker reads it by) and write it
    as target.png, the image as fitted; its size. 413/422 naming `label`."""
    return write_image(path, label, job_dir / "target.png", limits, size)


def write_image(path: Path, label: str, out: Path, limits: Limits, size: int) -> tuple[int, int]:
    """Check `path` is an image DiffPaint can read (with the rules the worker reads it by) and write it
    to `out` as PNG, downscaled to `size`; its size. 413/422 naming `label`."""
    from diffpaint.imageio import ImageInputError, ImageTooLargeError, read_image, save_png  # torch: lazily

    try:
        image = read_image(path, size, max_pixels=limits.max_pixels)
    except ImageTooLargeError as e:
        raise HTTPException(413, str(e).replace(path.name, label, 1)) from None
    except ImageInputError as e:
        raise HTTPException(422, str(e).replace(path.name, label, 1)) from None
    save_png(image.rgb, out)
    height, width = image.rgb.shape[:2]
    return width, height

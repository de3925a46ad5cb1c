"""An upload's way into a job folder: saved in chunks under the size cap, checked with the same
`read_image` rules the worker will use, and written out as ``target.png`` (the image as fitted).
A sequence's upload (`sequence_upload`) takes the same way in."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException, UploadFile

from diffpaint.server.config import Limits
from diffpaint.server.guard import too_large

UPLOAD_CHUNK = 1 << 20


def store_image(upload: UploadFile, job_dir: Path, limits: Limits, size: int) -> tuple[str, tuple[int, int]]:
    """Save the upload, check it is an image DiffPaint can fit, write target.png. Returns the saved
    name and the fitted size; 413/422 with what to fix."""
    path, label = save_upload(upload, job_dir, limits, "an image file (PNG, JPEG, TIFF, WebP)")
    return path.name, write_target(path, label, job_dir, limits, size)


def save_upload(upload: UploadFile, job_dir: Path, limits: Limits, wanted: str) -> tuple[Path, str]:
    """The upload saved as ``input.<its suffix>`` in chunks under the size cap, and how to name it
    in messages; 413 when too large, 422 when empty (`wanted` says what to send instead)."""
    suffix = "".join(c for c in Path(upload.filename or "").suffix.lower() if c.isascii() and c.isalnum())[:8]
    path = job_dir / (f"input.{suffix}" if suffix else "input")
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
    from diffpaint.imageio import ImageInputError, ImageTooLargeError, read_image, save_png  # torch: lazily

    try:
        image = read_image(path, size, max_pixels=limits.max_pixels)
    except ImageTooLargeError as e:
        raise HTTPException(413, str(e).replace(path.name, label, 1)) from None
    except ImageInputError as e:
        raise HTTPException(422, str(e).replace(path.name, label, 1)) from None
    save_png(image.rgb, job_dir / "target.png")
    height, width = image.rgb.shape[:2]
    return width, height

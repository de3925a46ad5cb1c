"""An upload's way into a job folder: saved in chunks under the size cap, checked with the same
`read_image` rules the worker will use, and written out as ``target.png`` (the image as fitted)."""

from __future__ import annotations

from pathlib import Path

from fastapi import HTTPException, UploadFile

from diffpaint.server.config import Limits
from diffpaint.server.guard import too_large

UPLOAD_CHUNK = 1 << 20


def store_image(upload: UploadFile, job_dir: Path, limits: Limits, size: int) -> tuple[str, tuple[int, int]]:
    """Save the upload, check it is an image DiffPaint can fit, write target.png. Returns the saved
    name and the fitted size; 413/422 with what to fix."""
    suffix = "".join(c for c in Path(upload.filename or "").suffix.lower() if c.isascii() and c.isalnum())[:8]
    name = f"input.{suffix}" if suffix else "input"
    path = job_dir / name
    total = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(UPLOAD_CHUNK):
            total += len(chunk)
            if total > limits.max_upload_bytes:
                raise HTTPException(413, too_large(limits.max_upload_bytes))
            out.write(chunk)
    label = upload.filename or "the upload"
    if total == 0:
        raise HTTPException(422, f"{label} is empty; send an image file (PNG, JPEG, TIFF, WebP)")
    from diffpaint.imageio import ImageInputError, ImageTooLargeError, read_image, save_png  # torch: lazily

    try:
        image = read_image(path, size, max_pixels=limits.max_pixels)  # the worker reads it with the same rules
    except ImageTooLargeError as e:
        raise HTTPException(413, str(e).replace(path.name, label, 1)) from None
    except ImageInputError as e:
        raise HTTPException(422, str(e).replace(path.name, label, 1)) from None
    save_png(image.rgb, job_dir / "target.png")
    height, width = image.rgb.shape[:2]
    return name, (width, height)

"""A sequence's upload (``POST /sequences``) into a job folder: a video file, kept as sent for the worker
to decode (`diffpaint.batch.items.extract_video`, as ``diffpaint sequence`` does), or a .zip of frame
images or a GIF, unpacked here into ``frames/``. Everything is checked before a job exists: the size cap
of every upload, the frame cap, one frame size, the pixel cap, and for a zip only image entries at safe
relative paths that unpack to no more than they can honestly hold (no zip bomb).
"""

from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from fastapi import HTTPException, UploadFile
from PIL import Image, ImageSequence

from diffpaint.batch.items import IMAGE_SUFFIXES, VIDEO_SUFFIXES, check_same_size, natural_key
from diffpaint.imageio import ImageInputError
from diffpaint.server.config import Limits
from diffpaint.server.upload import save_upload, write_target

FRAMES_DIR = "frames"  # a zip's or GIF's frames, inside the job folder
# Image files barely compress: a zip that unpacks to more than this many times the upload cap is not
# frames but a zip bomb.
UNPACKED_SHARE = 2
WANTED = f"a video ({', '.join(VIDEO_SUFFIXES)}) or a .zip of frame images ({', '.join(IMAGE_SUFFIXES)})"


@dataclass(frozen=True)
class StoredSequence:
    source: str  # what the worker reads: FRAMES_DIR or the video's file name, inside the job folder
    frames: int
    width: int  # of the first frame as fitted
    height: int
    fps: float | None  # the upload's own rate, when it has one


def store_sequence(upload: UploadFile, job_dir: Path, limits: Limits, size: int) -> StoredSequence:
    """Save and check a sequence upload; 413/422 saying what to fix."""
    path, label = save_upload(upload, job_dir, limits, WANTED)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        frames = _unzip_frames(path, job_dir / FRAMES_DIR, limits, label)
        fps = None
    elif suffix == ".gif":
        frames, fps = _gif_frames(path, job_dir / FRAMES_DIR, limits, label)
    elif suffix in VIDEO_SUFFIXES:
        return _probe_video(path, job_dir, limits, label, size)
    else:
        raise HTTPException(422, f"{label} is neither a video nor a .zip; send {WANTED}")
    path.unlink()  # its frames are unpacked
    try:
        check_same_size(frames)
    except ImageInputError as e:
        raise HTTPException(422, f"{label}: {e}") from None
    width, height = write_target(frames[0], f"{label}: {frames[0].name}", job_dir, limits, size)
    return StoredSequence(FRAMES_DIR, len(frames), width, height, fps)


def _unzip_frames(path: Path, folder: Path, limits: Limits, label: str) -> list[Path]:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise HTTPException(422, f"{label} is not a readable zip archive ({e}); send {WANTED}") from None
    with archive:
        entries = _frame_entries(archive, limits, label)
        folder.mkdir()
        frames = []
        for entry, name in entries:
            target = folder / name
            try:
                with archive.open(entry) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)  # zipfile stops at the declared size and checks the CRC
            except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
                raise HTTPException(422, f"{label}: {entry.filename} cannot be unpacked ({e})") from None
            frames.append(target)
    return frames


def _frame_entries(archive: zipfile.ZipFile, limits: Limits, label: str) -> list[tuple[zipfile.ZipInfo, str]]:
    """The frame entries in natural order of their names, and the name each is saved under; every entry
    checked from the archive's directory before anything is unpacked."""
    chosen: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for entry in archive.infolist():
        name = entry.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts or ":" in name:
            raise HTTPException(422, f"{label}: the entry {name!r} is not a plain relative path; zip the "
                                "frames themselves (or their folder)")
        if entry.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue  # folders, hidden files and macOS metadata are not frames
        if PurePosixPath(parts[-1]).suffix.lower() not in IMAGE_SUFFIXES:
            raise HTTPException(422, f"{label}: {name!r} is not a frame image; a sequence zip holds only images "
                                f"({', '.join(IMAGE_SUFFIXES)})")
        if entry.flag_bits & 0x1:
            raise HTTPException(422, f"{label}: {name!r} is encrypted; send an archive without a password")
        saved = re.sub(r"[^A-Za-z0-9._-]", "_", parts[-1])
        if saved in chosen:
            raise HTTPException(422, f"{label}: two frames are named {parts[-1]!r}; name every frame differently")
        if entry.file_size > limits.max_upload_bytes:
            raise HTTPException(413, f"{label}: {name!r} unpacks to {entry.file_size / 2**20:.0f} MiB, more than "
                                f"this server's limit of {limits.max_upload_bytes / 2**20:.0f} MiB for an image")
        total += entry.file_size
        unpacked = UNPACKED_SHARE * limits.max_upload_bytes
        if total > unpacked:
            raise HTTPException(413, f"{label} unpacks to more than {unpacked / 2**20:.0f} MiB; send fewer or "
                                "smaller frames")
        chosen[saved] = entry
        _check_count(len(chosen), limits, label)
    if not chosen:
        raise HTTPException(422, f"{label} holds no frame images; send {WANTED}")
    return [(chosen[name], name) for name in sorted(chosen, key=lambda n: natural_key(Path(n)))]


def _gif_frames(path: Path, folder: Path, limits: Limits, label: str) -> tuple[list[Path], float | None]:
    """An animated GIF's frames as PNGs (the worker reads them as it reads a zip's)."""
    folder.mkdir()
    frames: list[Path] = []
    try:
        with Image.open(path) as gif:
            if gif.width * gif.height > limits.max_pixels:
                raise HTTPException(413, f"{label} is {gif.width}×{gif.height} px, more than this server's "
                                    f"limit of {limits.max_pixels / 1e6:.0f} MP")
            duration = gif.info.get("duration")
            for index, frame in enumerate(ImageSequence.Iterator(gif)):
                _check_count(index + 1, limits, label)
                frames.append(folder / f"{index:05d}.png")
                frame.convert("RGBA").save(frames[-1])
    except (OSError, SyntaxError, ValueError) as e:
        raise HTTPException(422, f"{label} is not a readable GIF ({e}); send {WANTED}") from None
    fps = 1000.0 / duration if isinstance(duration, int | float) and duration > 0 else None
    return frames, fps


def _probe_video(path: Path, job_dir: Path, limits: Limits, label: str, size: int) -> StoredSequence:
    """A video's frame count, size and rate from ffmpeg, without decoding it (the worker does that)."""
    import imageio_ffmpeg

    try:
        count, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        first = next(reader, None)
        reader.close()
    except (OSError, RuntimeError, StopIteration) as e:
        raise HTTPException(422, f"{label} cannot be decoded as a video ({str(e).strip().splitlines()[-1]})") from None
    width, height = meta["size"]
    if width * height > limits.max_pixels:
        raise HTTPException(413, f"{label} is {width}×{height} px, more than this server's limit of "
                            f"{limits.max_pixels / 1e6:.0f} MP")
    if count < 1 or first is None:
        raise HTTPException(422, f"{label}: the video has no frames")
    _check_count(count, limits, label)
    first_frame = job_dir / "first-frame.png"
    Image.frombytes("RGB", (width, height), first).save(first_frame)
    fitted = write_target(first_frame, label, job_dir, limits, size)
    first_frame.unlink()
    fps = float(meta.get("fps") or 0.0)
    return StoredSequence(path.name, count, fitted[0], fitted[1], fps if fps > 0 else None)


def _check_count(frames: int, limits: Limits, label: str) -> None:
    if frames > limits.max_frames:
        raise HTTPException(413, f"{label} has more than this server's limit of {limits.max_frames} frames; "
                            "send a shorter clip, or every n-th frame")

"""What a batch or a sequence is made of: the images in a folder, the frames of a sequence (a folder, a
glob or a video file), read at the working size."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
from PIL import Image

from diffpaint.batch.atomic import atomic_folder
from diffpaint.imageio import ImageInputError
from diffpaint_shared import sequence

IMAGE_SUFFIXES, VIDEO_SUFFIXES = sequence.FRAME_SUFFIXES, sequence.VIDEO_SUFFIXES
EXTRACTED_FRAMES = "input-frames"  # a video's frames, at the working size, inside its result folder


def natural_key(path: Path) -> list[int | str]:
    """Sort key that puts frame_2 before frame_10."""
    return sequence.natural_key(path.name)


def is_image(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def is_video(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES and path.suffix.lower() != ".gif"


def images_in(folder: Path) -> list[Path]:
    """The image files directly inside `folder`, in natural order (hidden files skipped)."""
    return sorted((p for p in folder.iterdir() if is_image(p) and not p.name.startswith(".")), key=natural_key)


def frame_paths(source: str) -> list[Path]:
    """The frames of a sequence given as a folder of images or a glob pattern such as 'shots/f_*.png'."""
    path = Path(source)
    if path.is_dir():
        frames = images_in(path)
    elif any(c in source for c in "*?["):
        frames = sorted((p for p in map(Path, glob.glob(source)) if is_image(p)), key=natural_key)
    else:
        raise ImageInputError(f"{source}: not a folder of frames, a glob of frames or a video file")
    if len(frames) < 1:
        raise ImageInputError(f"{source}: no frames found ({', '.join(IMAGE_SUFFIXES)})")
    return frames


def check_same_size(frames: list[Path]) -> None:
    """Refuse a sequence whose frames differ in size (ImageInputError names the first that differs)."""
    sizes = []
    for p in frames:
        try:
            with Image.open(p) as im:
                sizes.append(im.size)
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageInputError(f"{p.name}: not a readable image ({e})") from None
    for p, size in zip(frames, sizes, strict=True):
        if size != sizes[0]:
            raise ImageInputError(f"the frames of a sequence share one size: {p.name} is {size[0]}×{size[1]} px, "
                                  f"{frames[0].name} {sizes[0][0]}×{sizes[0][1]} px")


def extract_video(video: Path, folder: Path, size: int) -> tuple[list[Path], float]:
    """Decode a video (imageio-ffmpeg's bundled ffmpeg) into PNG frames of long side ≤ `size` in
    `folder` (written whole or not at all, and reused when there); the frames and the video's frame rate."""
    import imageio_ffmpeg

    if not folder.is_dir():
        with atomic_folder(folder) as partial:
            try:
                reader = imageio_ffmpeg.read_frames(str(video))
                meta = reader.__next__()
            except (OSError, RuntimeError, StopIteration) as e:
                raise ImageInputError(f"{video.name}: cannot be decoded as a video ({e})") from None
            width, height = meta["size"]
            scale = min(1.0, size / max(width, height))
            shape = (max(1, round(width * scale)), max(1, round(height * scale)))
            count = 0
            for count, data in enumerate(reader, start=1):
                frame = Image.fromarray(np.frombuffer(data, np.uint8).reshape(height, width, 3))
                frame.resize(shape, Image.Resampling.LANCZOS).save(partial / f"{count - 1:05d}.png")
            if count == 0:
                raise ImageInputError(f"{video.name}: the video has no frames")
            (partial / "fps.txt").write_text(str(float(meta.get("fps") or 24.0)))
    return images_in(folder), float((folder / "fps.txt").read_text())

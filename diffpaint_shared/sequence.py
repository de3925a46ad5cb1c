"""The DiffPaint sequence manifest: an image sequence or video reconstructed frame by frame.

Standard library only, so the backend (which writes it) and the Blender add-on (which will import it
as Grease Pencil animation) share one definition. A manifest lists one stroke file per frame (each an
ordinary single-image stroke file, see strokefile.py) and, per frame, the identity of every stroke
in painting order: a stroke id found in two consecutive frames is the same brush mark, moved and
refitted, not a new one. ``docs/sequence-format.md`` is the prose specification of version 1.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

FORMAT_NAME = "diffpaint-sequence"
FORMAT_VERSION = 1
MANIFEST_NAME = "sequence.json"
# What a sequence is read from: a folder (or zip) of frame images, or one video file.
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".gif")


def natural_key(name: str) -> list[int | str]:
    """Sort key for frame file names that puts frame_2 before frame_10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class SequenceFileError(ValueError):
    """A sequence manifest is malformed, of the wrong version, or names files outside its folder."""


@dataclass(frozen=True)
class Frame:
    index: int  # 0-based position in the sequence
    strokes: str  # stroke file, a relative POSIX path from the manifest's folder
    stroke_ids: tuple[int, ...]  # per stroke of that file, in painting order
    source: str = ""  # the input frame it was fitted to (informative)
    render: str = ""  # the backend's render (relative path), "" when none
    warm: bool = False  # fitted from the previous frame's strokes (False: reconstructed from scratch)
    chunk: int = 0  # frames of one chunk were fitted in one run; strokes carry over only within a chunk
    psnr: float | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Sequence:
    width: int
    height: int
    fps: float
    frames: tuple[Frame, ...]
    metadata: dict[str, Any] = field(default_factory=dict)

    def carried_over(self, index: int) -> int:
        """Strokes of frame `index` that were already in frame `index` − 1 (0 for the first frame)."""
        if index == 0:
            return 0
        previous = set(self.frames[index - 1].stroke_ids)
        return sum(1 for i in self.frames[index].stroke_ids if i in previous)


def to_dict(seq: Sequence) -> dict[str, Any]:
    validate(seq)
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "canvas": {"width": seq.width, "height": seq.height},
        "fps": seq.fps,
        "metadata": seq.metadata,
        "frames": [frame_to_dict(f) for f in seq.frames],
    }


def frame_to_dict(f: Frame) -> dict[str, Any]:
    out: dict[str, Any] = {"index": f.index, "strokes": f.strokes, "stroke_ids": list(f.stroke_ids),
                           "warm": f.warm, "chunk": f.chunk}
    for key in ("source", "render"):
        if getattr(f, key):
            out[key] = getattr(f, key)
    for key in ("psnr", "seconds"):
        if getattr(f, key) is not None:
            out[key] = getattr(f, key)
    return out


def save(seq: Sequence, path: str | os.PathLike[str]) -> None:
    """Write atomically: a reader sees the old manifest or the whole new one, never a part."""
    path = Path(path)
    text = json.dumps(to_dict(seq), indent=1)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | os.PathLike[str]) -> Sequence:
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        raise SequenceFileError(f"{path}: cannot read the manifest ({e})") from None
    except json.JSONDecodeError as e:
        raise SequenceFileError(f"{path}: not JSON ({e})") from None
    return from_dict(raw)


def resolve(manifest: str | os.PathLike[str], relative: str) -> Path:
    """A path named in the manifest at `manifest`, on this machine."""
    return Path(manifest).parent / PurePosixPath(relative)


def from_dict(raw: Any) -> Sequence:
    if not isinstance(raw, dict):
        raise SequenceFileError("a sequence manifest is a JSON object")
    if raw.get("format") != FORMAT_NAME:
        raise SequenceFileError(f"not a DiffPaint sequence manifest (format {raw.get('format')!r})")
    if raw.get("version") != FORMAT_VERSION:
        raise SequenceFileError(f"sequence manifest version {raw.get('version')!r}; this reader reads "
                                f"version {FORMAT_VERSION}")
    canvas, frames, metadata = raw.get("canvas"), raw.get("frames"), raw.get("metadata", {})
    if not isinstance(canvas, dict):
        raise SequenceFileError("canvas: an object with width and height is required")
    if not isinstance(frames, list):
        raise SequenceFileError("frames: a list is required")
    if not isinstance(metadata, dict):
        raise SequenceFileError("metadata: an object is required")
    seq = Sequence(width=_int(canvas.get("width"), "canvas.width"), height=_int(canvas.get("height"), "canvas.height"),
                   fps=_number(raw.get("fps"), "fps"), metadata=metadata,
                   frames=tuple(frame_from_dict(f, f"frames[{i}]") for i, f in enumerate(frames)))
    validate(seq)
    return seq


def frame_from_dict(raw: Any, where: str = "frame") -> Frame:
    if not isinstance(raw, dict):
        raise SequenceFileError(f"{where}: an object is required")
    ids = raw.get("stroke_ids")
    if not isinstance(ids, list):
        raise SequenceFileError(f"{where}.stroke_ids: a list is required")
    optional = {k: _number(raw[k], f"{where}.{k}") for k in ("psnr", "seconds") if raw.get(k) is not None}
    return Frame(index=_int(raw.get("index"), f"{where}.index", low=0), strokes=_text(raw.get("strokes"), where),
                 stroke_ids=tuple(_int(i, f"{where}.stroke_ids", low=0) for i in ids),
                 source=_text(raw.get("source", ""), where), render=_text(raw.get("render", ""), where),
                 warm=_bool(raw.get("warm", False), f"{where}.warm"),
                 chunk=_int(raw.get("chunk", 0), f"{where}.chunk", low=0), **optional)


def validate(seq: Sequence) -> None:
    """Raise SequenceFileError unless every field is in range and every path stays inside the folder."""
    for name in ("width", "height"):
        value = getattr(seq, name)
        if not 1 <= value <= 65536:
            raise SequenceFileError(f"canvas.{name} must lie in 1 … 65536, not {value}")
    if not seq.fps > 0:
        raise SequenceFileError(f"fps must be positive, not {seq.fps}")
    for position, f in enumerate(seq.frames):
        where = f"frames[{position}]"
        if f.index != position:
            raise SequenceFileError(f"{where}.index is {f.index}: frames are listed in order from 0")
        if len(set(f.stroke_ids)) != len(f.stroke_ids):
            raise SequenceFileError(f"{where}.stroke_ids: an id appears twice")
        _relative(f.strokes, f"{where}.strokes", required=True)
        _relative(f.render, f"{where}.render", required=False)


def _relative(path: str, where: str, required: bool) -> None:
    if not path:
        if required:
            raise SequenceFileError(f"{where}: a relative path is required")
        return
    p = PurePosixPath(path)
    if p.is_absolute() or ".." in p.parts or "\\" in path or ":" in path:
        raise SequenceFileError(f"{where}: {path!r} must be a relative path inside the manifest's folder")


def _int(v: Any, where: str, low: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < low:
        raise SequenceFileError(f"{where}: an integer ≥ {low} is required, not {v!r}")
    return v


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v:
        raise SequenceFileError(f"{where}: a number is required, not {v!r}")
    return float(v)


def _bool(v: Any, where: str) -> bool:
    if not isinstance(v, bool):
        raise SequenceFileError(f"{where}: true or false is required, not {v!r}")
    return v


def _text(v: Any, where: str) -> str:
    if not isinstance(v, str):
        raise SequenceFileError(f"{where}: a string is required, not {v!r}")
    return v

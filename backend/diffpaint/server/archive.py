"""A sequence job's result as one zip (``GET /jobs/{id}/sequence``): the manifest and exactly the files it
names, at the paths it names them by, so the archive unpacks into a folder `diffpaint_shared.sequence`
loads as it is. Files a killed worker left half-written are named by no manifest, so never sent."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

from diffpaint_shared import sequence

# Renders are PNGs, already compressed: stored as they are; the stroke files (JSON) deflate well.
STORED_SUFFIXES = (".png",)


def sequence_zip(manifest: Path) -> Path:
    """A temporary zip file beside the manifest's folder (the caller deletes it once sent); OSError when a
    file is gone, SequenceFileError when the manifest is not one."""
    seq = sequence.load(manifest)  # checks every path is relative and inside its folder
    names = [sequence.MANIFEST_NAME, *(p for f in seq.frames for p in (f.strokes, f.render) if p)]
    fd, tmp = tempfile.mkstemp(prefix=".sequence-", suffix=".zip", dir=manifest.parent.parent)
    try:
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(out, "w") as archive:
            for name in names:
                kind = zipfile.ZIP_STORED if name.lower().endswith(STORED_SUFFIXES) else zipfile.ZIP_DEFLATED
                archive.write(sequence.resolve(manifest, name), name, compress_type=kind)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)

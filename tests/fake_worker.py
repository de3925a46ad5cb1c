"""Stand-in for `python -m diffpaint.server.worker JOB_DIR` (see diffpaint/server/worker.py): the
same events and files, no optimizer. The upload's file name picks the behavior:

- ``fail*``  reports an error and exits 2, like a bad image the server could not catch;
- ``crash*`` dies with a traceback and no event, like an out-of-memory kill;
- ``slow*``  completes level 1, then waits (to be cancelled), writing its pid to ``worker.pid``;
- anything else completes every level quickly.

``FAKE_WORKER_PACE`` (seconds, default 0.05) sets the pause after each progress event, for tests that must
see every status however loaded the machine is.
"""

import json
import os
import sys
import time
from pathlib import Path

from PIL import Image

from diffpaint_shared import strokefile


def emit(**event):
    print(json.dumps(event), flush=True)


def stroke_file(width, height, levels):
    strokes = tuple(
        strokefile.Stroke(points=((2.0, 2.0 + i), (width / 2, height / 2), (width - 2.0, height - 2.0 - i)),
                          radius=(3.0, 2.0), color=((0.8, 0.2, 0.1), (0.7, 0.3, 0.1)), level=i, order=i,
                          style={"name": "digital"})
        for i in range(levels)
    )
    return strokefile.StrokeFile(strokefile.Canvas(width, height, (0.5, 0.5, 0.5)), strokes)


def main(job_dir: Path) -> int:
    spec = json.loads((job_dir / "job.json").read_text())
    source, settings = spec["source"], spec["settings"]
    (job_dir / "worker.pid").write_text(str(os.getpid()))
    if source.startswith("fail"):
        emit(event="error", message="the fake worker was told to fail")
        return 2
    if source.startswith("crash"):
        emit(event="progress", phase="paint", level=1, levels=1, iteration=1, iterations=1, fraction=0.1,
             loss=0.5, psnr=10.0, elapsed=0.1)
        raise MemoryError("fake out of memory")
    with Image.open(job_dir / "target.png") as im:
        width, height = im.size
    levels = settings["levels"]
    pace = float(os.environ.get("FAKE_WORKER_PACE", "0.05"))
    for level in range(1, levels + 1):
        for it in (1, 2):
            emit(event="progress", phase="paint", level=level, levels=levels, iteration=it, iterations=2,
                 fraction=((level - 1) * 2 + it) / (2 * levels), loss=0.1 / level, psnr=20.0 + level,
                 elapsed=0.05 * level)
            time.sleep(pace)
        Image.new("RGB", (width, height), (10 * level, 80, 120)).save(job_dir / "preview.tmp.png", "PNG")
        os.replace(job_dir / "preview.tmp.png", job_dir / "preview.png")
        emit(event="preview")
        strokefile.save(stroke_file(width, height, level), job_dir / f"level-{level}.json")
        emit(event="level", level=level, strokes=f"level-{level}.json")
        if source.startswith("slow"):
            time.sleep(120)
    strokefile.save(stroke_file(width, height, levels), job_dir / "strokes.json")
    Image.new("RGB", (width, height), (200, 80, 120)).save(job_dir / "render.png")
    (job_dir / "report.json").write_text(json.dumps({"width": width, "height": height, "strokes": levels,
                                                     "psnr": 30.5, "blank_psnr": 12.0, "seconds": 0.3}))
    emit(event="done", strokes=str(job_dir / "strokes.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))

"""Issue 13, item 4: what a tiny upload of a huge image costs `diffpaint serve`.

A 39.7 MP PNG of one color compresses to a few KB. Measured, for the source tree given (default:
this repository; pass an older checkout to compare):

1. peak RSS of `read_image` on it (what the server's upload check and the worker each do), in a
   fresh process, at working sizes 256 and 1024;
2. the time a fresh server takes to answer it, and the server's peak RSS: with an empty queue
   (accepted: 201) and with a full one (refused: 503).

    PYTHONPATH=backend:. python bench/upload_bomb.py [--src /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
BOMB_SIZE = (7000, 5671)  # 39.7 MP, under the server's default 40 MP limit
TOKEN = "bench-token-0123456789abcdef"

READ = """
import resource, sys
from diffpaint.imageio import read_image
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
image = read_image(sys.argv[1], int(sys.argv[2]), max_pixels=40_000_000)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(base // 1024, peak // 1024, tuple(image.rgb.shape))
"""


def make_bomb(path: Path) -> Path:
    Image.new("1", BOMB_SIZE, 1).save(path, optimize=True)
    return path


def small_png(path: Path) -> Path:
    Image.new("RGB", (40, 30), (200, 60, 40)).save(path)
    return path


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, path: Path, fields: dict[str, object]) -> tuple[int, float]:
    from diffpaint_addon.client import encode_multipart

    body, ctype = encode_multipart(fields, {"image": (path.name, path.read_bytes())})
    req = urllib.request.Request(url + "/jobs", data=body, method="POST",
                                 headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": ctype})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            status = resp.status
            resp.read()
    except urllib.error.HTTPError as e:
        status = e.code
        e.read()
    return status, time.perf_counter() - t0


def serve(src: Path, tmp: Path) -> tuple[subprocess.Popen[str], str]:
    tmp.mkdir()
    worker = shlex.join([sys.executable, "-c", "import time; time.sleep(3600)"])  # a job that never ends
    env = {**os.environ, "PYTHONPATH": f"{src / 'backend'}:{src}", "DIFFPAINT_TOKEN": TOKEN,
           "DIFFPAINT_WORKER": worker}
    proc = subprocess.Popen([sys.executable, "-m", "diffpaint", "serve", "--port", "0", "--max-queued", "1",
                             "--work-dir", str(tmp / "work")], stdout=subprocess.PIPE, text=True, env=env, cwd=tmp)
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["url"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--src", type=Path, default=ROOT, help="source tree to measure (default: this one)")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": f"{args.src / 'backend'}:{args.src}"}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bomb = make_bomb(tmp / "bomb.png")
        print(f"source: {args.src}\nbomb: {BOMB_SIZE[0]}×{BOMB_SIZE[1]} px, {bomb.stat().st_size / 1024:.1f} KB")
        for size in (256, 1024):
            out = subprocess.run([sys.executable, "-c", READ, str(bomb), str(size)], env=env, capture_output=True,
                                 text=True, check=True).stdout.split(maxsplit=2)
            print(f"read_image at size {size}: RSS {out[0]} MB after imports, peak {out[1]} MB")
        for full in (False, True):
            proc, url = serve(args.src, tmp / f"server-{full}")
            try:
                if full:  # the first job runs for ever, the second waits: the queue (--max-queued 1) is full
                    for name in ("running.png", "queued.png"):
                        post(url, small_png(tmp / name), {"size": 32})
                idle = peak_rss_mb(proc.pid)
                status, seconds = post(url, bomb, {"size": 256})
                print(f"server, {'full' if full else 'empty'} queue: bomb answered {status} in {seconds:.2f} s; "
                      f"peak RSS {idle:.0f} MB before, {peak_rss_mb(proc.pid):.0f} MB after")
            finally:
                proc.terminate()
                proc.wait(30)

if __name__ == "__main__":
    main()

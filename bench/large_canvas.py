"""Large canvases on the CPU: time and peak memory of the renderer's forward+backward and of a whole
`diffpaint reconstruct` (issue 14: 1,024 px / 2,048 strokes ≤ 2 min end to end; 2,048 px / 8,000
strokes completes with peak memory ≤ 8 GiB).

    .venv/bin/python bench/large_canvas.py [--limit-gib 12] [--iterations 10] [--case SIZE STROKES ...]

Each measurement runs in its own child process under an address-space limit (`--limit-gib`, so a case
that would need more fails instead of taking the machine's memory); its peak resident memory is the
child's own ru_maxrss (from os.wait4: torch's allocations are invisible to tracemalloc). The end-to-end
runs use a sample painting, one placement round per level and `--iterations` steps per round.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = [(1024, 2048), (2048, 8000)]


def run_limited(cmd: list[str], limit_gib: float) -> tuple[float, float, int, str]:
    """Run `cmd` under an address-space limit: (wall s, peak resident GiB, exit status, stderr tail)."""
    limit = int(limit_gib * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=cap)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - start, usage.ru_maxrss / 2**20, proc.returncode, err.strip()[-300:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit-gib", type=float, default=12.0)
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--case", nargs=2, type=int, action="append", metavar=("SIZE", "STROKES"))
    args = parser.parse_args()
    from diffpaint.samples import paintings

    painting = paintings()[0].path
    print(f"address-space limit {args.limit_gib:g} GiB per run; end to end: {painting.name}, 1 round × "
          f"{args.iterations} steps per level\n")
    print("| canvas | strokes | run | wall | peak memory | status |")
    print("| --- | --- | --- | --- | --- | --- |")
    for size, count in args.case or CASES:
        runs = {
            "renderer fwd+bwd": [sys.executable, str(HERE / "renderer.py"), "--one", str(size), str(count),
                                 "--repeats", "1"],
            "reconstruct": [sys.executable, "-m", "diffpaint", "reconstruct", str(painting), "--out",
                            tempfile.mkdtemp(prefix="large_canvas_"), "--size", str(size), "--strokes", str(count),
                            "--iterations", str(args.iterations), "--rounds", "1", "--gif-frames", "2"],
        }
        for name, cmd in runs.items():
            wall, peak, code, err = run_limited(cmd, args.limit_gib)
            status = "ok" if code == 0 else f"failed ({code}): {err.splitlines()[-1] if err else ''}"
            print(f"| {size}² | {count} | {name} | {wall:.1f} s | {peak:.2f} GiB | {status} |", flush=True)


if __name__ == "__main__":
    main()

"""Large canvases on the CPU: time and peak memory of the renderer's forward+backward, and of a whole
`diffpaint reconstruct` (issue 14: 1,024 px / 2,048 strokes ≤ 2 min end to end; 2,048 px / 8,000
strokes completes with peak memory ≤ 8 GiB).

    .venv/bin/python bench/large_canvas.py [--case SIZE STROKES ...] [--limit-gib 12]
    .venv/bin/python bench/large_canvas.py --reconstruct [--case SIZE STROKES ...] [--iterations N] [--rounds N]
        [--time-budget SECONDS]

Each measurement runs in its own child process under an address-space limit (`--limit-gib`, so a case
that would need more fails instead of taking the machine's memory); peak memory is the child's own
resident peak (ru_maxrss from os.wait4: torch's allocations are invisible to tracemalloc), start-up
included. The load average before and after each run is printed beside it: on a busy machine times
are only comparable between runs at the same load; memory does not depend on it.

Renderer rows: random strokes (`common.random_strokes`), forward+backward passes of an L1 loss
(`bench/renderer.py --one`): one pass, cold, by default; with `--repeats N`, a warm-up and the median of N.

`--reconstruct` rows: `diffpaint reconstruct` of a sample painting (about 600 px) resized to the canvas, with the
job's defaults (levels that follow the stroke budget, 2 placement rounds of 80 steps; `--iterations`/`--rounds`
lower them for a quick check; the joint phase's 200 and the relocation's 40 steps run whatever they say, unless
`--time-budget`, passed on, cuts them): the wall and CPU time of the whole process, the fit's own time and PSNR at
the full canvas (from its report.json), the detail ratio of its render.png to its target.png
(`diffpaint.metrics.detail_ratio`: 1 = as much fine detail as the target, below 1 = smoother), and the fit's time
per phase (from its --progress-json events, kept in the run's folder): each level's paint rounds, relocation and the
joint phase. Canvases over `FIT_MAX_SIDE` are fitted at that long side and their strokes scaled up
(fit/optimize.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = [(1024, 2048), (2048, 8000)]
PAINTING = 436535  # Van Gogh, "Wheat Field with Cypresses"


@dataclass
class ChildRun:
    wall: float  # s, start-up included
    cpu: float  # s of CPU time (user + system) of the child: on a loaded machine, less load-dependent than wall
    peak_gib: float  # resident peak of the child
    code: int
    stdout: str
    stderr_tail: str
    load: tuple[float, float]  # 1-minute load average before and after

    def status(self) -> str:
        if self.code == 0:
            return "ok"
        last = self.stderr_tail.splitlines()[-1] if self.stderr_tail else ""
        return f"failed ({self.code}): {last}"


def run_limited(cmd: list[str], limit_gib: float, stdout: Path) -> ChildRun:
    """Run `cmd` under an address-space limit of `limit_gib`, its stdout going to the file `stdout`."""
    limit = int(limit_gib * 2**30)

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    load_before = os.getloadavg()[0]
    start = time.perf_counter()
    with stdout.open("w") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, preexec_fn=cap)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - start
        err.seek(0)
        stderr = err.read()
    return ChildRun(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 2**20, proc.returncode,
                    stdout.read_text(), stderr.strip()[-300:], (load_before, os.getloadavg()[0]))


def renderer_rows(cases: list[tuple[int, int]], limit_gib: float, repeats: int) -> None:
    print("| canvas | strokes | fwd+bwd per step | wall (process) | peak memory | load before → after | status |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for size, count in cases:
        cmd = [sys.executable, str(HERE / "renderer.py"), "--one", str(size), str(count), "--repeats", str(repeats)]
        child = run_limited(cmd, limit_gib, Path(tempfile.mkdtemp(prefix="large_canvas_")) / "result.json")
        step = f"{json.loads(child.stdout)['seconds']:.2f} s" if child.code == 0 else "—"
        print(f"| {size}² | {count} | {step} | {child.wall:.1f} s | {child.peak_gib:.2f} GiB | "
              f"{child.load[0]:.1f} → {child.load[1]:.1f} | {child.status()} |", flush=True)


def phase_times(progress_lines: str) -> dict[str, float]:
    """Seconds per phase of a run from its progress events, in the order the phases first ran ("level N"
    for level N's paint rounds): the time from one event to the next counts for the later one's phase."""
    times: dict[str, float] = {}
    previous = 0.0
    for line in progress_lines.splitlines():
        event = json.loads(line)
        if event.get("event") == "progress":
            name = f"level {event['level']}" if event["phase"] in ("paint", "style", "smudge") else event["phase"]
            times[name] = times.get(name, 0.0) + event["elapsed"] - previous
            previous = event["elapsed"]
    return times


def upscaled_painting(size: int, out: Path) -> Path:
    """The bench's sample painting (the Van Gogh the tests use) resized to a long side of `size` px: the
    samples are about 600 px and reconstruct only ever downscales."""
    from PIL import Image

    from diffpaint.samples import painting

    image = Image.open(painting(PAINTING).path).convert("RGB")
    factor = size / max(image.size)
    path = out / f"target-{size}.png"
    image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS).save(path)
    return path


def detail(out: Path) -> float:
    """`detail_ratio` of a finished run's render.png to its target.png."""
    from diffpaint.imageio import load_image
    from diffpaint.metrics import detail_ratio

    return detail_ratio(load_image(out / "render.png", 1 << 16)[0], load_image(out / "target.png", 1 << 16)[0])


def reconstruct_rows(cases: list[tuple[int, int]], limit_gib: float, iterations: int | None,
                     rounds: int | None, time_budget: float | None) -> None:
    extra = [*(["--iterations", str(iterations)] if iterations else []), *(["--rounds", str(rounds)] if rounds else []),
             *(["--time-budget", f"{time_budget:g}"] if time_budget else [])]
    print(f"diffpaint reconstruct (sample painting {PAINTING} resized to SIZE) --size SIZE --strokes STROKES "
          f"{' '.join(extra)}; each run's progress in OUT/progress.jsonl".rstrip())
    print("\n| canvas | strokes | wall (process) | CPU (process) | fit | PSNR | detail ratio | peak memory "
          "| fit time per phase | load before → after | status | OUT |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for size, count in cases:
        out = Path(tempfile.mkdtemp(prefix="large_canvas_"))
        cmd = [sys.executable, "-m", "diffpaint", "reconstruct", str(upscaled_painting(size, out)), "--out", str(out),
               "--size", str(size), "--strokes", str(count), "--gif-frames", "2", "--progress-json", *extra]
        child = run_limited(cmd, limit_gib, out / "progress.jsonl")
        fit = psnr = ratio = "—"
        if child.code == 0:
            report = json.loads((out / "report.json").read_text())
            fit, psnr, ratio = f"{report['seconds']:.1f} s", f"{report['psnr']:.2f} dB", f"{detail(out):.2f}"
        phases = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in phase_times(child.stdout).items())
        print(f"| {size}² | {count} | {child.wall:.1f} s | {child.cpu:.0f} s | {fit} | {psnr} | {ratio} | "
              f"{child.peak_gib:.2f} GiB | {phases} | {child.load[0]:.1f} → {child.load[1]:.1f} | {child.status()} | "
              f"{out} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", nargs=2, type=int, action="append", metavar=("SIZE", "STROKES"),
                        help="canvas long side and stroke count (repeatable; default: 1024 2048 and 2048 8000)")
    parser.add_argument("--limit-gib", type=float, default=12.0, help="address-space limit per child (default 12)")
    parser.add_argument("--repeats", type=int, default=0, help="timed renderer passes after a warm-up (default 0: "
                        "one cold pass)")
    parser.add_argument("--reconstruct", action="store_true", help="time whole reconstructions instead")
    parser.add_argument("--iterations", type=int, help="reconstruct: steps per placement round (default: the job's)")
    parser.add_argument("--rounds", type=int, help="reconstruct: placement rounds per level (default: the job's)")
    parser.add_argument("--time-budget", type=float, help="reconstruct: the job's time budget in seconds (default: "
                        "none)")
    args = parser.parse_args()
    cases = [tuple(case) for case in args.case] if args.case else CASES
    print(f"{os.cpu_count()} CPUs, address-space limit {args.limit_gib:g} GiB per child, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    if args.reconstruct:
        reconstruct_rows(cases, args.limit_gib, args.iterations, args.rounds, args.time_budget)
    else:
        renderer_rows(cases, args.limit_gib, args.repeats)


if __name__ == "__main__":
    main()

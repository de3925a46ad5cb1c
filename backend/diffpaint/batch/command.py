"""The `diffpaint batch` and `diffpaint sequence` subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffpaint.batch import items
from diffpaint.batch.atomic import remove_partials
from diffpaint.batch.engine import BatchProgress, Task, ray_available, run_in_process, run_on_ray
from diffpaint.batch.sequence import SequenceSettings
from diffpaint.batch.tasks import BatchSettings, ChunkTask, ImageTask, chunk_frames, read_frame
from diffpaint.options import add_setting, job_settings, non_negative_float, positive_int
from diffpaint_shared import sequence
from diffpaint_shared.jobschema import BACKGROUND_CHOICES, SETTINGS, background_rgb

# Settings a sequence cannot carry from frame to frame (batch.sequence.SequenceSettings refuses them).
IMAGES_ONLY = ("style", "style_reference", "smudge")
BACKGROUND_HELP = f"canvas color: {BACKGROUND_CHOICES}; a sequence's 'mean' is its first frame's"
ENGINE_HELP = ("where items run: 'ray' (Ray tasks on a local cluster, or the one --ray-address names), "
               "'local' (here, one at a time), 'auto' (Ray when installed; default)")


def add_batch_parsers(sub: Any) -> None:
    bat = sub.add_parser(
        "batch", help="reconstruct every image in a folder (resumable; Ray when installed)",
        description="Reconstruct each image in INPUT into OUT/<image name>/ (the files `reconstruct` writes). "
        "A result folder appears only when complete, and items whose folder exists are skipped, so a "
        "batch stopped by a crash or Ctrl-C resumes where it was when run again.")
    bat.add_argument("input", type=Path, help="folder of images (PNG, JPEG, TIFF, WebP)")
    bat.add_argument("--sequences", action="store_true",
                     help="also fit each video file and each subfolder of frames in INPUT as a sequence")
    _add_common(bat, sequences_only=False)
    bat.set_defaults(run=_batch)

    seq = sub.add_parser(
        "sequence", help="fit an image sequence or video as painterly animation (one stroke file per frame)",
        description="Fit each frame of a sequence, starting from the previous frame's strokes (they move with "
        "the camera, are kept where they still fit and replaced where they do not), and write one stroke "
        "file per frame and a manifest, OUT/sequence.json (docs/sequence-format.md). Resumable like batch.")
    seq.add_argument("source", help="folder of frames, a quoted glob like 'shots/f_*.png', or a video file")
    seq.add_argument("--fps", type=float, default=None, help="frame rate recorded in the manifest "
                     "(default: the video's, 24 for frames)")
    _add_common(seq, sequences_only=True)
    seq.set_defaults(run=_sequence)


def _add_common(p: argparse.ArgumentParser, sequences_only: bool) -> None:
    p.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    for setting in SETTINGS:  # the job settings, as `reconstruct` takes them
        overrides = {"help": BACKGROUND_HELP} if setting.name == "background" else {}
        if setting.name in IMAGES_ONLY:
            if sequences_only:
                continue
            overrides = {"help": f"{setting.help}; images only, a sequence refuses it"}
        add_setting(p, setting.name, **overrides)
    p.add_argument("--warm-iterations", type=positive_int, default=SequenceSettings.warm_iterations,
                   help=f"sequences: refine steps of a frame started from the one before "
                   f"(default {SequenceSettings.warm_iterations})")
    p.add_argument("--temporal", type=non_negative_float, default=SequenceSettings.temporal, metavar="WEIGHT",
                   help="sequences: how strongly a warm frame keeps the previous frame's look wherever the input did "
                   f"not change, against flicker (× the pixel loss; 0: off; default {SequenceSettings.temporal:g})")
    p.add_argument("--no-warm", dest="warm", action="store_false",
                   help="sequences: reconstruct every frame from scratch (no stroke carries over)")
    p.add_argument("--chunk", type=int, default=0, metavar="FRAMES",
                   help="sequences: split into chunks of this many frames, fitted in parallel; strokes carry over "
                   "only inside a chunk (default 0: one chunk, the most coherent)")
    p.add_argument("--engine", choices=("auto", "ray", "local"), default="auto", help=ENGINE_HELP)
    p.add_argument("--ray-address", default=os.environ.get("RAY_ADDRESS"),
                   help="join this Ray cluster (default: $RAY_ADDRESS; none: start a local one)")


@dataclass
class SequenceJob:
    """A sequence's result folder: chunk folders, then the manifest once every chunk is there."""

    name: str
    folder: Path
    frames: list[Path]
    fps: float
    chunk: int  # frames per chunk, 0 for one chunk
    settings: BatchSettings
    source: str

    @property
    def manifest(self) -> Path:
        return self.folder / sequence.MANIFEST_NAME

    def tasks(self) -> list[ChunkTask]:
        job = self.settings.job
        first = read_frame(self.frames[0], job.size, (1.0, 1.0, 1.0))
        background = background_rgb(job.background, tuple(first.mean(dim=(0, 1)).tolist()))
        size = self.chunk or len(self.frames)
        return [ChunkTask(name=f"{self.name} frames {start}–{min(start + size, len(self.frames)) - 1}",
                          frames=tuple(self.frames[start:start + size]), first_index=start, chunk=number,
                          out=self.folder / f"chunk-{number:04d}", background=background, settings=self.settings)
                for number, start in enumerate(range(0, len(self.frames), size))]

    def finish(self, tasks: list[ChunkTask]) -> bool:
        """Write the manifest when every chunk is done; whether it was."""
        if not all(t.out.is_dir() for t in tasks):
            return False
        sequence.save(self.manifest_of(tuple(f for t in tasks for f in chunk_frames(t.out))), self.manifest)
        return True

    def manifest_of(self, frames: tuple[sequence.Frame, ...]) -> sequence.Sequence:
        """The manifest listing `frames` (all of them, or those done so far)."""
        job, warm_iterations, warm = self.settings.job, self.settings.warm_iterations, self.settings.warm
        first = read_frame(self.frames[0], job.size, (1.0, 1.0, 1.0))
        height, width = first.shape[:2]
        metadata = {"source": self.source, "chunk": self.chunk, "settings": {
            "strokes": job.strokes, "levels": job.levels, "size": job.size, "iterations": job.iterations,
            "warm_iterations": warm_iterations, "warm": warm, "temporal": self.settings.temporal, "seed": job.seed}}
        return sequence.Sequence(width, height, self.fps, frames, metadata)


def _settings(args: argparse.Namespace) -> BatchSettings:
    """The batch's settings, every one checked before any work."""
    if args.chunk < 0:
        raise ValueError(f"--chunk must be 0 or more, not {args.chunk}")
    return BatchSettings(job_settings(args), warm=args.warm, warm_iterations=args.warm_iterations,
                         temporal=args.temporal)


def sequence_job(source: str, folder: Path, fps: float | None, chunk: int, settings: BatchSettings) -> SequenceJob:
    settings.sequence_settings()  # refuse what a sequence cannot carry over before any work
    path = Path(source)
    if items.is_video(path):
        folder.mkdir(parents=True, exist_ok=True)
        frames, video_fps = items.extract_video(path, folder / items.EXTRACTED_FRAMES, settings.job.size)
        fps = fps or video_fps
    else:
        frames = items.frame_paths(source)
        items.check_same_size(frames)
    return SequenceJob(path.stem if path.is_file() else path.name or "sequence", folder, frames, fps or 24.0, chunk,
                       settings, path.name)


def _sequence(args: argparse.Namespace) -> int:
    job = sequence_job(args.source, args.out, args.fps, args.chunk, _settings(args))
    return _run(args, [], [job])


def _batch(args: argparse.Namespace) -> int:
    if not args.input.is_dir():
        raise FileNotFoundError(f"{args.input} is not a folder")
    settings = _settings(args)
    images = items.images_in(args.input)
    names = [p.stem for p in images]
    jobs = []
    if args.sequences:
        for entry in sorted(args.input.iterdir(), key=items.natural_key):
            if items.is_video(entry) or (entry.is_dir() and not entry.name.startswith(".") and items.images_in(entry)):
                jobs.append(sequence_job(str(entry), args.out / entry.stem, None, args.chunk, settings))
                names.append(entry.stem)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"several inputs would share a result folder: {', '.join(repeated)}; rename them")
    if not names:
        raise FileNotFoundError(f"{args.input} holds no images{' or sequences' if args.sequences else ''}")
    image_tasks = [ImageTask(p.stem, p, args.out / p.stem, settings) for p in images]
    return _run(args, image_tasks, jobs)


def _run(args: argparse.Namespace, image_tasks: list[ImageTask], jobs: list[SequenceJob]) -> int:
    """Run what is not done yet, then write the manifests of the sequences now complete."""
    args.out.mkdir(parents=True, exist_ok=True)
    folders = [args.out, *(j.folder for j in jobs)]
    for folder in folders:  # a batch killed before left these; one batch per output folder runs at a time
        remove_partials(folder)
    chunk_tasks = {j.name: ([] if j.manifest.is_file() else j.tasks()) for j in jobs}
    every: list[Task] = [*image_tasks, *(t for ts in chunk_tasks.values() for t in ts)]
    todo = [t for t in every if not t.out.is_dir()]
    progress = BatchProgress(len(every), len(every) - len(todo), lambda line: print(line, file=sys.stderr))
    engine = _engine(args.engine)
    print(f"{len(todo)} of {len(every)} items to do ({len(every) - len(todo)} done before), engine: {engine}",
          file=sys.stderr)
    if engine == "ray":
        run_on_ray(todo, progress, args.ray_address)
    else:
        run_in_process(todo, progress)
    for folder in folders:
        remove_partials(folder)
    unfinished = [j.name for j in jobs if not j.manifest.is_file() and not j.finish(chunk_tasks[j.name])]
    print(f"{len(every) - progress.failed} of {len(every)} done, {progress.failed} failed → {args.out}"
          + (f"; sequences incomplete: {', '.join(unfinished)}" if unfinished else ""))
    return 1 if progress.failed else 0


def _engine(choice: str) -> str:
    if choice == "ray" and not ray_available():
        raise ValueError("--engine ray: Ray is not installed (pip install 'diffpaint[ray]')")
    return "ray" if choice == "ray" or (choice == "auto" and ray_available()) else "local"

"""The units of work a batch is split into, each writing one result folder atomically: an image's
reconstruction, or a chunk of a sequence's frames fitted one from the other. A task is a small
picklable value (paths and settings, no pixels), so a Ray worker reads its own input from disk."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from diffpaint.batch.atomic import atomic_folder
from diffpaint.batch.sequence import FrameFit, SequenceSettings, fit_frames
from diffpaint.imageio import ImageInputError, read_image, save_png
from diffpaint.job import fit_settings, torch_device
from diffpaint.results import ResultFiles, reconstruct_image
from diffpaint_shared import sequence, strokefile
from diffpaint_shared.jobschema import JobSettings

CHUNK_MANIFEST = "chunk.json"  # the frames of one finished chunk, as manifest frame entries
# Called after each frame of a chunk with the frames written so far and the last one's fit.
OnFrame = Callable[[list[sequence.Frame], FrameFit], None]


class ItemError(RuntimeError):
    """An item could not be reconstructed; the message says why (the batch goes on without it)."""


@dataclass(frozen=True)
class BatchSettings:
    """What every item of a batch is fitted with: a job's settings, and how a sequence's frames follow
    one another (the batch's own options)."""

    job: JobSettings
    warm: bool = True
    warm_iterations: int = SequenceSettings.warm_iterations
    temporal: float = SequenceSettings.temporal

    def sequence_settings(self) -> SequenceSettings:
        """ValueError for job settings a sequence cannot carry over (smudge, painting media)."""
        return SequenceSettings(fit=fit_settings(self.job), warm=self.warm, warm_iterations=self.warm_iterations,
                                temporal=self.temporal)


@dataclass(frozen=True)
class ImageTask:
    name: str
    source: Path
    out: Path  # the result folder, made whole by `run`
    settings: BatchSettings

    def run(self) -> str:
        """Reconstruct the image (`diffpaint reconstruct`'s files), with what it said in log.txt."""
        with atomic_folder(self.out) as partial:
            log: list[str] = []
            summary = reconstruct_image(self.source, self.settings.job, partial, notice=log.append)
            (partial / "log.txt").write_text("".join(f"{line}\n" for line in [*log, summary.line()]))
        return f"PSNR {summary.report['psnr']:.2f} dB, {summary.report['seconds']:.1f} s"


@dataclass(frozen=True)
class ChunkTask:
    """Frames `first_index` … of a sequence, fitted in order, each warm-started from the one before."""

    name: str
    frames: tuple[Path, ...]
    first_index: int
    chunk: int
    out: Path  # the chunk's folder inside the sequence's result folder
    background: tuple[float, float, float]  # the sequence's, so every chunk paints on the same canvas
    settings: BatchSettings

    def run(self) -> str:
        with atomic_folder(self.out) as partial:
            entries = self.write(partial)
        mean = sum(e.psnr or 0.0 for e in entries) / len(entries)
        return f"{len(entries)} frames, mean PSNR {mean:.2f} dB"

    def write(self, folder: Path, on_frame: OnFrame | None = None) -> list[sequence.Frame]:
        """Fit the frames into `folder` (named as `out`, whose name the manifest paths carry), calling
        `on_frame` once each frame's files are complete; the server follows a running sequence with it."""
        job, device = self.settings.job, torch_device(self.settings.job.device)
        targets = [read_frame(p, job.size, self.background).to(device) for p in self.frames]
        height, width = targets[0].shape[:2]
        settings = self.settings.sequence_settings()
        # Ids are unique over the whole sequence: each chunk numbers its strokes from its own base.
        fits = fit_frames(targets, self.background, settings, first_id=self.first_index << 20,
                          seed_offset=self.first_index)
        entries: list[sequence.Frame] = []
        files = ResultFiles(folder, width, height, self.background, {})
        for offset, (fit, source) in enumerate(zip(fits, self.frames, strict=True)):
            index = self.first_index + offset
            stem = f"frame-{index:05d}"
            metadata = {"source": source.name, "frame": index, "psnr": round(fit.psnr, 3),
                        "seconds": round(fit.seconds, 2), "warm": fit.warm}
            strokefile.save(files.stroke_file(fit.painting, metadata=metadata), folder / f"{stem}.json")
            save_png(fit.canvas, folder / f"{stem}.png")
            entries.append(sequence.Frame(
                index=index, strokes=f"{self.out.name}/{stem}.json", render=f"{self.out.name}/{stem}.png",
                stroke_ids=tuple(fit.stroke_ids), source=source.name, warm=fit.warm, chunk=self.chunk,
                psnr=round(fit.psnr, 3), seconds=round(fit.seconds, 2)))
            if on_frame is not None:
                on_frame(entries, fit)
        (folder / CHUNK_MANIFEST).write_text(json.dumps([sequence.frame_to_dict(e) for e in entries]))
        return entries


def read_frame(path: Path, size: int, background: tuple[float, float, float]) -> torch.Tensor:
    """A frame at the working size, transparent areas over the sequence's background."""
    return read_image(path, size).over(background)


def chunk_frames(out: Path) -> list[sequence.Frame]:
    """The manifest entries a finished chunk folder recorded."""
    return [sequence.frame_from_dict(raw, f"{out}/{CHUNK_MANIFEST}")
            for raw in json.loads((out / CHUNK_MANIFEST).read_text())]


def run_task(task: ImageTask | ChunkTask) -> str:
    """Run one task (module-level, so a Ray worker can import it by name); a one-line summary."""
    try:
        return task.run()
    except (ImageInputError, strokefile.StrokeFileError, ValueError, FileNotFoundError) as e:
        raise ItemError(str(e)) from None

"""The units of work a batch is split into, each writing one result folder atomically: an image's
reconstruction, or a chunk of a sequence's frames fitted one from the other. A task is a small
picklable value (paths and settings, no pixels), so a Ray worker reads its own input from disk."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from diffpaint import __version__
from diffpaint.batch.atomic import atomic_folder
from diffpaint.batch.sequence import SequenceSettings, fit_frames
from diffpaint.fit.optimize import Settings
from diffpaint.imageio import ImageInputError, read_image, save_png
from diffpaint.painting import to_stroke_file
from diffpaint_shared import sequence, strokefile

CHUNK_MANIFEST = "chunk.json"  # the frames of one finished chunk, as manifest frame entries


class ItemError(RuntimeError):
    """An item could not be reconstructed; the message says why (the batch goes on without it)."""


@dataclass(frozen=True)
class FitOptions:
    """What every item of a batch is fitted with (the `reconstruct` options a batch passes on)."""

    strokes: int = 256
    levels: int = 3
    size: int = 256
    iterations: int = Settings.iterations
    rounds: int = Settings.rounds
    seed: int = 0
    background: str = "mean"
    device: str = "auto"
    warm_iterations: int = SequenceSettings.warm_iterations
    warm: bool = True

    def settings(self) -> Settings:
        return Settings(strokes=self.strokes, levels=self.levels, iterations=self.iterations, rounds=self.rounds,
                        seed=self.seed)

    def torch_device(self) -> torch.device:
        return torch.device("cuda" if self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
                            else "cpu")


@dataclass(frozen=True)
class ImageTask:
    name: str
    source: Path
    out: Path  # the result folder, made whole by `run`
    options: FitOptions

    def run(self) -> str:
        """Reconstruct the image through the CLI's own `reconstruct` path, its console output kept in log.txt."""
        # TODO(results.py): call diffpaint.results' writer directly once it lands, instead of the CLI.
        from diffpaint import cli

        o = self.options
        with atomic_folder(self.out) as partial:
            argv = ["reconstruct", str(self.source), "--out", str(partial), "--strokes", str(o.strokes),
                    "--levels", str(o.levels), "--size", str(o.size), "--iterations", str(o.iterations),
                    "--rounds", str(o.rounds), "--seed", str(o.seed), "--background", o.background,
                    "--device", o.device]
            log = io.StringIO()
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                status = cli.main(argv)
            (partial / "log.txt").write_text(log.getvalue())
            if status != 0:
                errors = [line for line in log.getvalue().splitlines() if "error:" in line]
                raise ItemError(errors[-1].split("error:", 1)[1].strip() if errors else f"reconstruct exited {status}")
            report = json.loads((partial / "report.json").read_text())
        return f"PSNR {report['psnr']:.2f} dB, {report['seconds']:.1f} s"


@dataclass(frozen=True)
class ChunkTask:
    """Frames `first_index` … of a sequence, fitted in order, each warm-started from the one before."""

    name: str
    frames: tuple[Path, ...]
    first_index: int
    chunk: int
    out: Path  # the chunk's folder inside the sequence's result folder
    background: tuple[float, float, float]  # the sequence's, so every chunk paints on the same canvas
    options: FitOptions

    def run(self) -> str:
        o, device = self.options, self.options.torch_device()
        targets = [read_frame(p, o.size, self.background).to(device) for p in self.frames]
        height, width = targets[0].shape[:2]
        settings = SequenceSettings(fit=o.settings(), warm=o.warm, warm_iterations=o.warm_iterations)
        # Ids are unique over the whole sequence: each chunk numbers its strokes from its own base.
        fits = fit_frames(targets, self.background, settings, first_id=self.first_index << 20,
                          seed_offset=self.first_index)
        entries = []
        with atomic_folder(self.out) as partial:
            for offset, (fit, source) in enumerate(zip(fits, self.frames, strict=True)):
                index = self.first_index + offset
                stem = f"frame-{index:05d}"
                metadata = {"source": source.name, "frame": index, "psnr": round(fit.psnr, 3),
                            "seconds": round(fit.seconds, 2), "warm": fit.warm, "generator": f"diffpaint {__version__}"}
                strokefile.save(to_stroke_file(fit.painting, width, height, self.background, metadata),
                                partial / f"{stem}.json")
                save_png(fit.canvas, partial / f"{stem}.png")
                entries.append(sequence.Frame(
                    index=index, strokes=f"{self.out.name}/{stem}.json", render=f"{self.out.name}/{stem}.png",
                    stroke_ids=tuple(fit.stroke_ids), source=source.name, warm=fit.warm, chunk=self.chunk,
                    psnr=round(fit.psnr, 3), seconds=round(fit.seconds, 2)))
            (partial / CHUNK_MANIFEST).write_text(json.dumps([sequence.frame_to_dict(e) for e in entries]))
        mean = sum(e.psnr or 0.0 for e in entries) / len(entries)
        return f"{len(entries)} frames, mean PSNR {mean:.2f} dB"


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

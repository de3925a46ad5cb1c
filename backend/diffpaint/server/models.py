"""The API's response bodies (and with them the OpenAPI schema's components)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, create_model

from diffpaint_shared.jobschema import SETTINGS


class ErrorBody(BaseModel):
    detail: str = Field(description="What went wrong, and what to change")


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class LimitsModel(BaseModel):
    max_upload_bytes: int
    max_pixels: int
    max_strokes: int
    max_levels: int
    max_size: int
    max_iterations: int
    max_rounds: int
    max_queued: int
    max_frames: int = Field(description="Frames a submitted sequence may have")


class DiskModel(BaseModel):
    used_bytes: int = Field(description="What every job folder holds together")
    max_bytes: int | None = Field(description="The disk budget (--max-disk-mb); null: none")
    jobs: int = Field(description="Jobs held, finished ones included")


class Info(BaseModel):
    version: str = Field(description="diffpaint backend version")
    device: str = Field(description="Device 'auto' resolves to: 'cuda' or 'cpu'")
    device_name: str = Field(description="e.g. the GPU's name, or 'CPU (16 threads)'")
    devices: list[str]
    torch: str
    styles: list[str]
    queued: dict[str, int] = Field(description="Jobs waiting, per device")
    limits: LimitsModel
    disk: DiskModel


# A job's settings as the status reports them: one field per job setting.
SettingsModel: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "SettingsModel", **{s.name: (s.type, Field(description=s.help)) for s in SETTINGS})


class ProgressModel(BaseModel):
    phase: str | None = None
    level: int | None = Field(None, description="1-based level being fitted")
    levels: int | None = None
    iteration: int | None = Field(None, description="Optimizer step within the current placement round")
    iterations: int | None = None
    fraction: float | None = Field(None, description="Of the whole job, 0…1")
    loss: float | None = None
    psnr: float | None = Field(None, description="dB, of the canvas being fitted against the target")
    elapsed: float | None = Field(None, description="Seconds since fitting started")
    eta: float | None = Field(None, description="Seconds left, estimated; null until there is a basis")


class ResultModel(BaseModel):
    strokes: int | None = None
    frames: int | None = Field(None, description="A sequence's frames (null for an image)")
    psnr: float | None = None
    blank_psnr: float | None = None
    seconds: float | None = None
    width: int | None = None
    height: int | None = None


class SequenceModel(BaseModel):
    frames: int = Field(description="Frames in the sequence")
    frames_done: int = Field(description="Frames whose strokes are finished (kept by a cancel)")
    warm: bool = Field(description="Each frame starts from the previous frame's strokes")
    fps: float | None = Field(None, description="Frame rate asked for; null: the video's, or 24")


class JobStatus(BaseModel):
    id: str
    kind: Literal["image", "sequence"] = Field(description="'image' (POST /jobs) or 'sequence' (POST /sequences)")
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    device: str
    created: float = Field(description="Unix time")
    started: float | None = None
    finished: float | None = None
    queue_position: int | None = Field(None, description="1 = next to start on its device; null unless queued")
    width: int = Field(description="Canvas width as fitted, px")
    height: int
    settings: SettingsModel  # type: ignore[valid-type]
    progress: ProgressModel | None = None
    levels_done: list[int] = Field(description="Levels whose strokes GET /jobs/{id}/levels/{level} returns")
    preview_version: int = Field(description="Increases whenever GET /jobs/{id}/preview has a newer image")
    error: str | None = None
    result: ResultModel | None = None
    sequence: SequenceModel | None = Field(None, description="A sequence job's frames; null for an image")


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The error answers a route documents."""
    text = {400: "Malformed request (e.g. not multipart/form-data)", 401: "Missing or wrong bearer token",
            404: "No such job (or it was deleted)", 408: "The request body stalled",
            409: "Not available in the job's current state", 413: "Upload or image too large",
            422: "Bad image, settings or parameters", 503: "Queue full, or the disk budget is"}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


STROKE_FILE: dict[int | str, dict[str, Any]] = {200: {"description": "A DiffPaint stroke file (docs/stroke-format.md)",
                     "content": {"application/json": {"schema": {"type": "object"}}}}}
SEQUENCE_ZIP: dict[int | str, dict[str, Any]] = {200: {
    "description": "A zip of the sequence's result folder: sequence.json (docs/sequence-format.md) and the "
    "stroke files and renders it names", "content": {"application/zip": {"schema": {"type": "string",
                                                                                    "format": "binary"}}}}}
PNG: dict[int | str, dict[str, Any]] = {
    200: {"description": "PNG image", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}}

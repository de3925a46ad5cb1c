"""The HTTP API (OpenAPI schema at /openapi.json).

Every route but ``/health`` and the schema needs ``Authorization: Bearer <token>``. Errors are
``{"detail": "<what went wrong and what to do>"}`` with a 4xx status; the server itself never fails
because a job did.
"""

import logging
import math
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from diffpaint import __version__
from diffpaint.server.config import BACKGROUND_PATTERN, STYLES, JobSettings, Limits, ServerConfig
from diffpaint.server.jobs import DONE, Job, JobManager, QueueFull

log = logging.getLogger("diffpaint.server")

PUBLIC_PATHS = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
MIN_SIDE = 8
UPLOAD_CHUNK = 1 << 20


# --- response bodies -----------------------------------------------------------------------------


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


class Info(BaseModel):
    version: str = Field(description="diffpaint backend version")
    device: str = Field(description="Device 'auto' resolves to: 'cuda' or 'cpu'")
    device_name: str = Field(description="e.g. the GPU's name, or 'CPU (16 threads)'")
    devices: list[str]
    torch: str
    styles: list[str]
    queued: dict[str, int] = Field(description="Jobs waiting, per device")
    limits: LimitsModel


class SettingsModel(BaseModel):
    strokes: int
    levels: int
    size: int
    iterations: int
    rounds: int
    seed: int
    background: str
    device: str
    style: str
    smudge: bool


class ProgressModel(BaseModel):
    phase: str | None = None
    level: int | None = Field(None, description="1-based level being fitted")
    levels: int | None = None
    iteration: int | None = Field(None, description="Optimiser step within the current placement round")
    iterations: int | None = None
    fraction: float | None = Field(None, description="Of the whole job, 0…1")
    loss: float | None = None
    psnr: float | None = Field(None, description="dB, of the canvas being fitted against the target")
    elapsed: float | None = Field(None, description="Seconds since fitting started")
    eta: float | None = Field(None, description="Seconds left, estimated; null until there is a basis")


class ResultModel(BaseModel):
    strokes: int | None = None
    psnr: float | None = None
    blank_psnr: float | None = None
    seconds: float | None = None
    width: int | None = None
    height: int | None = None


class JobStatus(BaseModel):
    id: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    device: str
    created: float = Field(description="Unix time")
    started: float | None = None
    finished: float | None = None
    queue_position: int | None = Field(None, description="1 = next to start on its device; null unless queued")
    width: int = Field(description="Canvas width as fitted, px")
    height: int
    settings: SettingsModel
    progress: ProgressModel | None = None
    levels_done: list[int] = Field(description="Levels whose strokes GET /jobs/{id}/levels/{level} returns")
    preview_version: int = Field(description="Increases whenever GET /jobs/{id}/preview has a newer image")
    error: str | None = None
    result: ResultModel | None = None


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {400: "Malformed request (e.g. not multipart/form-data)", 401: "Missing or wrong bearer token",
            404: "No such job (or it was deleted)",
            409: "Not available in the job's current state", 413: "Upload or image too large",
            422: "Bad image, settings or parameters", 503: "Queue full"}
    return {code: {"model": ErrorBody, "description": text[code]} for code in codes}


STROKE_FILE: dict[int | str, dict[str, Any]] = {200: {"description": "A DiffPaint stroke file (docs/stroke-format.md)",
                     "content": {"application/json": {"schema": {"type": "object"}}}}}
PNG: dict[int | str, dict[str, Any]] = {
    200: {"description": "PNG image", "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}}


# --- auth and upload size, before any body is read -----------------------------------------------


class Guard:
    """ASGI middleware: a bearer token on every non-public path, and a cap on request bodies, both
    enforced before the body is read (FastAPI parses form bodies before running dependencies)."""

    def __init__(self, app: ASGIApp, token: str, max_body: int):
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if scope["path"] not in PUBLIC_PATHS and not token_ok(headers.get("authorization"), self.token):
            await _send_error(send, 401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                              "with the token the server was started with", {"www-authenticate": "Bearer"})
            return
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            await _send_error(send, 413, _too_large(self.max_body))
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise HTTPException(413, _too_large(self.max_body))
            return message

        await self.app(scope, limited_receive, send)


def token_ok(header: str | None, token: str) -> bool:
    if not header or not header.lower().startswith("bearer "):
        return False
    return secrets.compare_digest(header[7:].strip().encode(), token.encode())


def _too_large(limit: int) -> str:
    return f"the upload is larger than this server's limit of {limit / 2**20:.0f} MiB; send a smaller image"


async def _send_error(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    response = JSONResponse({"detail": detail}, status_code=status, headers=headers)
    await response({"type": "http"}, _never_receive, send)


async def _never_receive() -> Message:
    return {"type": "http.disconnect"}


# --- devices -------------------------------------------------------------------------------------


def detect_devices() -> dict[str, Any]:
    import os

    import torch

    if torch.cuda.is_available():
        return {"device": "cuda", "devices": ["cpu", "cuda"], "device_name": torch.cuda.get_device_name(0),
                "torch": torch.__version__}
    return {"device": "cpu", "devices": ["cpu"], "device_name": f"CPU ({os.cpu_count()} threads)",
            "torch": torch.__version__}


# --- the app -------------------------------------------------------------------------------------


def create_app(config: ServerConfig, devices: dict[str, Any] | None = None) -> FastAPI:
    hardware = devices or detect_devices()
    limits: Limits = config.limits
    manager = JobManager(config, hardware["devices"])
    base = JobSettings()
    defaults = JobSettings(strokes=min(base.strokes, limits.max_strokes), levels=min(base.levels, limits.max_levels),
                           size=min(base.size, limits.max_size), iterations=min(base.iterations, limits.max_iterations),
                           rounds=min(base.rounds, limits.max_rounds))  # within this server's limits
    bearer = HTTPBearer(auto_error=False, description="The token the server was started with")

    def auth(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> None:
        if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), config.token.encode()):
            raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        config.work_dir.mkdir(parents=True, exist_ok=True)
        manager.start()
        yield
        manager.shutdown()

    app = FastAPI(
        title="DiffPaint backend",
        version=__version__,
        summary="Reconstruct a painting as ordered, editable brush strokes: submit an image, follow the job, "
        "fetch previews and the stroke file.",
        lifespan=lifespan,
    )
    app.state.manager = manager
    app.add_middleware(Guard, token=config.token, max_body=limits.max_upload_bytes + 64 * 1024)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header")]
            parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

    protected = [Depends(auth)]

    def find(job_id: str) -> Job:
        job = manager.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} on this server (finished jobs are kept for a while, "
                                "then deleted)")
        return job

    def status(job: Job) -> JobStatus:
        return JobStatus(
            id=job.id, state=job.state, device=job.device, created=job.created, started=job.started,  # type: ignore[arg-type]
            finished=job.finished, queue_position=manager.queue_position(job), width=job.width, height=job.height,
            settings=SettingsModel(**job.settings.as_dict()),
            progress=ProgressModel(**_finite(job.progress)) if job.progress else None,
            levels_done=sorted(job.levels_done), preview_version=job.preview_version, error=job.error,
            result=ResultModel(**_finite(job.result)) if job.result else None,
        )

    @app.get("/health", response_model=Health, summary="Liveness check (no token needed)")
    def health() -> Health:
        return Health()

    @app.get("/info", response_model=Info, dependencies=protected, responses=_errors(401),
             summary="Version, device and limits: what the add-on's 'Test connection' shows")
    def info() -> Info:
        return Info(version=__version__, device=hardware["device"], device_name=hardware["device_name"],
                    devices=hardware["devices"], torch=hardware["torch"], styles=list(STYLES),
                    queued=manager.queued(), limits=LimitsModel(**vars(limits)))

    @app.post("/jobs", status_code=201, response_model=JobStatus, dependencies=protected,
              responses=_errors(400, 401, 413, 422, 503), summary="Submit an image and settings; the job is queued")
    def submit(
        image: Annotated[UploadFile, File(description="Painting or photo: PNG, JPEG, TIFF, WebP…")],
        strokes: Annotated[int, Form(ge=1, le=limits.max_strokes,
                                     description="Stroke budget over all levels")] = defaults.strokes,
        levels: Annotated[int, Form(ge=1, le=limits.max_levels, description="Coarse-to-fine levels")] = defaults.levels,
        size: Annotated[int, Form(ge=MIN_SIDE, le=limits.max_size,
                                  description="Long side in px the image is fitted at")] = defaults.size,
        iterations: Annotated[int, Form(ge=1, le=limits.max_iterations,
                                        description="Optimiser steps per placement round")] = defaults.iterations,
        rounds: Annotated[int, Form(ge=1, le=limits.max_rounds,
                                    description="Placement rounds per level")] = defaults.rounds,
        seed: Annotated[int, Form(ge=0, le=2**31 - 1)] = 0,
        background: Annotated[str, Form(pattern=BACKGROUND_PATTERN,
                                        description="'mean', 'white' or a hex colour like '#f0e8d8'")] = "mean",
        device: Annotated[Literal["auto", "cpu", "cuda"], Form()] = "auto",
        style: Annotated[str, Form(max_length=64, description=f"Stroke style; available: {', '.join(STYLES)}")
                         ] = "digital",
        smudge: Annotated[bool, Form(description="Smudge strokes soften hard steps on every level but the last")
                          ] = defaults.smudge,
    ) -> JSONResponse:
        settings = JobSettings(strokes=strokes, levels=levels, size=size, iterations=iterations, rounds=rounds,
                               seed=seed, background=background, device=device, style=style, smudge=smudge)
        problems = settings.check(limits)
        resolved = hardware["device"] if device == "auto" else device
        if resolved not in hardware["devices"]:
            problems.append(f"this server has no {device.upper()} device; choose one of: "
                            f"{', '.join(['auto', *hardware['devices']])}")
        if problems:
            raise HTTPException(422, "; ".join(problems))
        job_id, job_dir = manager.new_job_dir()
        try:
            image_name, (width, height) = _store_image(image, job_dir, limits, size)
            job = Job(id=job_id, device=resolved, settings=settings, dir=job_dir, image_name=image_name,
                      width=width, height=height, source=Path(image.filename or "").name)
            manager.submit(job)
        except QueueFull as e:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise HTTPException(503, str(e)) from None
        except BaseException:
            shutil.rmtree(job_dir, ignore_errors=True)
            raise
        return JSONResponse(status(job).model_dump(), status_code=201, headers={"Location": f"/jobs/{job.id}"})

    @app.get("/jobs", response_model=list[JobStatus], dependencies=protected, responses=_errors(401),
             summary="Every job the server still holds, oldest first")
    def list_jobs() -> list[JobStatus]:
        return [status(j) for j in manager.list()]

    @app.get("/jobs/{job_id}", response_model=JobStatus, dependencies=protected, responses=_errors(401, 404, 422),
             summary="State and progress (phase, level, iteration, loss, PSNR, ETA)")
    def get_job(job_id: str) -> JobStatus:
        return status(find(job_id))

    @app.get("/jobs/{job_id}/preview", response_class=Response, dependencies=protected,
             responses={**PNG, **_errors(401, 404, 422)},
             summary="Latest image: final render when done, else the live canvas, else the target as fitted "
             "(header X-DiffPaint-Preview says which)")
    def preview(job_id: str) -> Response:
        job = find(job_id)
        path, kind = job.preview()
        try:
            data = path.read_bytes()
        except OSError:
            raise HTTPException(404, "the job's files are gone (it was deleted)") from None
        return Response(data, media_type="image/png",
                        headers={"X-DiffPaint-Preview": kind, "X-DiffPaint-Preview-Version": str(job.preview_version)})

    @app.get("/jobs/{job_id}/strokes", response_class=Response, dependencies=protected,
             responses={**STROKE_FILE, **_errors(401, 404, 409, 422)}, summary="The finished job's stroke file")
    def strokes_file(job_id: str) -> Response:
        job = find(job_id)
        if job.state != DONE:
            hint = ("poll GET /jobs/{id} until state is 'done'" if job.state in ("queued", "running")
                    else "fetch a completed level from GET /jobs/{id}/levels/{level} instead"
                    if job.levels_done else "submit it again")
            raise HTTPException(409, f"job {job.id} is {job.state}, so it has no stroke file; {hint}")
        return _file(job.strokes_path, "application/json")

    @app.get("/jobs/{job_id}/levels/{level}", response_class=Response, dependencies=protected,
             responses={**STROKE_FILE, **_errors(401, 404, 422)},
             summary="Strokes painted through a completed level (also after a cancel)")
    def level_file(job_id: str, level: int) -> Response:
        job = find(job_id)
        if level not in job.levels_done:
            done = ", ".join(map(str, sorted(job.levels_done))) or "none yet"
            raise HTTPException(404, f"level {level} of job {job.id} is not complete (completed: {done})")
        return _file(job.level_path(level), "application/json")

    @app.post("/jobs/{job_id}/cancel", response_model=JobStatus, dependencies=protected,
              responses=_errors(401, 404, 422), summary="Stop a queued or running job (its completed levels are kept)")
    def cancel(job_id: str) -> JobStatus:
        job = find(job_id)
        manager.cancel(job)
        manager.wait_finished(job, 10)
        return status(job)

    @app.delete("/jobs/{job_id}", status_code=204, response_class=Response, dependencies=protected,
                responses=_errors(401, 404, 422), summary="Cancel if needed, and delete the job and its files")
    def delete(job_id: str) -> Response:
        manager.delete(find(job_id))
        return Response(status_code=204)

    return app


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no inf/NaN (a perfect fit has infinite PSNR): such numbers become null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def _file(path: Path, media_type: str) -> Response:
    if not path.is_file():
        raise HTTPException(404, "the job's files are gone (it was deleted)")
    return FileResponse(path, media_type=media_type)


def _store_image(upload: UploadFile, job_dir: Path, limits: Limits, size: int) -> tuple[str, tuple[int, int]]:
    """Save the upload, check it is an image DiffPaint can fit, write target.png (the image as it
    will be fitted). Returns the saved name and the fitted size; 413/422 with what to fix."""
    suffix = "".join(c for c in Path(upload.filename or "").suffix.lower() if c.isascii() and c.isalnum())[:8]
    name = f"input.{suffix}" if suffix else "input"
    path = job_dir / name
    total = 0
    with path.open("wb") as out:
        while chunk := upload.file.read(UPLOAD_CHUNK):
            total += len(chunk)
            if total > limits.max_upload_bytes:
                raise HTTPException(413, _too_large(limits.max_upload_bytes))
            out.write(chunk)
    label = upload.filename or "the upload"
    if total == 0:
        raise HTTPException(422, f"{label} is empty; send an image file (PNG, JPEG, TIFF, WebP)")
    from diffpaint.imageio import ImageInputError, ImageTooLargeError, read_image, save_png  # torch: lazily

    try:
        image = read_image(path, size, max_pixels=limits.max_pixels)  # the worker reads it with the same rules
    except ImageTooLargeError as e:
        raise HTTPException(413, str(e).replace(path.name, label, 1)) from None
    except ImageInputError as e:
        raise HTTPException(422, str(e).replace(path.name, label, 1)) from None
    save_png(image.rgb, job_dir / "target.png")
    height, width = image.rgb.shape[:2]
    return name, (width, height)


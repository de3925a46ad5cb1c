"""The routes of the HTTP API: info, and submitting (an image or a sequence), following, fetching,
cancelling and deleting jobs. Each route finds what it serves in the app's `Service` (``app.state.service``)."""

from __future__ import annotations

import inspect
import math
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.background import BackgroundTask

from diffpaint import __version__
from diffpaint.batch.items import VIDEO_SUFFIXES
from diffpaint.batch.tasks import BatchSettings
from diffpaint.server.archive import sequence_zip
from diffpaint.server.config import ServerConfig
from diffpaint.server.job import DONE, FINISHED_STATES, SEQUENCE, Job
from diffpaint.server.jobs import JobManager, QueueFull
from diffpaint.server.models import (
    PNG,
    SEQUENCE_ZIP,
    STROKE_FILE,
    DiskModel,
    Health,
    Info,
    JobStatus,
    LimitsModel,
    ProgressModel,
    ResultModel,
    SequenceModel,
    SettingsModel,
    errors,
)
from diffpaint.server.sequence_upload import store_sequence
from diffpaint.server.settings_form import form_parameters, settings_from_form
from diffpaint.server.upload import store_image, store_setting_files
from diffpaint_shared.jobschema import STYLES, JobSettings
from diffpaint_shared.sequence import SequenceFileError

bearer = HTTPBearer(auto_error=False, description="The token the server was started with")


@dataclass(frozen=True)
class Service:
    config: ServerConfig
    manager: JobManager
    hardware: dict[str, Any]  # device, devices, device_name, torch


def service(request: Request) -> Service:
    return request.app.state.service


def auth(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
         svc: Annotated[Service, Depends(service)]) -> None:
    """Documents the scheme in the schema; `Guard` has already refused requests without the token.
    Starlette decodes headers as Latin-1: encoding back gives the bytes the client sent."""
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode("latin-1", "replace"),
                                                         svc.config.token.encode("utf-8")):
        raise HTTPException(401, "missing or wrong bearer token", headers={"WWW-Authenticate": "Bearer"})


Svc = Annotated[Service, Depends(service)]
public = APIRouter()
router = APIRouter(dependencies=[Depends(auth)])


@public.get("/health", response_model=Health, summary="Liveness check (no token needed)")
def health() -> Health:
    return Health()


@router.get("/info", response_model=Info, responses=errors(401),
            summary="Version, device, limits and disk use: what the add-on's 'Test connection' shows")
def info(svc: Svc) -> Info:
    hw, limits = svc.hardware, svc.config.limits
    disk = DiskModel(used_bytes=svc.manager.disk_bytes(), max_bytes=svc.config.max_disk_bytes,
                     jobs=svc.manager.kept())
    return Info(version=__version__, device=hw["device"], device_name=hw["device_name"], devices=hw["devices"],
                torch=hw["torch"], styles=list(STYLES), queued=svc.manager.queued(),
                limits=LimitsModel(**vars(limits)), disk=disk)


def add_submit_route(app: FastAPI, config: ServerConfig) -> None:
    """POST /jobs and POST /sequences, whose forms have a field per job setting bounded by this server's limits."""
    maxima = config.limits.maxima()

    def submit(request: Request, image: UploadFile, **fields: Any) -> JSONResponse:
        svc = service(request)
        settings, device = _checked_settings(svc, fields, maxima)

        def store(job_id: str, job_dir: Path) -> Job:
            image_name, (width, height) = store_image(image, job_dir, config.limits, settings.size)
            stored = store_setting_files(settings, fields, job_dir, config.limits)  # the style reference
            return Job(id=job_id, device=device, settings=stored, dir=job_dir, image_name=image_name,
                       width=width, height=height, source=Path(image.filename or "").name)

        return _create(svc, store)

    def submit_sequence(request: Request, file: UploadFile, warm: bool, fps: float | None,
                        **fields: Any) -> JSONResponse:
        svc = service(request)
        settings, device = _checked_settings(svc, fields, maxima)
        try:
            BatchSettings(settings, warm=warm).sequence_settings()  # what a sequence cannot carry from frame to frame
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

        def store(job_id: str, job_dir: Path) -> Job:
            stored = store_sequence(file, job_dir, config.limits, settings.size)
            return Job(id=job_id, device=device, settings=settings, dir=job_dir, image_name=stored.source,
                       width=stored.width, height=stored.height, source=Path(file.filename or "").name,
                       kind=SEQUENCE, frames=stored.frames, options={"warm": warm, "fps": fps or stored.fps})

        return _create(svc, store)

    request = inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    image = inspect.Parameter("image", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[
        UploadFile, File(description="Painting or photo: PNG, JPEG, TIFF or WebP")])
    submit.__signature__ = inspect.Signature([request, image, *form_parameters(maxima)])  # type: ignore[attr-defined]
    app.add_api_route("/jobs", submit, methods=["POST"], status_code=201, response_model=JobStatus,
                      dependencies=[Depends(auth)], responses=errors(400, 401, 408, 413, 422, 503),
                      summary="Submit an image and settings; the job is queued")

    file = inspect.Parameter("file", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Annotated[
        UploadFile, File(description=f"A video ({', '.join(VIDEO_SUFFIXES)}) or a .zip of frame images, in "
                         f"natural order of their names (at most {config.limits.max_frames} frames, one size)")])
    warm = inspect.Parameter("warm", inspect.Parameter.KEYWORD_ONLY, default=True, annotation=Annotated[
        bool, Form(description="Start each frame from the previous frame's strokes (false: every frame from "
                   "scratch)")])
    fps = inspect.Parameter("fps", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[
        float | None, Form(gt=0, le=1000, description="Frame rate the manifest records (default: the video's, "
                           "else 24)")])
    submit_sequence.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [request, file, warm, fps, *form_parameters(maxima)])
    app.add_api_route("/sequences", submit_sequence, methods=["POST"], status_code=201, response_model=JobStatus,
                      dependencies=[Depends(auth)], responses=errors(400, 401, 408, 413, 422, 503),
                      summary="Submit a video or a zip of frames and settings; a sequence job is queued (its frames "
                      "are fitted in order, each from the one before, as `diffpaint sequence` does)")


def _checked_settings(svc: Service, fields: dict[str, Any], maxima: dict[str, int]) -> tuple[JobSettings, str]:
    """The form's settings and the device they resolve to; 422 saying what is wrong with them."""
    settings = settings_from_form(fields)
    problems = settings.problems(maxima)
    resolved = svc.hardware["device"] if settings.device == "auto" else settings.device
    if resolved not in svc.hardware["devices"]:
        problems.append(f"this server has no {settings.device.upper()} device; choose one of: "
                        f"{', '.join(['auto', *svc.hardware['devices']])}")
    if problems:
        raise HTTPException(422, "; ".join(problems))
    return settings, resolved


def _create(svc: Service, store: Callable[[str, Path], Job]) -> JSONResponse:
    """Queue the job `store` makes from the upload in a new job folder; the folder goes again if that fails."""
    try:
        svc.manager.check_room()  # before the upload is decoded: a full server refuses at no cost
    except QueueFull as e:
        raise HTTPException(503, str(e)) from None
    job_id, job_dir = svc.manager.new_job_dir()
    try:
        job = store(job_id, job_dir)
        svc.manager.submit(job)
    except QueueFull as e:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise HTTPException(503, str(e)) from None
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    return JSONResponse(status(svc, job).model_dump(), status_code=201, headers={"Location": f"/jobs/{job.id}"})


@router.get("/jobs", response_model=list[JobStatus], responses=errors(401),
            summary="Every job the server still holds, oldest first")
def list_jobs(svc: Svc) -> list[JobStatus]:
    return [status(svc, j) for j in svc.manager.list()]


@router.get("/jobs/{job_id}", response_model=JobStatus, responses=errors(401, 404, 422),
            summary="State and progress (phase, level, iteration, loss, PSNR, ETA)")
def get_job(job_id: str, svc: Svc) -> JobStatus:
    return status(svc, find(svc, job_id))


@router.get("/jobs/{job_id}/preview", response_class=Response, responses={**PNG, **errors(401, 404, 422)},
            summary="Latest image: final render when done, else the live canvas, else the target as fitted "
            "(header X-DiffPaint-Preview says which)")
def preview(job_id: str, svc: Svc) -> Response:
    job = find(svc, job_id)
    path, kind = job.preview()
    try:
        data = path.read_bytes()
    except OSError:
        raise HTTPException(404, "the job's files are gone (it was deleted)") from None
    return Response(data, media_type="image/png",
                    headers={"X-DiffPaint-Preview": kind, "X-DiffPaint-Preview-Version": str(job.preview_version)})


@router.get("/jobs/{job_id}/strokes", response_class=Response, responses={**STROKE_FILE, **errors(401, 404, 409, 422)},
            summary="The finished job's stroke file")
def strokes_file(job_id: str, svc: Svc) -> Response:
    job = find(svc, job_id)
    if job.kind == SEQUENCE:
        raise HTTPException(409, f"job {job.id} fits a sequence, not an image; fetch GET /jobs/{{id}}/sequence")
    if job.state != DONE:
        hint = ("poll GET /jobs/{id} until state is 'done'" if job.state in ("queued", "running")
                else "fetch a completed level from GET /jobs/{id}/levels/{level} instead"
                if job.levels_done else "submit it again")
        raise HTTPException(409, f"job {job.id} is {job.state}, so it has no stroke file; {hint}")
    return _file(job.strokes_path, "application/json")


@router.get("/jobs/{job_id}/levels/{level}", response_class=Response,
            responses={**STROKE_FILE, **errors(401, 404, 422)},
            summary="Strokes painted through a completed level (also after a cancel)")
def level_file(job_id: str, level: int, svc: Svc) -> Response:
    job = find(svc, job_id)
    if level not in job.levels_done:
        done = ", ".join(map(str, sorted(job.levels_done))) or "none yet"
        raise HTTPException(404, f"level {level} of job {job.id} is not complete (completed: {done})")
    return _file(job.level_path(level), "application/json")


@router.get("/jobs/{job_id}/sequence", response_class=Response,
            responses={**SEQUENCE_ZIP, **errors(401, 404, 409, 422)},
            summary="A sequence job's result as a zip: its manifest and the frames' stroke files and renders (also "
            "after a cancel, with the frames finished by then)")
def sequence_archive(job_id: str, svc: Svc) -> Response:
    job = find(svc, job_id)
    if job.kind != SEQUENCE:
        raise HTTPException(409, f"job {job.id} fits an image, not a sequence; fetch GET /jobs/{{id}}/strokes")
    if job.state != DONE and not (job.state in FINISHED_STATES and job.frames_done):
        hint = ("poll GET /jobs/{id} until state is 'done'" if job.state in ("queued", "running")
                else "no frame was finished; submit it again")
        raise HTTPException(409, f"job {job.id} is {job.state}, so it has no sequence to fetch; {hint}")
    try:
        path = sequence_zip(job.manifest_path)
    except (OSError, SequenceFileError):
        raise HTTPException(404, "the job's files are gone (it was deleted)") from None
    return FileResponse(path, media_type="application/zip", filename=f"sequence-{job.id}.zip",
                        background=BackgroundTask(path.unlink, missing_ok=True))


@router.post("/jobs/{job_id}/cancel", response_model=JobStatus, responses=errors(401, 404, 422),
             summary="Stop a queued or running job (its completed levels are kept)")
def cancel(job_id: str, svc: Svc) -> JobStatus:
    job = find(svc, job_id)
    svc.manager.cancel(job)
    svc.manager.wait_finished(job, 10)
    return status(svc, job)


@router.delete("/jobs/{job_id}", status_code=204, response_class=Response, responses=errors(401, 404, 422),
               summary="Cancel if needed, and delete the job and its files")
def delete(job_id: str, svc: Svc) -> Response:
    svc.manager.delete(find(svc, job_id))
    return Response(status_code=204)


def find(svc: Service, job_id: str) -> Job:
    job = svc.manager.get(job_id)
    if job is None:
        raise HTTPException(404, f"no job {job_id!r} on this server (finished jobs are kept for a while, "
                            "then deleted)")
    return job


def status(svc: Service, job: Job) -> JobStatus:
    return JobStatus(
        id=job.id, kind=job.kind, state=job.state, device=job.device, created=job.created, started=job.started,  # type: ignore[arg-type]
        finished=job.finished, queue_position=svc.manager.queue_position(job), width=job.width, height=job.height,
        settings=SettingsModel(**job.settings.as_dict()),
        progress=ProgressModel(**_finite(job.progress)) if job.progress else None,
        levels_done=sorted(job.levels_done), preview_version=job.preview_version, error=job.error,
        result=ResultModel(**_finite(job.result)) if job.result else None,
        sequence=SequenceModel(frames=job.frames, frames_done=job.frames_done, **job.options)
        if job.kind == SEQUENCE else None,
    )


def _finite(values: dict[str, Any]) -> dict[str, Any]:
    """JSON has no inf/NaN (a perfect fit has infinite PSNR): such numbers become null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}


def _file(path: Path, media_type: str) -> Response:
    if not path.is_file():
        raise HTTPException(404, "the job's files are gone (it was deleted)")
    return FileResponse(path, media_type=media_type)

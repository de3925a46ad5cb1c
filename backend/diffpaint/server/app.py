"""The HTTP API (OpenAPI schema at /openapi.json): `create_app` puts together the job manager, the
request guard and the routes.

Every route but ``/health`` and the schema needs ``Authorization: Bearer <token>``. Errors are
``{"detail": "<what went wrong and what to do>"}`` with a 4xx status; the server itself never fails
because a job did.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from diffpaint import __version__
from diffpaint.server.config import ServerConfig
from diffpaint.server.devices import detect_devices
from diffpaint.server.guard import Guard
from diffpaint.server.jobs import JobManager
from diffpaint.server.jobs_api import Service, add_submit_route, public, router

FORM_OVERHEAD = 64 * 1024  # multipart boundaries and the settings fields, on top of the upload


def create_app(config: ServerConfig, devices: dict[str, Any] | None = None) -> FastAPI:
    hardware = devices or detect_devices()
    manager = JobManager(config, hardware["devices"])

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
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
    app.state.service = Service(config, manager, hardware)
    app.add_middleware(Guard, token=config.token, max_body=config.limits.max_upload_bytes + FORM_OVERHEAD,
                       timeout=config.request_timeout)
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.include_router(public)
    add_submit_route(app, config)
    app.include_router(router)
    return app


async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    """One line per problem, e.g. 'strokes: Input should be greater than or equal to 1'."""
    parts = []
    for err in exc.errors():
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "header")]
        parts.append(f"{'.'.join(loc) or 'request'}: {err.get('msg', 'invalid')}")
    return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)

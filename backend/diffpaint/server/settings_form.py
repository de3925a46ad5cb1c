"""The form fields of ``POST /jobs``, one per job setting of ``diffpaint_shared.jobschema``: its
type, default, bounds (the server's limits as maxima), choices, pattern and help text, so the
OpenAPI schema describes every field as the shared schema defines it. A setting that names a file
(``Setting.path``: the style reference) is an optional file field; `upload.store_setting_files` stores it."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import File, Form, UploadFile

from diffpaint_shared.jobschema import SETTINGS, JobSettings, Setting


def form_parameters(maxima: Mapping[str, int]) -> list[inspect.Parameter]:
    """Keyword parameters for an endpoint, one form field per setting; defaults within `maxima`."""
    return [inspect.Parameter(s.name, inspect.Parameter.KEYWORD_ONLY, annotation=_field(s, maxima.get(s.name)),
                              default=_default(s, maxima.get(s.name)))
            for s in SETTINGS]


def settings_from_form(values: Mapping[str, Any]) -> JobSettings:
    """The form's settings; a file setting holds its upload's name until the upload is stored."""
    form: dict[str, Any] = {s.name: _upload_name(values[s.name]) if s.path else values[s.name] for s in SETTINGS}
    return JobSettings(**form)


def _upload_name(upload: UploadFile | None) -> str:
    return "" if upload is None else upload.filename or "upload"


def _field(s: Setting, maximum: int | None) -> Any:
    if s.path:
        return Annotated[UploadFile | None, File(description=s.help[:1].upper() + s.help[1:] + " (an image file)")]
    kind: Any = Literal[s.choices] if s.choices else s.type
    bounds: dict[str, Any] = {}
    if s.minimum is not None:
        bounds["ge"] = s.minimum
    if maximum is not None or s.maximum is not None:
        bounds["le"] = maximum if maximum is not None else s.maximum
    if s.pattern is not None:
        bounds["pattern"] = s.pattern
    return Annotated[kind, Form(description=s.help[:1].upper() + s.help[1:], **bounds)]


def _default(s: Setting, maximum: int | None) -> Any:
    if s.path:
        return None
    return min(s.default, maximum) if maximum is not None else s.default

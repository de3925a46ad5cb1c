"""Talk to a ``diffpaint serve`` backend over HTTP, with the standard library only (runs in Blender).

``Client`` is one call per method; ``HttpJob`` runs a whole reconstruction (``HttpSequenceJob`` a
whole sequence, see there) in a background thread
and hands the caller events through ``poll()``, like ``BackendJob``: ``progress`` (the server's
progress fields, plus ``queue_position`` while queued; only a
``fraction`` of 0 while the worker starts), ``preview`` (a newer preview PNG was
saved), then exactly one of ``done`` (with ``strokes``, the downloaded stroke file), ``error``
(with ``message``) or ``cancelled`` (with ``partial`` and ``level`` when a completed level was
saved). Nothing in the caller's thread ever waits on the network, except ``cancel()``, which waits
a bounded time for the server to confirm.
"""

from __future__ import annotations

import io
import json
import mimetypes
import os
import queue
import re
import secrets
import shutil
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

from diffpaint_shared import sequence
from diffpaint_shared.jobschema import SETTING, levels_for_budget

Event = dict[str, Any]
CONNECT_TIMEOUT = 5.0  # a first short request: a hung server is named at once, not after the upload's timeout
UPLOAD_TIMEOUT = 120.0  # an image upload or a stroke file download may take a while on a slow link
# The server's limits (its /info) by the job setting they bound, and the unit people think of it in.
LIMITS = {"strokes": "max_strokes", "levels": "max_levels", "size": "max_size", "iterations": "max_iterations",
          "rounds": "max_rounds"}
UNITS = {"size": " px"}
# Frame images a folder sequence is made of: the image files the backend reads (diffpaint.batch.items).
SEQUENCE_FOLDER = "sequence"  # where a sequence job's result is unpacked, inside its out_dir


class BackendError(RuntimeError):
    """A request failed; the message is the server's own explanation when it gave one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def encode_multipart(fields: Mapping[str, object], files: Mapping[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    """A multipart/form-data body and its Content-Type; files are name -> (filename, data)."""
    boundary = "diffpaint-" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in files.items():
        ctype = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        safe = filename.replace('"', "_").replace("\r", "_").replace("\n", "_")
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{safe}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, url: str, token: str, timeout: float = 15.0):
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None,
                timeout: float | None = None) -> tuple[int, Mapping[str, str], bytes]:
        timeout = timeout or self.timeout
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json, image/png"}
        if content_type:
            headers["Content-Type"] = content_type
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, dict(resp.headers.items()), resp.read()
        except urllib.error.HTTPError as e:
            raise BackendError(_explain(e.code, e.read(), self.url, path), e.code) from None
        except TimeoutError:
            raise BackendError(f"the DiffPaint backend at {self.url} did not answer within {timeout:.0f} s") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            if isinstance(reason, TimeoutError):
                raise BackendError(f"the DiffPaint backend at {self.url} did not answer within {timeout:.0f} s") \
                    from None
            raise BackendError(f"cannot reach the DiffPaint backend at {self.url}: {reason}") from None

    def _json(self, method: str, path: str, **kw: Any) -> Any:
        _, _, data = self.request(method, path, **kw)
        try:
            return json.loads(data)
        except ValueError:
            raise BackendError(f"{self.url}{path} did not answer with JSON; is this a DiffPaint backend?") from None

    def health(self) -> dict[str, Any]:
        return self._json("GET", "/health")

    def info(self, timeout: float | None = None) -> dict[str, Any]:
        return self._json("GET", "/info", timeout=timeout)

    def submit(self, image_path: str, settings: Mapping[str, object]) -> dict[str, Any]:
        """Submit an image and its job settings; a file setting (the style reference) is sent as a file
        when it names one. BackendError when a file cannot be read."""
        files = {"image": _read_file(image_path, "image")}
        for name, path in settings.items():
            if _is_file_setting(name) and path:
                files[name] = _read_file(str(path), SETTING[name].label.lower())
        body, ctype = encode_multipart(_form_fields(settings), files)
        return self._json("POST", "/jobs", body=body, content_type=ctype, timeout=max(self.timeout, UPLOAD_TIMEOUT))

    def job(self, job_id: str) -> dict[str, Any]:
        return self._json("GET", f"/jobs/{_quote(job_id)}")

    def preview(self, job_id: str) -> tuple[bytes, str]:
        """The preview PNG and what it shows: 'target', 'canvas' or 'result'."""
        _, headers, data = self.request("GET", f"/jobs/{_quote(job_id)}/preview")
        kind = next((v for k, v in headers.items() if k.lower() == "x-diffpaint-preview"), "")
        return data, kind

    def submit_sequence(self, source_path: str, settings: Mapping[str, object], warm: bool = True,
                        fps: float | None = None) -> dict[str, Any]:
        """Submit a video file as it is, or a folder of frames (its image files, zipped in name order)."""
        if os.path.isdir(source_path):
            filename, data = os.path.basename(os.path.normpath(source_path)) + ".zip", zip_frames(source_path)
        else:
            with open(source_path, "rb") as f:
                filename, data = os.path.basename(source_path), f.read()
        fields: dict[str, object] = {**_form_fields(settings), "warm": "true" if warm else "false"}
        if fps is not None:
            fields["fps"] = fps
        body, ctype = encode_multipart(fields, {"file": (filename, data)})
        return self._json("POST", "/sequences", body=body, content_type=ctype,
                          timeout=max(self.timeout, UPLOAD_TIMEOUT))

    def sequence_archive(self, job_id: str) -> bytes:
        """A sequence job's result folder as a zip (its manifest, stroke files and renders)."""
        return self.request("GET", f"/jobs/{_quote(job_id)}/sequence", timeout=max(self.timeout, UPLOAD_TIMEOUT))[2]

    def strokes(self, job_id: str) -> bytes:
        return self.request("GET", f"/jobs/{_quote(job_id)}/strokes", timeout=max(self.timeout, UPLOAD_TIMEOUT))[2]

    def level(self, job_id: str, level: int) -> bytes:
        path = f"/jobs/{_quote(job_id)}/levels/{int(level)}"
        return self.request("GET", path, timeout=max(self.timeout, UPLOAD_TIMEOUT))[2]

    def cancel(self, job_id: str) -> dict[str, Any]:
        return self._json("POST", f"/jobs/{_quote(job_id)}/cancel")

    def delete(self, job_id: str) -> None:
        self.request("DELETE", f"/jobs/{_quote(job_id)}")


def _is_file_setting(name: str) -> bool:
    return name in SETTING and SETTING[name].path


def _form_fields(settings: Mapping[str, object]) -> dict[str, object]:
    """The settings sent as form fields: all but the file settings, which go as files."""
    return {name: value for name, value in settings.items() if not _is_file_setting(name)}


def _read_file(path: str, what: str) -> tuple[str, bytes]:
    """A file to upload as (its name, its bytes); BackendError naming `what` it was to be when unreadable."""
    try:
        with open(path, "rb") as f:
            return os.path.basename(path), f.read()
    except OSError as e:
        raise BackendError(f"cannot read the {what} {path}: {e.strerror or e}") from None


def _quote(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _explain(status: int, body: bytes, url: str, path: str) -> str:
    detail = ""
    try:
        parsed = json.loads(body)
        detail = str(parsed.get("detail", "")) if isinstance(parsed, dict) else ""
    except ValueError:
        pass
    if status == 401:
        return "the backend refused the token: check the token in the DiffPaint preferences"
    if status == 404 and detail in ("", "Not Found"):  # not a page of ours: a DiffPaint server explains its 404s
        return f"{url} is not a DiffPaint server (it has no {path.split('?')[0]}): check the server URL"
    return plain(detail) or f"the backend answered HTTP {status}"


def plain(message: str) -> str:
    """A message as the panel and Blender's reports show it: no trailing newline, no 'Error:' of its own
    (Blender's report already says it is an error)."""
    return re.sub(r"^(error:\s*)+", "", message.strip(), flags=re.IGNORECASE)


def limit_problems(settings: Mapping[str, object], limits: Mapping[str, object]) -> list[str]:
    """The settings over a server's limits (its /info 'limits'), in words, e.g. 'Resolution must be at
    most 64 px on this server'."""
    problems = []
    for name, key in LIMITS.items():
        value, limit = settings.get(name), limits.get(key)
        if isinstance(value, int) and isinstance(limit, int) and value > limit:
            problems.append(f"{SETTING[name].label} must be at most {limit}{UNITS.get(name, '')} on this server "
                            f"(asked for {value})")
    return problems


def zip_frames(folder: str) -> bytes:
    """The image files directly in `folder` (hidden ones skipped), zipped in natural order of their names,
    as the server orders them (frame_2 before frame_10)."""
    names = sorted((n for n in os.listdir(folder) if not n.startswith(".") and os.path.splitext(n)[1].lower()
                    in sequence.FRAME_SUFFIXES and os.path.isfile(os.path.join(folder, n))), key=sequence.natural_key)
    if not names:
        raise BackendError(f"{folder} holds no frame images ({', '.join(sequence.FRAME_SUFFIXES)})")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # images are compressed already
        for name in names:
            archive.write(os.path.join(folder, name), name)
    return buffer.getvalue()




def extract_sequence(data: bytes, out_dir: str, name: str = SEQUENCE_FOLDER) -> str:
    """Unpack a sequence archive into ``out_dir/name`` (replacing what was there) and return its manifest's
    path. Whole or not at all: unpacked into a temporary folder beside it, checked, then renamed; an entry
    that is absolute or climbs out with '..' is refused (BackendError)."""
    final = os.path.join(out_dir, name)
    partial = tempfile.mkdtemp(prefix=f".{name}-", dir=out_dir)
    try:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for entry in archive.infolist():
                    parts = PurePosixPath(entry.filename).parts
                    if (not parts or entry.filename.startswith("/") or ".." in parts or "\\" in entry.filename
                            or ":" in entry.filename):
                        raise BackendError(f"the sequence archive holds an unsafe path {entry.filename!r}")
                    if entry.is_dir():
                        continue
                    target = os.path.join(partial, *parts)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with archive.open(entry) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
            sequence.load(os.path.join(partial, sequence.MANIFEST_NAME))
        except (zipfile.BadZipFile, sequence.SequenceFileError) as e:
            raise BackendError(f"the backend sent a damaged sequence archive: {e}") from None
        if os.path.exists(final):
            old = tempfile.mkdtemp(prefix=f".{name}-old-", dir=out_dir)
            os.replace(final, os.path.join(old, name))
            os.replace(partial, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return os.path.join(final, sequence.MANIFEST_NAME)


def write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class HttpJob:
    """One reconstruction on a backend server, driven from a background thread."""

    def __init__(self, connect: Callable[[], Client], image_path: str, settings: Mapping[str, object],
                 out_dir: str, poll_interval: float = 0.25, preview_interval: float = 1.0):
        self._connect = connect
        self.image_path = image_path
        self.settings = dict(settings)
        self.out_dir = out_dir
        self.poll_interval = poll_interval
        self.preview_interval = preview_interval
        self.job_id: str | None = None
        self.info: dict[str, Any] | None = None  # the server's /info (version, device, limits), once connected
        self.finished = False  # the terminal event has been handed out by poll()
        self.cancelled = False
        self._events: queue.Queue[Event] = queue.Queue()
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="diffpaint-http-job", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poll(self) -> list[Event]:
        events: list[Event] = []
        while not self.finished:
            try:
                event = self._events.get_nowait()
            except queue.Empty:
                break
            events.append(event)
            if event["event"] in ("done", "error", "cancelled"):
                self.finished = True
        return events

    def cancel(self, timeout: float = 15.0) -> None:
        """Ask the server to stop the job and wait (at most ``timeout``) until it has, and the last
        completed level, if any, is saved; poll() then returns the ``cancelled`` event."""
        if self.finished:
            return
        self.cancelled = True
        self._cancel.set()
        # Still connecting (a local server starting) or uploading: don't hold the UI for that; the
        # thread cancels and deletes the job on the server itself as soon as it has an id.
        self._thread.join(timeout if self.job_id is not None else min(timeout, 0.5))

    # --- the background thread --------------------------------------------------------------

    def _emit(self, **event: Any) -> None:
        self._events.put(event)

    def _run(self) -> None:
        client: Client | None = None
        try:
            client = self._connect()
            self.info = info = client.info(timeout=CONNECT_TIMEOUT)  # a short first request: is it there, its limits
            if self._cancel.is_set():
                self._emit(event="cancelled")
                return
            problems = limit_problems(self.settings, info.get("limits") or {})
            if problems:
                self._emit(event="error", message="; ".join(problems))
                return
            status = self._submit(client)
            self.job_id = str(status["id"])
            self._follow(client, status)
        except BackendError as e:
            self._emit(event="error", message=plain(str(e)))
        except Exception as e:  # never let the UI wait for a terminal event that will not come
            self._emit(event="error", message=f"{type(e).__name__}: {e}")
        finally:
            if client is not None and self.job_id is not None:
                try:
                    client.delete(self.job_id)  # its files are with us now, or not wanted
                except BackendError:
                    pass

    def _follow(self, client: Client, status: dict[str, Any]) -> None:
        assert self.job_id is not None
        shown_preview, last_fetch = 0, 0.0
        while True:
            if self._cancel.is_set():
                self._finish_cancelled(client)
                return
            state = status.get("state")
            if state == "queued":
                self._emit(event="progress", phase="queued", fraction=0.0, queue_position=status.get("queue_position"))
            elif status.get("progress"):
                self._emit(event="progress", **status["progress"])
            elif state == "running":  # the worker is starting: no progress yet
                self._emit(event="progress", fraction=0.0)
            version = int(status.get("preview_version") or 0)
            now = time.monotonic()
            if (version != shown_preview and now - last_fetch >= self.preview_interval) or (
                    shown_preview == 0 and last_fetch == 0.0):
                self._save_preview(client)
                shown_preview, last_fetch = version, now
            if state == "done":
                done = self._download(client, status)
                self._save_preview(client)
                self._emit(**done)
                return
            if state == "failed":
                self._emit(event="error", message=plain(str(status.get("error") or "the reconstruction failed")))
                return
            if state == "cancelled":
                self._emit(event="error", message="the job was cancelled on the server")
                return
            self._cancel.wait(self.poll_interval)
            if not self._cancel.is_set():
                status = client.job(self.job_id)

    def _submit(self, client: Client) -> dict[str, Any]:
        return client.submit(self.image_path, self.settings)

    def _download(self, client: Client, status: dict[str, Any]) -> Event:
        """The finished job's files, saved under out_dir; the ``done`` event that names them."""
        assert self.job_id is not None
        path = os.path.join(self.out_dir, "strokes.json")
        write_atomic(path, client.strokes(self.job_id))
        return {"event": "done", "strokes": path, "psnr": (status.get("result") or {}).get("psnr")}

    def _save_preview(self, client: Client) -> None:
        assert self.job_id is not None
        data, kind = client.preview(self.job_id)
        path = os.path.join(self.out_dir, "preview.png")
        write_atomic(path, data)
        self._emit(event="preview", path=path, kind=kind)

    def _finish_cancelled(self, client: Client) -> None:
        assert self.job_id is not None
        self._emit(**self._keep_partial(client, client.cancel(self.job_id)))

    def _keep_partial(self, client: Client, status: dict[str, Any]) -> Event:
        """What a cancelled job finished, saved under out_dir; the ``cancelled`` event that names it."""
        assert self.job_id is not None
        levels = sorted(status.get("levels_done") or [])
        if not levels:
            return {"event": "cancelled"}
        level = levels[-1]
        path = os.path.join(self.out_dir, f"level-{level}.json")
        write_atomic(path, client.level(self.job_id, level))
        levels_of_job = levels_for_budget(status["settings"]["strokes"], status["settings"]["levels"])
        return {"event": "cancelled", "partial": path, "level": level, "levels": levels_of_job}


class HttpSequenceJob(HttpJob):
    """A sequence (a video file, or a folder of frames) on a backend server: the events of `HttpJob`, with
    progress over frames (``phase`` "frame", ``iteration``/``iterations`` the frames); ``done`` also carries
    ``manifest`` (the sequence.json unpacked under ``out_dir/sequence/``) and ``frames``, and its ``strokes``
    is the last frame's stroke file; ``cancelled`` carries ``manifest`` and ``frames`` when frames were
    finished before the cancel (they are kept)."""

    def __init__(self, connect: Callable[[], Client], source_path: str, settings: Mapping[str, object],
                 out_dir: str, warm: bool = True, fps: float | None = None, poll_interval: float = 0.25,
                 preview_interval: float = 1.0):
        super().__init__(connect, source_path, settings, out_dir, poll_interval, preview_interval)
        self.source_path = source_path
        self.warm = warm
        self.fps = fps

    def _submit(self, client: Client) -> dict[str, Any]:
        return client.submit_sequence(self.source_path, self.settings, self.warm, self.fps)

    def _download(self, client: Client, status: dict[str, Any]) -> Event:
        manifest = self._fetch_sequence(client)
        frames = sequence.load(manifest).frames
        return {"event": "done", "manifest": manifest, "frames": len(frames),
                "strokes": str(sequence.resolve(manifest, frames[-1].strokes)),
                "psnr": (status.get("result") or {}).get("psnr")}

    def _keep_partial(self, client: Client, status: dict[str, Any]) -> Event:
        done = (status.get("sequence") or {}).get("frames_done") or 0
        if not done:
            return {"event": "cancelled"}
        manifest = self._fetch_sequence(client)
        return {"event": "cancelled", "manifest": manifest, "frames": len(sequence.load(manifest).frames)}

    def _fetch_sequence(self, client: Client) -> str:
        assert self.job_id is not None
        return extract_sequence(client.sequence_archive(self.job_id), self.out_dir)

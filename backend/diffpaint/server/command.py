"""The ``diffpaint serve`` subcommand. Importing this module imports neither FastAPI nor torch."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from diffpaint.server.config import Limits, ServerConfig

TOKEN_ENV = "DIFFPAINT_TOKEN"
WORKER_ENV = "DIFFPAINT_WORKER"  # tests only: a stand-in for the per-job worker command


def add_serve_parser(sub: Any) -> None:
    d = Limits()
    srv = sub.add_parser(
        "serve",
        help="run the HTTP job service the Blender add-on talks to",
        description="Serve the reconstruction as an HTTP job API (OpenAPI schema at /openapi.json). Every "
        f"request needs 'Authorization: Bearer TOKEN'; the token comes from --token-file or ${TOKEN_ENV}, or is "
        "generated and printed. Prints one JSON line {\"event\": \"listening\", \"url\": …} on stdout once "
        "it accepts connections.",
    )
    srv.add_argument("--host", default="127.0.0.1",
                     help="address to bind (default 127.0.0.1: this machine only; use 0.0.0.0 for a remote "
                     "GPU server, behind TLS)")
    srv.add_argument("--port", type=int, default=8765, help="port; 0 picks a free one (default 8765)")
    srv.add_argument("--token-file", type=Path,
                     help=f"file holding the bearer token clients must send (default ${TOKEN_ENV}, else generated)")
    srv.add_argument("--token", help="the token itself; other users of this machine can read it in the process "
                     f"list, so prefer --token-file or ${TOKEN_ENV}")
    srv.add_argument("--work-dir", type=Path,
                     help="where jobs keep their files; finished jobs survive a restart there (default: a "
                     "temporary folder removed at exit)")
    srv.add_argument("--max-upload-mb", type=float, default=d.max_upload_bytes / 2**20,
                     help=f"largest accepted upload (default {d.max_upload_bytes // 2**20} MiB)")
    srv.add_argument("--max-megapixels", type=float, default=d.max_pixels / 1e6,
                     help=f"largest accepted image (default {d.max_pixels / 1e6:.0f} MP)")
    for name, default in (("strokes", d.max_strokes), ("levels", d.max_levels), ("size", d.max_size),
                          ("iterations", d.max_iterations), ("rounds", d.max_rounds), ("queued", d.max_queued),
                          ("frames", d.max_frames)):
        srv.add_argument(f"--max-{name}", type=int, default=default, help=f"default {default}")
    srv.add_argument("--max-disk-mb", type=float,
                     help="disk budget for all job folders together; the oldest finished jobs are deleted to stay "
                     "within it, and new jobs are refused while running ones fill it (default: no budget)")
    srv.add_argument("--keep-finished", type=int, default=ServerConfig.keep_finished,
                     help="finished jobs kept for fetching; older ones are deleted "
                     f"(default {ServerConfig.keep_finished})")
    srv.add_argument("--request-timeout", type=float, default=ServerConfig.request_timeout,
                     help="seconds a client may take to send a request's headers, or between parts of its body "
                     f"(default {ServerConfig.request_timeout:.0f})")
    srv.add_argument("--stop-on-stdin-eof", action="store_true",
                     help="exit when standard input closes (the add-on holds it open, so the server goes "
                     "when Blender goes, even if Blender crashes)")
    srv.add_argument("--log-level", default="warning", choices=("critical", "error", "warning", "info", "debug"))
    srv.set_defaults(run=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from diffpaint.server.app import create_app
    from diffpaint.server.guard import HeaderDeadlineProtocol, token_problem

    token = _token(args)
    if not token:
        token = secrets.token_urlsafe(24)
        print(f"diffpaint serve: generated token (send 'Authorization: Bearer {token}')", file=sys.stderr)
    if problem := token_problem(token):
        raise ValueError(problem)
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 2**20), max_pixels=int(args.max_megapixels * 1e6),
                    max_strokes=args.max_strokes, max_levels=args.max_levels, max_size=args.max_size,
                    max_iterations=args.max_iterations, max_rounds=args.max_rounds, max_queued=args.max_queued,
                    max_frames=args.max_frames)
    os.umask(0o077)  # job folders and files (the worker inherits this) are readable by this user only
    own_work_dir = args.work_dir is None
    work_dir = Path(tempfile.mkdtemp(prefix="diffpaint-serve-")) if own_work_dir else args.work_dir
    config = ServerConfig(token=token, work_dir=work_dir, limits=limits, keep_finished=args.keep_finished,
                          max_disk_bytes=None if args.max_disk_mb is None else int(args.max_disk_mb * 2**20),
                          request_timeout=args.request_timeout)
    if worker := os.environ.get(WORKER_ENV):
        config = dataclasses.replace(config, worker_command=tuple(shlex.split(worker)))
    try:
        sock = _bind(args.host, args.port)
        host, port = sock.getsockname()[:2]
        server = uvicorn.Server(uvicorn.Config(create_app(config), log_level=args.log_level, access_log=False,
                                               timeout_graceful_shutdown=5, http=HeaderDeadlineProtocol,
                                               timeout_keep_alive=max(1, round(config.request_timeout))))
        threading.Thread(target=_announce, args=(server, host, port), daemon=True).start()
        if args.stop_on_stdin_eof:
            threading.Thread(target=_exit_on_stdin_eof, args=(server,), daemon=True).start()
        # uvicorn stops gracefully on SIGTERM/SIGINT, then raises the signal again for the handler it
        # found: with the default one the process would die there, before the cleanup below.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, _ignore_repeated_signal)
        server.run(sockets=[sock])
    finally:
        if own_work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    return 0


def _ignore_repeated_signal(sig: int, frame: object) -> None:
    """The handler uvicorn re-raises a stop signal to once it has shut down: the stop is done."""


def _token(args: argparse.Namespace) -> str:
    if args.token_file is not None:
        try:
            return args.token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as e:
            reason = getattr(e, "strerror", None) or e
            raise ValueError(f"cannot read the token file {args.token_file}: {reason}") from None
    return args.token or os.environ.get(TOKEN_ENV) or ""


def _bind(host: str, port: int) -> socket.socket:
    """Bind first, then hand the socket to uvicorn: with --port 0 the chosen port is known for sure."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as e:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {e.strerror or e}; choose another --port") from None
    return sock


def _announce(server: Any, host: str, port: int) -> None:
    while not server.started:
        if server.should_exit:
            return
        time.sleep(0.02)
    shown = f"[{host}]" if ":" in host else host
    print(json.dumps({"event": "listening", "url": f"http://{shown}:{port}"}), flush=True)


def _exit_on_stdin_eof(server: Any) -> None:
    try:
        while sys.stdin.buffer.read(4096):
            pass
    except (OSError, ValueError):
        pass
    server.should_exit = True

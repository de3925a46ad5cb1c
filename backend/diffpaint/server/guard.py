"""What every request passes before any route sees it: the bearer token, the body-size cap and a
deadline for reading the request (ASGI middleware), plus the connection-level header deadline
uvicorn lacks (`HeaderDeadlineProtocol`)."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

PUBLIC_PATHS = {"/health", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
MIN_TOKEN_LENGTH = 16


def token_problem(token: str) -> str | None:
    """Why a token is too weak to serve with; None if it will do."""
    if len(token) < MIN_TOKEN_LENGTH:
        return (f"the token has {len(token)} characters; use at least {MIN_TOKEN_LENGTH} (leave it out and "
                "one is generated)")
    return None


def token_ok(header: bytes | None, token: str) -> bool:
    """Whether an Authorization header (its raw bytes) carries the token. Compared as bytes: a
    client sends a non-ASCII token as UTF-8, and header text decoded as Latin-1 would never match."""
    if not header or header[:7].lower() != b"bearer ":
        return False
    return secrets.compare_digest(header[7:].strip(), token.encode("utf-8"))


class Guard:
    """ASGI middleware: a bearer token on every non-public path and a cap on request bodies, both
    enforced before the body is read (FastAPI parses form bodies before running dependencies), and
    a body that stalls for `timeout` seconds is answered 408."""

    def __init__(self, app: ASGIApp, token: str, max_body: int, timeout: float):
        self.app, self.token, self.max_body, self.timeout = app, token, max_body, timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict((k.lower(), v) for k, v in scope["headers"])
        if scope["path"] not in PUBLIC_PATHS and not token_ok(headers.get(b"authorization"), self.token):
            await send_error(send, 401, "missing or wrong bearer token: send 'Authorization: Bearer <token>' "
                             "with the token the server was started with", {"www-authenticate": "Bearer"})
            return
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.max_body:
            await send_error(send, 413, too_large(self.max_body))
            return
        seen = 0

        async def guarded_receive() -> Message:
            nonlocal seen
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                raise HTTPException(408, f"the request body stalled for {self.timeout:.0f} s; send it again",
                                    headers={"connection": "close"}) from None
            seen += len(message.get("body", b""))
            if seen > self.max_body:
                raise HTTPException(413, too_large(self.max_body))
            return message

        await self.app(scope, guarded_receive, send)


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers do not arrive
    within ``timeout_keep_alive`` seconds of it opening or of the previous response: uvicorn only
    times out idle keep-alive connections, so a client that connects and sends nothing (or a
    header a byte at a time) would hold a connection and its memory for ever."""

    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle:  # a request's headers are in
            self._disarm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm_header_deadline()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        self._header_deadline = self.loop.call_later(self.timeout_keep_alive, self._headers_too_slow)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def too_large(limit: int) -> str:
    return f"the upload is larger than this server's limit of {limit / 2**20:.0f} MiB; send a smaller image"


async def send_error(send: Send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    response = JSONResponse({"detail": detail}, status_code=status, headers=headers)
    await response({"type": "http"}, _never_receive, send)


async def _never_receive() -> Message:
    return {"type": "http.disconnect"}

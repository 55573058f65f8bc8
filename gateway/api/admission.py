"""What every request passes before the application: body limit, body read timeout, client identity, rate limit.

One plain ASGI middleware, outermost, one pass over the headers (Starlette's BaseHTTPMiddleware would cost
every request an extra task and stream; one middleware per concern cost a call layer and a header scan
each):

- a declared Content-Length over the limit is refused with 413 without reading; otherwise the body is
  read here, counting streamed (chunked) bytes too, refused as soon as the count passes the limit, and
  handed on unchanged (the application would buffer it anyway to parse it);
- a body that does not arrive within `read_timeout_s` gets 408 and the connection is closed (a client
  cannot hold a connection and a task open by sending a Content-Length and then nothing);
- outside EXEMPT_PATHS, HTTP requests and WebSocket connects are rate limited (`gateway.api.rate_limit`):
  429 with Retry-After (a refused WebSocket connect has its handshake refused: 403), and the X-RateLimit-*
  headers on every limited path's response. WebSocket messages have their own limit.
"""

from __future__ import annotations

import asyncio

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.api.rate_limit import (
    CLIENT_KEY_STATE,
    EXEMPT_PATHS,
    RATE_LIMITED,
    Decision,
    RateLimiter,
    refusal,
)
from gateway.client_identity import ClientIdentity

WEBSOCKET_RATE_REFUSED = metrics.WEBSOCKET_REFUSED.labels(reason="rate_limit")


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.status, self.detail = status, detail


class RequestHeaders:
    """The headers admission reads, from one pass over the request's."""

    __slots__ = ("content_length", "api_key", "forwarded_for", "has_body")

    def __init__(self, scope: Scope) -> None:
        self.content_length: int | None = None
        self.api_key = self.forwarded_for = None
        self.has_body = False
        for name, value in scope["headers"]:
            name = name.lower()
            if name == b"content-length":
                self.content_length = int(value) if value.strip().isdigit() else None
                self.has_body = self.has_body or value.strip() not in (b"0", b"")
            elif name == b"transfer-encoding":
                self.has_body = True
            elif name == b"x-api-key":
                self.api_key = _joined(self.api_key, value)
            elif name == b"x-forwarded-for":
                self.forwarded_for = _joined(self.forwarded_for, value)


def _joined(previous: str | None, value: bytes) -> str:
    text = value.decode("latin-1")
    return text if previous is None else f"{previous},{text}"


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int, read_timeout_s: float, limiter: RateLimiter,
                 identity: ClientIdentity) -> None:
        self.app, self.max_bytes, self.read_timeout_s = app, max_bytes, read_timeout_s
        self.limiter, self.identity = limiter, identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket" and scope["path"] not in EXEMPT_PATHS:
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = RequestHeaders(scope)
        try:
            if headers.content_length is not None and headers.content_length > self.max_bytes:
                raise Refused(413, f"request body too large: at most {self.max_bytes} bytes")
            first = await self._read_body(receive, headers.has_body)
        except Refused as refused:
            if refused.status == 413:
                metrics.REQUESTS_TOO_LARGE.inc()
            await _answer(scope, receive, send, refused.status, refused.detail, {"Connection": "close"})
            return
        replay = _replaying(first, receive)
        if scope["path"] in EXEMPT_PATHS:
            await self.app(scope, replay, send)
            return
        decision = await self._decide(scope, headers)
        if decision is None:
            await self.app(scope, replay, send)
        elif not decision.allowed:
            RATE_LIMITED[decision.scope].inc()
            await _answer(scope, replay, send, 429, refusal(decision), decision.headers())
        else:
            await self.app(scope, replay, _with_headers(send, decision.raw_headers()))

    async def _decide(self, scope: Scope, headers: RequestHeaders) -> Decision | None:
        client = self.identity.key_from(scope["client"][0] if scope.get("client") else None, headers.api_key,
                                        headers.forwarded_for)
        scope.setdefault("state", {})[CLIENT_KEY_STATE] = client
        return self.limiter.check_local(client) or await self.limiter.check(client)

    async def _read_body(self, receive: Receive, has_body: bool) -> Message | list[Message]:
        """The body's messages (one, mostly); Refused with 413 past the limit, 408 past the read timeout."""
        if not has_body:
            return await receive()
        try:
            async with asyncio.timeout(self.read_timeout_s):
                return await self._read_all(receive)
        except TimeoutError:
            raise Refused(408, f"request body not received within {self.read_timeout_s:g} s") from None

    async def _read_all(self, receive: Receive) -> Message | list[Message]:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            if len(message.get("body", b"")) > self.max_bytes:
                raise Refused(413, f"request body too large: at most {self.max_bytes} bytes")
            return message
        messages, size = [message], len(message.get("body", b""))
        while message["type"] == "http.request" and message.get("more_body", False):
            message = await receive()
            messages.append(message)  # a disconnect too: the application sees it as it would have
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                raise Refused(413, f"request body too large: at most {self.max_bytes} bytes")
        return messages

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = RequestHeaders(scope)
        decision = await self._decide(scope, headers)
        if decision is not None and not decision.allowed:
            RATE_LIMITED[decision.scope].inc()
            WEBSOCKET_RATE_REFUSED.inc()
            await send({"type": "websocket.close", "code": 1008, "reason": refusal(decision, "connects")})
            return
        await self.app(scope, receive, send)


def _replaying(read: Message | list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, then the connection's own."""
    pending = [read] if isinstance(read, dict) else list(read)
    pending.reverse()

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [*message.get("headers", []), *extra]
        await send(message)

    return send_with_headers


async def _answer(scope: Scope, receive: Receive, send: Send, status: int, detail: str, headers: dict[str, str]) -> None:
    await JSONResponse({"detail": detail}, status_code=status, headers=headers)(scope, receive, send)

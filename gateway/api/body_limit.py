"""Request bodies larger than the limit get 413 before anything parses them or checks the API key.

Plain ASGI middleware, outermost: a declared Content-Length over the limit is refused without reading;
otherwise the body is read here, counting streamed (chunked) bytes too, and refused as soon as the
count passes the limit; a body within it is handed on unchanged. The application would buffer the
whole body anyway to parse it, so reading it first costs nothing extra.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check_declared_length(scope)
            buffered = await self._read_body(receive)
        except BodyTooLarge:
            await self._refuse(scope, receive, send)
            return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    def _check_declared_length(self, scope: Scope) -> None:
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length" and value.strip().isdigit() and int(value) > self.max_bytes:
                raise BodyTooLarge

    async def _read_body(self, receive: Receive) -> list[Message]:
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                return messages  # a disconnect: the application sees it as it would have
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                raise BodyTooLarge
            if not message.get("more_body", False):
                return messages

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        metrics.REQUESTS_TOO_LARGE.inc()
        detail = f"request body too large: at most {self.max_bytes} bytes"
        response = JSONResponse({"detail": detail}, status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)

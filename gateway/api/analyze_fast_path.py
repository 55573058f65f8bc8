"""POST /analyze as plain ASGI, in front of FastAPI's routing: the busiest request skips the router, the
dependency solver and two exception middlewares (py-spy put them at about a third of the gateway's own CPU
per request; docs/serving.md, "Gateway request path").

It answers only what it can answer exactly as the route would: a JSON body that `AnalysisRequest`
validates (parsed and validated as FastAPI does it: `json.loads`, then the model), without
`include_rag_context`. Anything else goes on to the FastAPI route untouched (the body replayed), so
validation errors, the schema and the OpenAPI document stay the route's. An error of the service is
answered by the app's own exception handler for it, as the route's would be.
"""

from __future__ import annotations

import json

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.api.routes.analysis import ANALYZE_ANSWERED, ANALYZE_DURATION
from gateway.schemas import AnalysisRequest

PATH = "/analyze"
JSON_HEADERS = [(b"content-type", b"application/json")]


class AnalyzeFastPath:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST" or not _json(scope):
            await self.app(scope, receive, send)
            return
        body, complete = await _read(receive)
        request = _parsed(body) if complete else None
        services = getattr(scope["app"].state, "services", None)
        if request is None or request.include_rag_context or services is None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        try:
            with ANALYZE_DURATION.time():
                answer, source = await services.analysis.analyze_json(request)
        except Exception as error:
            handler = _handler(scope["app"].exception_handlers, error)
            if handler is None:
                raise
            await (await handler(Request(scope, receive), error))(scope, receive, send)
            return
        ANALYZE_ANSWERED[source].inc()
        headers = [*JSON_HEADERS, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})


def _json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name.lower() == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"application/json"
    return False


async def _read(receive: Receive) -> tuple[bytes, bool]:
    """The request body, and whether it was read to its end (not cut by a disconnect)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _parsed(body: bytes) -> AnalysisRequest | None:
    try:
        return AnalysisRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # the route answers it, with its own reasons
        return None


def _replay(body: bytes, complete: bool, receive: Receive) -> Receive:
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]
    if not complete:
        pending = [{"type": "http.disconnect"}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def _handler(handlers: dict, error: Exception):
    for kind in type(error).__mro__:
        if kind in handlers:
            return handlers[kind]
    return None

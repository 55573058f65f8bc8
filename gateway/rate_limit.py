"""Per-client rate limits with the `limits` library: moving windows, atomic on Redis so replicas share counts.

A client is its API key when it sends the configured one (X-API-Key), else its address, so inventing
keys buys no extra quota. Redis down -> requests go through, counted and logged once (fail open: the
limiter protects capacity, it is not an access control).
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics

log = logging.getLogger(__name__)

API_KEY_HEADER = "X-API-Key"
EXEMPT_PATHS = frozenset({"/metrics"})
REDIS_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: float
    scope: str

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.remaining, 0)),
            "X-RateLimit-Reset": str(math.ceil(self.reset_epoch)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.reset_epoch - time.time())))
        return headers


def limiter_storage(redis_url: str | None, key_prefix: str) -> Storage:
    if not redis_url:
        return MemoryStorage()
    return RedisStorage(
        f"async+{redis_url}",
        implementation="redispy",
        key_prefix=f"{key_prefix}:limits",
        wrap_exceptions=True,
        socket_timeout=REDIS_TIMEOUT_S,
        socket_connect_timeout=REDIS_TIMEOUT_S,
    )


class RateLimiter:
    def __init__(self, storage: Storage, per_minute: int, burst_per_second: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage)
        self._storage = storage
        # checked in this order: the burst first, so a burst does not use up the minute's quota
        self._items: list[tuple[str, RateLimitItem]] = [
            ("second", RateLimitItemPerSecond(burst_per_second)),
            ("minute", RateLimitItemPerMinute(per_minute)),
        ]
        self._failing = False

    async def check(self, client_id: str) -> Decision | None:
        """The decision for one request (None when the storage is down and the request goes through)."""
        try:
            for scope, item in self._items:
                allowed = await self._limiter.hit(item, client_id)
                if not allowed:
                    return await self._decision(False, scope, item, client_id)
            decision = await self._decision(True, "minute", self._items[-1][1], client_id)
        except StorageError as error:
            metrics.RATE_LIMITER_ERRORS.inc()
            if not self._failing:
                log.warning("rate limiter storage unavailable, not limiting until it returns: %s", error)
            self._failing = True
            return None
        self._failing = False
        return decision

    async def _decision(self, allowed: bool, scope: str, item: RateLimitItem, client_id: str) -> Decision:
        stats = await self._limiter.get_window_stats(item, client_id)
        return Decision(allowed, item.amount, stats.remaining, stats.reset_time, scope)


def client_id(request: Request, api_key: str | None) -> str:
    sent = request.headers.get(API_KEY_HEADER)
    if api_key and sent == api_key:
        return "key:" + hashlib.sha256(sent.encode()).hexdigest()[:16]
    return "addr:" + (request.client.host if request.client else "unknown")


class RateLimitMiddleware:
    """Plain ASGI middleware (Starlette's BaseHTTPMiddleware costs every request an extra task and
    stream): limits HTTP requests outside EXEMPT_PATHS, answers 429 with Retry-After, and adds the
    X-RateLimit-* headers to every limited path's response. WebSockets have their own message limit."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, api_key: str | None) -> None:
        self.app, self.limiter, self.api_key = app, limiter, api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        decision = await self.limiter.check(client_id(Request(scope), self.api_key))
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(scope=decision.scope).inc()
            detail = f"rate limit exceeded: {decision.limit} requests per {decision.scope}"
            await JSONResponse({"detail": detail}, status_code=429, headers=decision.headers())(scope, receive, send)
            return
        extra = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in decision.headers().items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class MessageRateLimiter:
    """At most `per_second` messages per second on one WebSocket connection (in-process)."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerSecond(per_second)

    async def allow(self, connection_id: str) -> bool:
        return await self._limiter.hit(self._item, connection_id)

"""Per-client rate limits with the `limits` library: moving windows, atomic on Redis so replicas share counts.

A client is its API key when it sends the configured one (X-API-Key), else its address (see
`gateway.client_identity`: X-Forwarded-For only from trusted proxies, IPv6 by /64), so inventing keys
buys no extra quota. Every HTTP request and every WebSocket connect costs one; a batch costs one per
symbol (the route charges the rest). Health and metrics are exempt: a probe must never be refused.
Redis down -> requests go through, counted and logged once (fail open: the limiter protects capacity,
it is not an access control).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request
from fastapi.responses import JSONResponse
from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import metrics
from gateway.client_identity import ClientIdentity

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/metrics", "/health", "/health/live", "/health/ready"})
REDIS_TIMEOUT_S = 0.5
CLIENT_KEY_STATE = "rate_limit_client"


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

    async def check(self, client_id: str, cost: int = 1, burst: bool = True) -> Decision | None:
        """The decision for `cost` requests (None when the storage is down and they go through);
        `burst=False` charges the minute's quota only (a batch's further symbols are work, not a flood)."""
        items = self._items if burst else self._items[-1:]
        try:
            for scope, item in items:
                allowed = await self._limiter.hit(item, client_id, cost=cost)
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


def _refusal(decision: Decision, what: str = "requests") -> str:
    return f"rate limit exceeded: {decision.limit} {what} per {decision.scope}"


async def charge_extra(request: Request, cost: int) -> None:
    """Charge the request's client `cost` more requests (a batch's further symbols); 429 when over."""
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    client = request.scope.get("state", {}).get(CLIENT_KEY_STATE)
    if cost <= 0 or limiter is None or client is None:
        return
    decision = await limiter.check(client, cost, burst=False)
    if decision is not None and not decision.allowed:
        metrics.RATE_LIMITED.labels(scope=decision.scope).inc()
        detail = f"{_refusal(decision)}; this batch costs one request per symbol ({cost + 1})"
        raise HTTPException(429, detail, headers={"Retry-After": decision.headers()["Retry-After"]})


class RateLimitMiddleware:
    """Plain ASGI middleware (Starlette's BaseHTTPMiddleware costs every request an extra task and
    stream): limits HTTP requests outside EXEMPT_PATHS and WebSocket connects, answers 429 with
    Retry-After (a refused WebSocket connect has its handshake refused: 403), and adds the X-RateLimit-*
    headers to every limited path's response. WebSocket messages have their own limit."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter, identity: ClientIdentity) -> None:
        self.app, self.limiter, self.identity = app, limiter, identity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        client = self.identity.key(scope)
        scope.setdefault("state", {})[CLIENT_KEY_STATE] = client
        decision = await self.limiter.check(client)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(scope=decision.scope).inc()
            if scope["type"] == "websocket":
                metrics.WEBSOCKET_REFUSED.labels(reason="rate_limit").inc()
                await send({"type": "websocket.close", "code": 1008, "reason": _refusal(decision, "connects")})
                return
            detail = _refusal(decision)
            await JSONResponse({"detail": detail}, status_code=429, headers=decision.headers())(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        extra = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in decision.headers().items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


"""Per-client rate limits: moving windows of one second and one minute, shared by replicas through Redis.

A client is its API key when it sends the configured one (X-API-Key), else its address (see
`gateway.client_identity`: X-Forwarded-For only from trusted proxies, IPv6 by /64), so inventing keys
buys no extra quota. Every HTTP request and every WebSocket connect costs one; a batch costs one per
symbol (the route charges the rest). Health and metrics are exempt: a probe must never be refused.

The common path asks no one: a request is decided against the client's local advance, requests
reserved ahead in the shared budget (`gateway.api.rate_budget`) and spent here with no lock and no await.
An advance is taken only while the client is far from every limit (at most ADVANCE_FRACTION of what
remains in its tightest window, ADVANCE_MAX at most), lives ADVANCE_LEASE_S, and its unspent part is
given back when the lease ends. So replicas never admit more than the limits together (every admitted
request was reserved in Redis first); a client near a limit is decided by Redis request by request
(with the default 20/s nothing is ever advanced: 19 / 32 < 1), and a client far from it may meet a
refusal early by at most the advances other replicas hold for it, for at most ADVANCE_LEASE_S.

Redis down -> requests go through, counted and logged once (fail open: the limiter protects capacity,
it is not an access control).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import uuid
from dataclasses import dataclass

from fastapi import HTTPException, Request
from redis.exceptions import RedisError

from gateway import metrics
from gateway.api.rate_budget import Grant, MemoryBudget, RedisBudget, Scope

log = logging.getLogger(__name__)

EXEMPT_PATHS = frozenset({"/metrics", "/health", "/health/live", "/health/ready"})
CLIENT_KEY_STATE = "rate_limit_client"
ADVANCE_FRACTION = 1 / 32
ADVANCE_MAX = 256
ADVANCE_LEASE_S = 0.25
RATE_LIMITED = {name: metrics.RATE_LIMITED.labels(scope=name) for name in ("second", "minute")}


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

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in self.headers().items()]


class Advance:
    """Requests reserved ahead for one client: spent locally until `tokens` or the lease runs out."""

    __slots__ = ("grant_id", "granted", "tokens", "expires", "remaining", "reset_epoch")

    def __init__(self, grant_id: str, grant: Grant, expires: float) -> None:
        self.grant_id, self.granted, self.tokens, self.expires = grant_id, grant.granted, grant.granted, expires
        self.remaining, self.reset_epoch = grant.remaining[-1], grant.reset_epoch[-1]  # the minute's, for headers


class RateLimiter:
    def __init__(self, budget: RedisBudget | MemoryBudget, per_minute: int, burst_per_second: int) -> None:
        self._budget = budget
        # checked in this order: the burst first, so a burst does not use up the minute's quota
        self._scopes = (Scope("second", burst_per_second, 1.0), Scope("minute", per_minute, 60.0))
        self._advances: dict[str, Advance] = {}
        self._ids = (f"{uuid.uuid4().hex[:12]}-{n}" for n in itertools.count())
        self._releases: set[asyncio.Task] = set()
        self._failing = False

    @property
    def per_minute(self) -> int:
        return self._scopes[-1].limit

    def check_local(self, client: str) -> Decision | None:
        """The decision from the client's advance (no await), or None when it has none left."""
        advance = self._advances.get(client)
        if advance is None or advance.tokens <= 0 or time.monotonic() >= advance.expires:
            return None
        advance.tokens -= 1
        return Decision(True, self.per_minute, advance.remaining + advance.tokens, advance.reset_epoch, "minute")

    async def check(self, client: str, cost: int = 1, burst: bool = True) -> Decision | None:
        """The decision for `cost` requests (None when the storage is down and they go through);
        `burst=False` charges the minute's quota only (a batch's further symbols are work, not a flood)."""
        if cost == 1 and burst and (decision := self.check_local(client)) is not None:
            return decision
        scopes = self._scopes if burst else self._scopes[-1:]
        grant_id = next(self._ids)
        advancing = cost == 1 and burst
        try:
            grant = await self._budget.reserve(client, scopes, cost, ADVANCE_FRACTION if advancing else 0.0,
                                               ADVANCE_MAX, ADVANCE_LEASE_S, grant_id)
        except (TimeoutError, RedisError, OSError) as error:
            metrics.RATE_LIMITER_ERRORS.inc()
            if not self._failing:
                log.warning("rate limiter storage unavailable, not limiting until it returns: %s", error)
            self._failing = True
            return None
        self._failing = False
        if grant.refused_by is not None:
            scope = scopes[grant.refused_by]
            return Decision(False, scope.limit, 0, grant.reset_epoch[grant.refused_by], scope.name)
        if grant.granted > cost:
            self._keep_advance(client, grant_id, grant, cost)
        return Decision(True, self.per_minute, grant.remaining[-1] + grant.granted - cost, grant.reset_epoch[-1],
                        "minute")

    def _keep_advance(self, client: str, grant_id: str, grant: Grant, spent: int) -> None:
        advance = Advance(grant_id, grant, time.monotonic() + ADVANCE_LEASE_S)
        advance.tokens -= spent
        self._advances[client] = advance
        asyncio.get_running_loop().call_later(ADVANCE_LEASE_S, self._end_lease, client, advance)

    def _end_lease(self, client: str, advance: Advance) -> None:
        if self._advances.get(client) is advance:
            del self._advances[client]
        if advance.tokens > 0:  # give the unspent part back to the other replicas
            unspent, advance.tokens = advance.tokens, 0
            task = asyncio.create_task(self._release(client, advance, advance.granted - unspent))
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def _release(self, client: str, advance: Advance, spent: int) -> None:
        try:
            await self._budget.release(client, self._scopes, advance.grant_id, advance.granted, spent)
        except (TimeoutError, RedisError, OSError) as error:  # the advance stays counted until it ages out
            log.debug("returning an unspent rate-limit advance failed: %s", error)


def limiter_budget(redis_url: str | None, key_prefix: str) -> RedisBudget | MemoryBudget:
    return RedisBudget(redis_url, key_prefix) if redis_url else MemoryBudget()


def refusal(decision: Decision, what: str = "requests") -> str:
    return f"rate limit exceeded: {decision.limit} {what} per {decision.scope}"


async def charge_extra(request: Request, cost: int) -> None:
    """Charge the request's client `cost` more requests (a batch's further symbols); 429 when over."""
    limiter: RateLimiter | None = getattr(request.app.state, "limiter", None)
    client = request.scope.get("state", {}).get(CLIENT_KEY_STATE)
    if cost <= 0 or limiter is None or client is None:
        return
    decision = await limiter.check(client, cost, burst=False)
    if decision is not None and not decision.allowed:
        RATE_LIMITED[decision.scope].inc()
        detail = f"{refusal(decision)}; this batch costs one request per symbol ({cost + 1})"
        raise HTTPException(429, detail, headers={"Retry-After": decision.headers()["Retry-After"]})

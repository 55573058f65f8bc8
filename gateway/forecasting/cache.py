"""Where forecasts are kept: in-process always, and in Redis (shared by replicas) when REDIS_URL is set.

A key names everything a forecast depends on (the symbol, a fingerprint of its window's bars, its last bar
date, the model version), so a new bar, a corrected or backfilled one, or a new model simply stops matching
the old entries; Redis expires them after the TTL. A failing
Redis never fails a request: it is counted, logged once per outage, and the request goes on without it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Generic, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import metrics

log = logging.getLogger(__name__)

MEMORY_CACHE_ENTRIES = 4096
REDIS_TIMEOUT_S = 0.5
Value = TypeVar("Value")


def forecast_key(prefix: str, ticker: str, last_bar_date: str, model_version: str, fingerprint: str = "") -> str:
    """`fingerprint` names the window's bars (`market_data.bars.window_fingerprint`): a corrected or
    backfilled bar inside the window changes it, not only a new last date."""
    return f"{prefix}:forecast:{model_version}:{fingerprint}:{ticker}:{last_bar_date}"


class MemoryCache(Generic[Value]):
    """Bounded, least recently stored out first; entries never go stale (their key says what they are)."""

    def __init__(self, max_entries: int = MEMORY_CACHE_ENTRIES) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, Value] = OrderedDict()

    def get(self, key: str) -> Value | None:
        return self._entries.get(key)

    def set(self, key: str, value: Value) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RedisCache:
    """Redis with MGET and SET EX in one pipeline; on any Redis error the caller goes on without it."""

    def __init__(self, client: aioredis.Redis, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self._failing = False

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values = await self.client.mget(list(keys))
        except (RedisError, OSError) as error:
            self._failed(error)
            return [None] * len(keys)
        self._recovered()
        return values

    async def set_many(self, items: dict[str, bytes]) -> None:
        if self.ttl_seconds <= 0 or not items:
            return
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(key, value, ex=self.ttl_seconds)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self._failed(error)

    async def close(self) -> None:
        await self.client.aclose()

    def _failed(self, error: Exception) -> None:
        metrics.CACHE_ERRORS.inc()
        if not self._failing:
            log.warning("Redis cache unavailable, going on without it until it returns: %s", error)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.warning("Redis cache is back")
        self._failing = False


def redis_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)

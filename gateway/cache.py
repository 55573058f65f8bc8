"""The response cache: Redis when REDIS_URL is set, else in-process. A failing Redis never fails a request.

Keys hash everything an answer depends on (the request, the symbol's last bar date, the model version),
so a new bar or a new model simply stops matching the old entries, which then expire after the TTL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import metrics

log = logging.getLogger(__name__)

MEMORY_CACHE_ENTRIES = 4096
REDIS_TIMEOUT_S = 0.5


def cache_key(prefix: str, request: dict, last_bar_date: str, model_version: str) -> str:
    material = json.dumps([request, last_bar_date, model_version], sort_keys=True, default=str)
    return f"{prefix}:cache:{hashlib.sha256(material.encode()).hexdigest()}"


class MemoryCache:
    """Bounded, TTL-expiring, in-process; for the embedded default with no Redis."""

    def __init__(self, ttl_seconds: int, max_entries: int = MEMORY_CACHE_ENTRIES) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> str | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    async def set(self, key: str, value: str) -> None:
        if self.ttl_seconds <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def close(self) -> None:
        self._entries.clear()


class RedisCache:
    """Redis with SET EX; on any Redis error the request goes on uncached, counted, logged once per outage."""

    def __init__(self, client: aioredis.Redis, ttl_seconds: int) -> None:
        self.client = client
        self.ttl_seconds = ttl_seconds
        self._failing = False

    async def get(self, key: str) -> str | None:
        try:
            value = await self.client.get(key)
        except (RedisError, OSError) as error:
            self._failed(error)
            return None
        self._recovered()
        return value.decode() if isinstance(value, bytes) else value

    async def set(self, key: str, value: str) -> None:
        if self.ttl_seconds <= 0:
            return
        try:
            await self.client.set(key, value, ex=self.ttl_seconds)
        except (RedisError, OSError) as error:
            self._failed(error)

    async def close(self) -> None:
        await self.client.aclose()

    def _failed(self, error: Exception) -> None:
        metrics.CACHE_ERRORS.inc()
        if not self._failing:
            log.warning("Redis cache unavailable, serving uncached until it returns: %s", error)
        self._failing = True

    def _recovered(self) -> None:
        if self._failing:
            log.warning("Redis cache is back")
        self._failing = False


def redis_client(url: str) -> aioredis.Redis:
    return aioredis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S)


def open_cache(redis: aioredis.Redis | None, ttl_seconds: int) -> MemoryCache | RedisCache:
    return RedisCache(redis, ttl_seconds) if redis is not None else MemoryCache(ttl_seconds)

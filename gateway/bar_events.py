"""Announcements of new bars: Redis pub/sub so every gateway replica hears them, or in-process without Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

Listener = Callable[[str, str], Awaitable[None]]  # (symbol, last bar date ISO)
RECONNECT_DELAY_S = 1.0
CONNECT_TIMEOUT_S = 0.5


class LocalBarEvents:
    """In-process: a publish reaches this process's listeners only."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, symbol: str, last_date: str) -> None:
        await self._dispatch(symbol, last_date)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def _dispatch(self, symbol: str, last_date: str) -> None:
        for listener in self._listeners:
            try:
                await listener(symbol, last_date)
            except Exception:  # one failing listener must not silence the others
                log.exception("bar listener failed for %s", symbol)


class RedisBarEvents(LocalBarEvents):
    """Publishes on a Redis channel; a background task hands every message to this process's listeners."""

    def __init__(self, redis_url: str, channel: str) -> None:
        super().__init__()
        # no read timeout: the listener blocks on the subscription until a message comes
        self.client = aioredis.Redis.from_url(redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        self.channel = channel
        self._task: asyncio.Task | None = None
        self._subscribed = asyncio.Event()

    async def publish(self, symbol: str, last_date: str) -> None:
        message = json.dumps({"symbol": symbol, "last_date": last_date})
        try:
            await self.client.publish(self.channel, message)
        except (RedisError, OSError) as error:
            log.warning("Redis pub/sub unavailable, announcing %s to this replica only: %s", symbol, error)
            await self._dispatch(symbol, last_date)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="bar-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.aclose()

    async def _listen_forever(self) -> None:
        warned = False
        while True:
            try:
                await self._listen()
            except (RedisError, OSError) as error:
                if not warned:
                    log.warning("Redis pub/sub listener lost, retrying every %.0f s: %s", RECONNECT_DELAY_S, error)
                warned = True
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _listen(self) -> None:
        async with self.client.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                payload = json.loads(message["data"])
                await self._dispatch(payload["symbol"], payload["last_date"])

"""Announcements of new bars: Redis pub/sub so every gateway replica hears them, or in-process without Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway import metrics
from gateway.forecasting.cache import redis_client

log = logging.getLogger(__name__)

Listener = Callable[[str, str], Awaitable[None]]  # (symbol, last bar date ISO)
RECONNECT_DELAY_S = 1.0
CONNECT_TIMEOUT_S = 0.5
HEALTH_CHECK_INTERVAL_S = 5.0


async def notify_each(listeners: Iterable[Listener], symbol: str, last_date: str) -> int:
    """Hand (symbol, newest date) to every listener in turn; returns how many failed (each logged): one
    failing listener must not silence the others."""
    failed = 0
    for listener in listeners:
        try:
            await listener(symbol, last_date)
        except Exception:
            failed += 1
            log.exception("bar listener %s failed for %s", getattr(listener, "__qualname__", listener), symbol)
    return failed


class LocalBarEvents:
    """In-process: a publish reaches this process's listeners only, before `publish` returns."""

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
        failed = await notify_each(self._listeners, symbol, last_date)
        if failed:
            metrics.BAR_EVENT_ERRORS.labels(reason="listener").inc(failed)


class RedisBarEvents(LocalBarEvents):
    """Publishes on a Redis channel; a background task hands every message to this process's listeners.

    The listener survives anything: a malformed message is logged, counted and skipped; a lost
    connection (Redis restarted, network cut) is retried every RECONNECT_DELAY_S until it subscribes
    again, and a PING every HEALTH_CHECK_INTERVAL_S notices a connection that died silently. Pub/sub
    delivers at most once: a bar announced while this replica was not subscribed is not pushed at
    once, its subscribers get it with their next periodic update. A publish reaches this replica's
    listeners first, before it returns (the posting client's next request sees the bar), and the other
    replicas through Redis; each message names its origin, so this replica skips its own echo.
    Publishing uses its own client with short timeouts.
    """

    def __init__(self, redis_url: str, channel: str) -> None:
        super().__init__()
        self.publisher = redis_client(redis_url)  # socket and connect timeouts
        # the subscriber waits for messages in slices of HEALTH_CHECK_INTERVAL_S: no read timeout of its own
        self.subscriber = aioredis.Redis.from_url(
            redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S, socket_keepalive=True,
            health_check_interval=HEALTH_CHECK_INTERVAL_S,
        )
        self.channel = channel
        self.origin = uuid.uuid4().hex
        self._task: asyncio.Task | None = None
        self._subscribed = asyncio.Event()

    @property
    def listening(self) -> bool:
        return self._subscribed.is_set()

    async def publish(self, symbol: str, last_date: str) -> None:
        await self._dispatch(symbol, last_date)
        message = json.dumps({"symbol": symbol, "last_date": last_date, "origin": self.origin})
        try:
            await self.publisher.publish(self.channel, message)
        except (RedisError, OSError) as error:
            log.warning("Redis pub/sub unavailable, %s announced to this replica only: %s", symbol, error)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen_forever(), name="bar-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._subscribed.wait(), timeout=2.0)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.publisher.aclose()
        await self.subscriber.aclose()

    async def _listen_forever(self) -> None:
        lost = False
        while True:
            try:
                await self._listen(reconnected=lost)
            except (RedisError, OSError) as error:
                self._subscribed.clear()
                if not lost:
                    log.warning("Redis pub/sub listener lost, retrying every %.0f s: %s", RECONNECT_DELAY_S, error)
                lost = True
                await asyncio.sleep(RECONNECT_DELAY_S)

    async def _listen(self, reconnected: bool) -> None:
        async with self.subscriber.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            self._subscribed.set()
            if reconnected:
                log.warning("Redis pub/sub listener subscribed again to %s", self.channel)
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=HEALTH_CHECK_INTERVAL_S)
                if message is not None and message.get("type") == "message":
                    await self._handle(message["data"])

    async def _handle(self, data: bytes | str) -> None:
        try:
            payload = json.loads(data)
            symbol, last_date = payload["symbol"], payload["last_date"]
            if not isinstance(symbol, str) or not isinstance(last_date, str):
                raise TypeError("symbol and last_date must be strings")
        except (ValueError, KeyError, TypeError) as error:
            metrics.BAR_EVENT_ERRORS.labels(reason="malformed").inc()
            log.warning("ignored a malformed bar announcement on %s (%s): %.200r", self.channel, error, data)
            return
        if payload.get("origin") != self.origin:
            await self._dispatch(symbol, last_date)

"""The Redis bar-event listener survives a malformed message and a Redis restart (a private redis-server)."""

from __future__ import annotations

import asyncio
import time

import redis

from gateway.realtime.bar_events import RECONNECT_DELAY_S, RedisBarEvents

RECEIVE_TIMEOUT_S = 10.0


class Heard:
    def __init__(self) -> None:
        self.events: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    async def __call__(self, symbol: str, last_date: str) -> None:
        await self.events.put((symbol, last_date))

    async def next(self) -> tuple[str, str]:
        return await asyncio.wait_for(self.events.get(), RECEIVE_TIMEOUT_S)


async def test_a_malformed_message_is_skipped_and_the_next_one_heard(private_redis):
    events, heard = RedisBarEvents(private_redis.url, "bars"), Heard()
    events.subscribe(heard)
    await events.start()
    try:
        raw = redis.Redis.from_url(private_redis.url)
        for junk in (b"not json", b'{"symbol": "ABE"}', b'["ABE", "2026-01-02"]', b'{"symbol": 1, "last_date": 2}'):
            raw.publish("bars", junk)
        await events.publish("ABE", "2026-01-02")
        assert await heard.next() == ("ABE", "2026-01-02")
        assert heard.events.empty()
        raw.close()
    finally:
        await events.stop()


async def test_the_listener_subscribes_again_after_redis_restarts(private_redis):
    events, heard = RedisBarEvents(private_redis.url, "bars"), Heard()
    events.subscribe(heard)
    await events.start()
    try:
        assert events.listening
        private_redis.kill()
        await events.publish("ABE", "2026-01-02")  # Redis down: this replica's listeners still hear it
        assert await heard.next() == ("ABE", "2026-01-02")
        private_redis.start()
        deadline = time.monotonic() + RECONNECT_DELAY_S + RECEIVE_TIMEOUT_S
        raw = redis.Redis.from_url(private_redis.url)
        while raw.pubsub_numsub("bars")[0][1] == 0 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert raw.pubsub_numsub("bars")[0][1] == 1 and events.listening
        raw.close()
        await events.publish("ACG", "2026-01-05")  # through Redis again
        assert await heard.next() == ("ACG", "2026-01-05")
    finally:
        await events.stop()

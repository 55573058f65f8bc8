"""Faults under load, against real processes: a private redis-server, Triton and PostgreSQL are killed or
stopped while clients post bars and read, and the gateway (never restarted) must keep its promises."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg
import httpx
import numpy as np
import pytest
import redis

from market_data.stores import open_store
from tests.fixtures.triton import start_triton
from tests.gateway.conftest import API_KEY

FIRST_NEW_DAY = np.datetime64("2026-01-05")  # the first trading day after the synthetic history
RECOVERY_TIMEOUT_S = 20.0
# idle connections are dropped well before uvicorn's 5 s keep-alive timeout: reusing one the server is
# closing at that moment is a client-side race, not a fault of the gateway
KEEP_ALIVE = httpx.Limits(keepalive_expiry=1.0)


def trading_days(count: int) -> list[str]:
    return [str(day) for day in np.busday_offset(FIRST_NEW_DAY, np.arange(count), roll="forward")]


def bar(symbol: str, day: str, close: float = 30.5) -> dict:
    return {"symbol": symbol, "date": day, "open": 30.0, "high": 31.0, "low": 29.0, "close": close, "volume": 1000.0}


@dataclass
class Load:
    """What the clients saw: each acknowledged bar, each read's (time, status), and each failure."""

    acknowledged: list[tuple[str, str]] = field(default_factory=list)
    refused_bars: list[int] = field(default_factory=list)
    reads: list[tuple[float, int, str]] = field(default_factory=list)
    transport_errors: list[str] = field(default_factory=list)


async def until(stop: asyncio.Event, step: Callable[[], Awaitable[None]]) -> None:
    while not stop.is_set():
        await step()


async def post_bars(client: httpx.AsyncClient, symbol: str, days: list[str], load: Load, stop: asyncio.Event):
    for day in days:
        if stop.is_set():
            return
        try:
            response = await client.post("/bars", json={"bars": [bar(symbol, day)]}, headers={"X-API-Key": API_KEY})
        except httpx.HTTPError as error:
            load.transport_errors.append(f"POST /bars {symbol} {day}: {error!r}")
            continue
        if response.is_success:
            assert response.json()["stored"] == 1, response.text
            load.acknowledged.append((symbol, day))
        else:
            load.refused_bars.append(response.status_code)
        await asyncio.sleep(0.02)


async def read(client: httpx.AsyncClient, symbols: list[str], load: Load) -> None:
    body = {"symbol": random.choice(symbols), "prediction_horizon": random.randint(1, 30),
            "confidence_threshold": round(random.uniform(0.5, 0.9), 6)}  # a new cache key
    try:
        response = await client.post("/analyze", json=body)
    except httpx.HTTPError as error:
        load.transport_errors.append(f"POST /analyze: {error!r}")
        return
    load.reads.append((time.monotonic(), response.status_code, response.text[:300]))


async def wait_for(condition: Callable[[], bool], what: str, timeout: float = RECOVERY_TIMEOUT_S) -> float:
    """Seconds until `condition()` held; fails naming `what` after `timeout`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            pytest.fail(f"{what} did not happen within {timeout:.0f} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - started


@pytest.mark.triton
async def test_redis_killed_while_clients_post_and_read(start_gateway, bars_home, stored_symbols, private_redis, tmp_path):
    home, prefix = tmp_path / "redis-fault-home", f"wig80fault-{os.getpid()}-{random.randrange(10**6)}"
    shutil.copytree(bars_home, home)
    gateway = start_gateway(home=home, prefix=prefix, REDIS_URL=private_redis.url)
    load, stop = Load(), asyncio.Event()
    days = trading_days(150)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30.0, limits=KEEP_ALIVE) as client:
        clients = [asyncio.create_task(post_bars(client, symbol, days, load, stop)) for symbol in stored_symbols[:2]]
        clients += [asyncio.create_task(until(stop, lambda: read(client, stored_symbols, load))) for _ in range(2)]
        await asyncio.sleep(2.0)
        private_redis.kill()
        killed_at = time.monotonic()
        await asyncio.sleep(3.0)
        private_redis.start()
        restarted_at = time.monotonic()
        await asyncio.sleep(2.0)
        stop.set()
        await asyncio.gather(*clients)

        # limits recover: the X-RateLimit headers (absent while the limiter fails open) come back
        async def limited() -> bool:
            return "X-RateLimit-Limit" in (await client.get("/symbols")).headers

        started = time.monotonic()
        while not await limited():
            assert time.monotonic() - started < RECOVERY_TIMEOUT_S, "rate limits did not return with Redis"
            await asyncio.sleep(0.2)

    assert not load.transport_errors, load.transport_errors[:5]
    assert not load.refused_bars, f"bars refused: {load.refused_bars[:10]}"
    assert gateway.metric("rate_limiter_errors_total") >= 1  # the gateway did lose Redis
    # reads keep being answered, during the outage too
    assert {status for _, status, _ in load.reads} == {200}, [r for r in load.reads if r[1] != 200][:3]
    assert any(killed_at < at < restarted_at for at, _, _ in load.reads), "no read was answered during the outage"
    await assert_acknowledged_bars_stored_once(home, load.acknowledged)

    # pub/sub recovers: the gateway subscribes again, and its announcements go through Redis
    watcher = redis.Redis.from_url(private_redis.url)
    channel = f"{prefix}:bars"
    await wait_for(lambda: watcher.pubsub_numsub(channel)[0][1] >= 1, "the gateway's re-subscription")
    pubsub = watcher.pubsub()
    pubsub.subscribe(channel)
    assert pubsub.get_message(timeout=5.0)["type"] == "subscribe"
    symbol = stored_symbols[3]
    posted = httpx.post(f"{gateway.url}/bars", json={"bars": [bar(symbol, days[0])]}, headers={"X-API-Key": API_KEY},
                        timeout=30.0)
    assert posted.status_code == 200 and posted.json()["stored"] == 1
    announced = pubsub.get_message(timeout=5.0)
    assert announced is not None and symbol.encode() in announced["data"]
    pubsub.close()
    watcher.close()


async def assert_acknowledged_bars_stored_once(home, acknowledged: list[tuple[str, str]]) -> None:
    assert acknowledged, "no bar was acknowledged"
    assert len(set(acknowledged)) == len(acknowledged)
    async with open_store(None, home) as store:
        for symbol in {symbol for symbol, _ in acknowledged}:
            stored = await store.read_range(symbol, np.datetime64(FIRST_NEW_DAY).item())
            stored_days = [str(day) for day in stored.dates]
            assert len(stored_days) == len(set(stored_days))  # once
            mine = sorted(day for s, day in acknowledged if s == symbol)
            assert set(mine) <= set(stored_days), f"{symbol}: acknowledged but not stored: {set(mine) - set(stored_days)}"


@pytest.mark.triton
async def test_triton_killed_under_load_gives_503_then_recovers(start_gateway, triton_server, stored_symbols, tmp_path):
    private = start_triton(triton_server.repository, tmp_path / "triton")
    ports = (private.http_port, private.grpc_port, private.metrics_port)
    load, stop = Load(), asyncio.Event()
    try:
        gateway = start_gateway(TRITON_URL=private.address.grpc, REDIS_URL="")
        async with httpx.AsyncClient(base_url=gateway.url, timeout=30.0, limits=KEEP_ALIVE) as client:
            readers = [asyncio.create_task(until(stop, lambda: read(client, stored_symbols, load))) for _ in range(3)]
            await asyncio.sleep(1.0)
            os.killpg(private.pid, signal.SIGKILL)  # tritonserver and its Python backend stubs
            await asyncio.to_thread(private.stop)
            killed_at = time.monotonic()
            # forecasts made before the kill keep answering; a new bar needs a new forecast from Triton
            new_bars = [bar(symbol, trading_days(1)[0]) for symbol in stored_symbols]
            posted = await client.post("/bars", json={"bars": new_bars}, headers={"X-API-Key": API_KEY})
            assert posted.status_code == 200 and posted.json()["stored"] == len(new_bars), posted.text
            await wait_for(lambda: any(at > killed_at and s == 503 for at, s, _ in load.reads), "a 503")
            await asyncio.sleep(1.0)
            from serving.tritonserver import TritonServer

            private = TritonServer(triton_server.repository, *ports, home=tmp_path / "triton").start()
            # waited for off the event loop, so the readers keep reading while Triton comes up
            await asyncio.to_thread(private.wait_ready)
            restarted_at = time.monotonic()
            recovered = await wait_for(
                lambda: any(at > restarted_at and s == 200 for at, s, _ in load.reads), "recovery after the restart"
            )
            await asyncio.sleep(1.0)
            stop.set()
            await asyncio.gather(*readers)
    finally:
        private.stop()
    assert not load.transport_errors, load.transport_errors[:5]
    statuses = {status for _, status, _ in load.reads}
    assert statuses <= {200, 503}, [r for r in load.reads if r[1] not in (200, 503)][:3]
    down = [text for at, status, text in load.reads if status == 503]
    assert all("Triton" in text for text in down), down[:3]  # a reason, naming what is unavailable
    settled = [status for at, status, _ in load.reads if at > restarted_at + recovered + 0.5]
    assert settled and set(settled) == {200}, f"not every read answered after recovery: {settled}"


async def test_postgres_stopped_in_the_middle_of_post_bars(start_gateway_without_triton, private_postgres, stored_symbols):
    gateway = start_gateway_without_triton(MARKET_DB_URL=private_postgres.url, REDIS_URL="")
    first = httpx.post(f"{gateway.url}/bars", json={"bars": [bar(stored_symbols[0], "2026-01-02")]},
                       headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert first.status_code == 200 and first.json()["stored"] == 1, first.text  # the table exists now
    batch = [bar(symbol, day) for symbol in stored_symbols for day in trading_days(50)]
    locker = await asyncpg.connect(private_postgres.url)
    await locker.execute("BEGIN")
    # SHARE mode: reads go on, the batch's write into bars waits inside its transaction
    await locker.execute("LOCK TABLE bars IN SHARE MODE")
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60.0) as client:
        posting = asyncio.create_task(client.post("/bars", json={"bars": batch}, headers={"X-API-Key": API_KEY}))
        # the gateway's transaction waits on the lock (pg_stat_activity may still show its previous statement)
        waiting = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        started = time.monotonic()
        while await locker.fetchval(waiting) == 0:
            assert time.monotonic() - started < 15.0 and not posting.done(), "POST /bars never waited on the lock"
            await asyncio.sleep(0.05)
        private_postgres.stop(signal.SIGINT)  # fast shutdown: sessions are ended, open transactions rolled back
        response = await posting
    with contextlib.suppress(Exception):
        await locker.close()
    assert response.status_code == 503, response.text
    assert "bar store unavailable" in response.json()["detail"]

    private_postgres.start()
    check = await asyncpg.connect(private_postgres.url)
    try:
        assert await check.fetchval("SELECT count(*) FROM bars") == 1  # nothing of the interrupted batch
    finally:
        await check.close()
    # the gateway, not restarted, writes again once PostgreSQL is back
    async with httpx.AsyncClient(base_url=gateway.url, timeout=60.0) as client:
        retried = await client.post("/bars", json={"bars": batch}, headers={"X-API-Key": API_KEY})
        if retried.status_code == 503:  # the pool may hand out one connection that died with the server
            retried = await client.post("/bars", json={"bars": batch}, headers={"X-API-Key": API_KEY})
    assert retried.status_code == 200 and retried.json()["stored"] == len(batch), retried.text

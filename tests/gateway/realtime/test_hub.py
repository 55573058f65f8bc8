"""The push loop survives any failure of an update: it reports it on the socket and goes on, and closes
with 1011 once every update has failed MAX_CONSECUTIVE_PUSH_FAILURES rounds in a row; never silent.

The hub runs in a real uvicorn server and is reached by a real WebSocket client. Its analysis is a
fake, named as such: it raises the faults (a lost asyncpg connection, a corrupt cache entry, a store
error) on the exact update the test wants, which a real store and cache cannot be made to do reliably.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import asyncpg
import numpy as np
import pytest
import uvicorn
import websockets
from fastapi import FastAPI, WebSocket

from gateway.realtime.hub import MAX_CONSECUTIVE_PUSH_FAILURES, RealtimeHub
from market_data.bars import BarSeries
from tests.fixtures.services import free_port

RECEIVE_TIMEOUT_S = 10.0
FAULTS = [
    asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    json.JSONDecodeError("corrupt cache entry", "{", 1),
    OSError("bar store unavailable"),
]


class FakeWindows:
    """Knows every symbol (one bar each); fails the subscription check while `failing` is set."""

    failing = False

    async def get(self, symbol: str) -> BarSeries:
        if self.failing:
            raise asyncpg.exceptions.CannotConnectNowError("the database system is starting up")
        return BarSeries(symbol, np.array(["2026-01-02"], dtype="datetime64[D]"), np.ones((1, 5)))


class FaultyAnalysis:
    """FAKE analysis: every `analyze` raises the next of FAULTS, cycling."""

    def __init__(self) -> None:
        self.windows = FakeWindows()
        self.calls = 0

    async def analyze(self, request):
        fault = FAULTS[self.calls % len(FAULTS)]
        self.calls += 1
        raise fault


@contextlib.asynccontextmanager
async def hub_server(hub: RealtimeHub) -> AsyncIterator[str]:
    app = FastAPI()

    @app.websocket("/ws")
    async def realtime(websocket: WebSocket) -> None:
        await hub.serve(websocket)

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        await task


async def receive(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S))


async def test_failed_updates_are_reported_then_the_socket_closes_with_1011():
    analysis = FaultyAnalysis()
    hub = RealtimeHub(analysis, queue_size=32, messages_per_second=5)
    async with hub_server(hub) as url, websockets.connect(url) as ws:
        await ws.send(json.dumps({"symbols": ["ABE"], "update_frequency": 1}))
        errors = [await receive(ws) for _ in range(MAX_CONSECUTIVE_PUSH_FAILURES)]
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S)
    assert all(e["type"] == "error" and e["symbol"] == "ABE" for e in errors)
    assert [e["detail"].split(":")[0] for e in errors[:3]] == ["update failed"] * 3
    assert "ConnectionDoesNotExistError" in errors[0]["detail"] and "JSONDecodeError" in errors[1]["detail"]
    assert closed.value.rcvd.code == 1011
    assert analysis.calls == MAX_CONSECUTIVE_PUSH_FAILURES
    assert not hub.connections and len(hub.slots) == 0  # the connection's slot is given back


async def test_a_store_failure_during_subscribe_is_reported_and_the_socket_stays_usable():
    analysis = FaultyAnalysis()
    hub = RealtimeHub(analysis, queue_size=32, messages_per_second=5)
    async with hub_server(hub) as url, websockets.connect(url) as ws:
        analysis.windows.failing = True
        await ws.send(json.dumps({"symbols": ["ABE"], "update_frequency": 60}))
        refused = await receive(ws)
        analysis.windows.failing = False
        await ws.send(json.dumps({"symbols": ["ABE"], "update_frequency": 60}))
        update = await receive(ws)
    assert refused["type"] == "error" and "subscription not checked" in refused["detail"]
    assert "CannotConnectNowError" in refused["detail"]
    assert update["symbol"] == "ABE" and update["detail"].startswith("update failed")

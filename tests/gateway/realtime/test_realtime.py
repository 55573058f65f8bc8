"""WS /ws/realtime with the Python client of docs/gateway.md: pushes, new-bar pushes across replicas, errors."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import httpx
import pytest
import websockets

from gateway.schemas import PredictionResponse, WebSocketError, WebSocketPrediction
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]
RECEIVE_TIMEOUT_S = 30.0
NEXT_DAY = dt.date(2026, 1, 2)  # the first trading day after the synthetic history


async def receive(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S))


def new_bar(symbol: str) -> dict:
    return {"symbol": symbol, "date": NEXT_DAY.isoformat(), "open": 30.0, "high": 31.5, "low": 29.5,
            "close": 31.0, "volume": 12345.0}


async def test_subscriber_receives_predictions_of_each_symbol(start_gateway, stored_symbols):
    gateway = start_gateway()
    async with websockets.connect(gateway.ws_url) as ws:
        await ws.send(json.dumps({"symbols": stored_symbols[:2], "update_frequency": 1, "include_spectral": True}))
        messages = [WebSocketPrediction.model_validate(await receive(ws)) for _ in range(4)]
    assert {m.symbol for m in messages} == set(stored_symbols[:2])
    assert all(m.data.spectral_analysis is not None for m in messages)


async def test_posted_bar_is_pushed_at_once_by_another_replica(start_gateway, stored_symbols):
    listener, receiver = start_gateway(), start_gateway()
    symbol = stored_symbols[0]
    async with websockets.connect(listener.ws_url) as ws:
        await ws.send(json.dumps({"symbols": [symbol], "update_frequency": 3600, "include_spectral": False}))
        first = WebSocketPrediction.model_validate(await receive(ws))
        assert first.data.market_context.current_price != 31.0
        response = httpx.post(f"{receiver.url}/bars", json={"bars": [new_bar(symbol)]},
                              headers={"X-API-Key": API_KEY}, timeout=30.0)
        assert response.status_code == 200 and response.json()["stored"] == 1, response.text
        pushed = WebSocketPrediction.model_validate(await receive(ws))
    # update_frequency is an hour: only the new bar can have caused this push, and it is built on that bar
    assert pushed.symbol == symbol
    assert PredictionResponse.model_validate(pushed.data).current_price == 31.0


async def test_invalid_subscription_gets_an_error_and_the_connection_stays_usable(gateway, stored_symbols):
    async with websockets.connect(gateway.ws_url) as ws:
        await ws.send("not json")
        assert "invalid subscription" in WebSocketError.model_validate(await receive(ws)).detail
        await ws.send(json.dumps({"symbols": ["NOSUCH"], "update_frequency": 5}))
        assert "NOSUCH" in WebSocketError.model_validate(await receive(ws)).detail
        await ws.send(json.dumps({"symbols": [stored_symbols[0]], "update_frequency": 0}))
        assert "update_frequency" in WebSocketError.model_validate(await receive(ws)).detail
        await ws.send(json.dumps({"symbols": [stored_symbols[0]], "update_frequency": 60}))
        assert WebSocketPrediction.model_validate(await receive(ws)).symbol == stored_symbols[0]


async def test_more_than_five_messages_a_second_are_refused(gateway, stored_symbols):
    async with websockets.connect(gateway.ws_url) as ws:
        for _ in range(12):
            await ws.send("{}")
        details = [WebSocketError.model_validate(await receive(ws)).detail for _ in range(12)]
    assert any("too many messages" in detail for detail in details)
    assert any("invalid subscription" in detail for detail in details)

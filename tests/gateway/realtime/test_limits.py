"""WS /ws/realtime bounds its clients: connections per address and per process, connects counted by the
rate limiter, a budget of symbols x update frequency, and a message limit that survives reconnecting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest
import websockets

from gateway.schemas import WebSocketError

pytestmark = [pytest.mark.redis]
RECEIVE_TIMEOUT_S = 15.0


async def closed_with(ws) -> websockets.frames.Close:
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S)
    return closed.value.rcvd


async def open_connections(url: str, count: int, stack: contextlib.AsyncExitStack) -> list:
    return [await stack.enter_async_context(websockets.connect(url)) for _ in range(count)]


async def test_connections_per_client_address_are_capped(start_gateway_without_triton):
    gateway = start_gateway_without_triton(WIG80_WEBSOCKET_MAX_CONNECTIONS_PER_CLIENT="2")
    async with contextlib.AsyncExitStack() as stack:
        await open_connections(gateway.ws_url, 2, stack)
        third = await stack.enter_async_context(websockets.connect(gateway.ws_url))
        close = await closed_with(third)
    assert close.code == 1013 and "from your address (at most 2)" in close.reason
    assert gateway.metric("websocket_refused_connections_total") == 1
    # the slots are given back on close: a new connection is accepted and served
    async with websockets.connect(gateway.ws_url) as again:
        await again.send("not json")
        assert "invalid subscription" in json.loads(await asyncio.wait_for(again.recv(), RECEIVE_TIMEOUT_S))["detail"]


async def test_connections_per_process_are_capped(start_gateway_without_triton):
    gateway = start_gateway_without_triton(WIG80_WEBSOCKET_MAX_CONNECTIONS="3")
    async with contextlib.AsyncExitStack() as stack:
        await open_connections(gateway.ws_url, 3, stack)
        fourth = await stack.enter_async_context(websockets.connect(gateway.ws_url))
        close = await closed_with(fourth)
    assert close.code == 1013 and "to this gateway (at most 3)" in close.reason


async def test_each_connect_is_counted_by_the_rate_limiter(start_gateway_without_triton):
    gateway = start_gateway_without_triton(WIG80_RATE_LIMIT_PER_MINUTE="3", WIG80_RATE_LIMIT_BURST_PER_SECOND="100")
    async with contextlib.AsyncExitStack() as stack:
        await open_connections(gateway.ws_url, 3, stack)
        with pytest.raises(websockets.InvalidStatus) as refused:  # the handshake is refused
            await stack.enter_async_context(websockets.connect(gateway.ws_url))
    assert refused.value.response.status_code == 403
    assert gateway.metric("rate_limited_requests_total") == 1


async def test_a_subscription_over_the_budget_is_refused_with_the_way_out(start_gateway_without_triton, stored_symbols):
    gateway = start_gateway_without_triton(WIG80_WEBSOCKET_MAX_SYMBOL_UPDATES_PER_SECOND="2")
    async with websockets.connect(gateway.ws_url) as ws:
        await ws.send(json.dumps({"symbols": stored_symbols[:4], "update_frequency": 1}))
        error = WebSocketError.model_validate(json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S)))
    assert "over budget" in error.detail and "update_frequency >= 2" in error.detail


async def test_reconnecting_does_not_reset_the_message_limit(start_gateway_without_triton):
    gateway = start_gateway_without_triton(WIG80_WEBSOCKET_MESSAGES_PER_SECOND="3")
    for _ in range(3):  # the limit is per second: a run on a busy machine may need another try
        await asyncio.sleep(1.1)  # an empty window
        started = time.monotonic()
        async with websockets.connect(gateway.ws_url) as ws:
            for _ in range(3):
                await ws.send("not json")
            replies = [json.loads(await asyncio.wait_for(ws.recv(), RECEIVE_TIMEOUT_S))["detail"] for _ in range(3)]
        assert all("invalid subscription" in reply for reply in replies)
        async with websockets.connect(gateway.ws_url) as again:
            await again.send("not json")
            sent_within = time.monotonic() - started
            reply = json.loads(await asyncio.wait_for(again.recv(), RECEIVE_TIMEOUT_S))["detail"]
        if sent_within < 0.9:
            assert "too many messages" in reply
            return
    pytest.fail("could not send 4 messages over two connections within a second in 3 tries")


async def test_an_idle_connection_is_closed_and_frees_its_slot(start_gateway_without_triton):
    """WIG80_WEBSOCKET_IDLE_TIMEOUT_S: silent sockets are closed with 4408 and the reason; their slots of the
    per-address cap are given back; a client that keeps talking is not idle."""
    gateway = start_gateway_without_triton(WIG80_WEBSOCKET_IDLE_TIMEOUT_S="1",
                                           WIG80_WEBSOCKET_MAX_CONNECTIONS_PER_CLIENT="2")
    async with contextlib.AsyncExitStack() as stack:
        silent = await open_connections(gateway.ws_url, 2, stack)
        closes = [await closed_with(ws) for ws in silent]
    assert {close.code for close in closes} == {4408}
    assert all("idle timeout: nothing sent or pushed for 1 s" in close.reason for close in closes)
    assert gateway.metric("websocket_connections") == 0
    async with websockets.connect(gateway.ws_url) as talking, websockets.connect(gateway.ws_url) as second:
        for _ in range(6):  # 2.4 s of messages, each an activity: more than the 1 s timeout
            await talking.send("not json")
            assert "invalid subscription" in json.loads(await asyncio.wait_for(talking.recv(), RECEIVE_TIMEOUT_S))["detail"]
            await asyncio.sleep(0.4)
        await talking.send("not json")  # still open
        assert "invalid subscription" in json.loads(await asyncio.wait_for(talking.recv(), RECEIVE_TIMEOUT_S))["detail"]
        assert (await closed_with(second)).code == 4408  # the silent one beside it was closed meanwhile

"""Request bodies over the limit get 413 before parsing and before the API key check; WebSocket messages
are bounded by uvicorn's ws_max_size, as every launcher sets it (gateway.server)."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets

pytestmark = [pytest.mark.redis]
BIG = 4 * 1024 * 1024


def bars_body(size: int) -> bytes:
    """A syntactically valid POST /bars body of about `size` bytes."""
    bar = {"symbol": "ABE", "date": "2026-01-02", "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0}
    one = json.dumps(bar)
    return ('{"bars": [' + ", ".join([one] * (size // (len(one) + 2) + 1)) + "]}").encode()


def chunks(body: bytes, size: int = 64 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.fixture
def gateway(start_gateway_without_triton):
    return start_gateway_without_triton(WIG80_MAX_REQUEST_BODY_BYTES="1000000")


def test_a_4_mb_body_is_refused_with_413_before_the_api_key_check(gateway):
    # no X-API-Key: without the limit this is parsed in full, then answered 401
    response = httpx.post(f"{gateway.url}/bars", content=bars_body(BIG),
                          headers={"Content-Type": "application/json"}, timeout=30.0)
    assert response.status_code == 413, response.text
    assert "at most 1000000 bytes" in response.json()["detail"]
    assert gateway.metric("requests_too_large_total") == 1


def test_a_streamed_body_without_content_length_is_counted_too(gateway):
    response = httpx.post(f"{gateway.url}/bars", content=chunks(bars_body(BIG)),
                          headers={"Content-Type": "application/json"}, timeout=30.0)
    assert "content-length" not in {name.lower() for name in response.request.headers}
    assert response.status_code == 413, response.text


def test_a_body_within_the_limit_reaches_the_api_key_check(gateway):
    response = httpx.post(f"{gateway.url}/bars", content=chunks(bars_body(200_000)),
                          headers={"Content-Type": "application/json"}, timeout=30.0)
    assert response.status_code == 401, response.text


async def test_a_websocket_message_over_the_limit_closes_the_socket_with_1009(start_gateway_without_triton):
    gateway = start_gateway_without_triton(WIG80_WEBSOCKET_MAX_MESSAGE_BYTES="65536")
    async with websockets.connect(gateway.ws_url, max_size=None) as ws:
        await ws.send("x" * 70_000)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10.0)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009

"""Request bodies over the limit get 413 before parsing and before the API key check, a body that does not
arrive in time gets 408 and a closed connection; WebSocket messages are bounded by uvicorn's ws_max_size, as
every launcher sets it (gateway.server)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

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


BODY_TIMEOUT_S = 1.0


@pytest.fixture
def gateway(start_gateway_without_triton):
    return start_gateway_without_triton(WIG80_MAX_REQUEST_BODY_BYTES="1000000",
                                        WIG80_REQUEST_BODY_TIMEOUT_SECONDS=str(BODY_TIMEOUT_S))


def read_until_closed(sock: socket.socket, limit_s: float) -> bytes:
    """Everything the server sends until it closes the connection (or `limit_s` passes: then what came)."""
    sock.settimeout(limit_s)
    received = b""
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except TimeoutError:
        pass
    return received


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


def test_a_body_that_never_arrives_gets_408_and_a_closed_connection(gateway):
    host, port = gateway.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5.0) as sock:
        sock.sendall(b"POST /analyze HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n{")
        started = time.monotonic()
        received = read_until_closed(sock, limit_s=BODY_TIMEOUT_S + 10.0)
        waited = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408"), received[:200]
    assert b"request body not received within 1 s" in received
    assert waited < BODY_TIMEOUT_S + 10.0, "the connection was not closed"

"""deploy/nginx/nginx.conf with the real nginx (HTTPS with a self-signed certificate) in front of two real
gateway replicas sharing Redis: requests reach both replicas, a WebSocket held through nginx gets the push
of a bar posted through nginx to the other replica, and the per-client rate limit is one count across
replicas, keyed by the client's address as nginx reports it (not nginx's own)."""

from __future__ import annotations

import asyncio
import json

import httpx
import numpy as np
import pytest
import websockets

from gateway.schemas import ForecastPathResponse, WebSocketPrediction
from tests.fixtures.nginx import Nginx
from tests.fixtures.services import free_port
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]
PER_MINUTE = 8
CLIENT_A, CLIENT_B = "127.0.0.2", "127.0.0.3"  # loopback addresses: two clients as nginx sees them
PUSH_TIMEOUT_S = 15.0


@pytest.fixture
def replicas(start_gateway):
    env = {"WIG80_RATE_LIMIT_PER_MINUTE": str(PER_MINUTE), "WIG80_RATE_LIMIT_BURST_PER_SECOND": "1000",
           "WIG80_TRUSTED_PROXIES": "127.0.0.1"}
    return [start_gateway(**env), start_gateway(**env)]  # one store, one Redis prefix: one deployment


@pytest.fixture
def nginx(replicas, tmp_path):
    try:
        with Nginx(tmp_path, [r.port for r in replicas]) as server:
            yield server
    except RuntimeError as error:
        pytest.fail(str(error))


def client(source: str, server: Nginx) -> httpx.Client:
    """A client from the loopback address `source`, trusting the test's self-signed certificate alone."""
    context = server.certificate.client_context()
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source, verify=context), timeout=30.0)


def test_the_config_is_valid_for_this_nginx(tmp_path):
    result = Nginx(tmp_path, [free_port()]).check()
    assert result.returncode == 0, result.stderr


def test_requests_reach_both_replicas_json_is_gzipped_and_big_bodies_stop_at_nginx(nginx, replicas, stored_symbols):
    with client(CLIENT_A, nginx) as http:
        for _ in range(4):
            response = http.post(f"{nginx.url}/analyze", json={"symbol": stored_symbols[0]})
            assert response.status_code == 200 and response.json()["symbol"] == stored_symbols[0], response.text
        listing = http.get(f"{nginx.url}/symbols", headers={"Accept-Encoding": "gzip"})
        too_big = http.post(f"{nginx.url}/bars", content=b"x" * 1_000_001,
                            headers={"Content-Type": "application/json", "X-API-Key": API_KEY})
    assert all(replica.metric("predictions_total") > 0 for replica in replicas)
    assert listing.headers["content-encoding"] == "gzip" and listing.json()["count"] >= 80
    assert too_big.status_code == 413
    assert all(replica.metric("bars_received_total") == 0 for replica in replicas)


def test_the_rate_limit_is_shared_by_the_replicas_and_keyed_by_the_client_address(nginx, replicas):
    with client(CLIENT_A, nginx) as first, client(CLIENT_B, nginx) as second:
        answers = [first.get(f"{nginx.url}/symbols").status_code for _ in range(PER_MINUTE)]
        assert answers == [200] * PER_MINUTE  # (/health is never limited) spread over both replicas by round robin
        forged = first.get(f"{nginx.url}/symbols", headers={"X-Forwarded-For": CLIENT_B})
        assert forged.status_code == 429, "one count for both replicas, and a forged X-Forwarded-For is no escape"
        assert second.get(f"{nginx.url}/symbols").status_code == 200, "another client has its own count"
    assert sum(replica.metric("rate_limited_requests_total") for replica in replicas) == 1


async def test_a_bar_posted_through_nginx_is_pushed_through_nginx_from_the_other_replica(
        nginx, replicas, stored_symbols):
    symbol = stored_symbols[0]
    async with websockets.connect(f"wss://{nginx.address}/ws/realtime", ssl=nginx.certificate.client_context()) as ws:
        await ws.send(json.dumps({"symbols": [symbol], "update_frequency": 3600, "include_spectral": False}))
        await _prediction(ws)
        holder = [r for r in replicas if r.metric("websocket_connections") == 1]
        assert len(holder) == 1, "the WebSocket is held by one replica"
        # Post bars (one trading day each) through nginx until one lands on the replica without the socket.
        with client(CLIENT_B, nginx) as http:
            for _attempt in range(4):
                bar = _next_bar(replicas[0], symbol)  # read directly: only the POST goes through nginx
                stored_before = [r.metric("bars_received_total") for r in replicas]
                posted = http.post(f"{nginx.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY})
                assert posted.status_code == 200 and posted.json()["stored"] == 1, posted.text
                pushed = await _prediction(ws)
                assert pushed.data.current_price == bar["close"]
                receivers = [r for r, before in zip(replicas, stored_before, strict=True)
                             if r.metric("bars_received_total") > before]
                if receivers != holder:
                    break
            assert receivers and receivers != holder, "no bar reached the other replica"


async def _prediction(ws) -> WebSocketPrediction:
    async with asyncio.timeout(PUSH_TIMEOUT_S):
        return WebSocketPrediction.model_validate(json.loads(await ws.recv()))


def _next_bar(replica, symbol: str) -> dict:
    response = httpx.get(f"{replica.url}/forecast/{symbol}", params={"history": 1}, timeout=30.0)
    last = ForecastPathResponse.model_validate(response.json())
    day = np.busday_offset(np.datetime64(last.last_date, "D"), 1, roll="forward")
    close = round(last.current_price * 1.02, 2)
    return {"symbol": symbol, "date": str(day), "open": last.current_price, "high": round(close * 1.01, 2),
            "low": round(last.current_price * 0.99, 2), "close": close, "volume": 10_000}

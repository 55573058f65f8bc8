"""Faults: Triton stopped -> 503 with the reason and /health degraded; Redis unreachable -> still serving."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.services import free_port
from tests.fixtures.triton import start_triton
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]


def analyze(gateway, symbol: str) -> httpx.Response:
    return httpx.post(f"{gateway.url}/analyze", json={"symbol": symbol}, timeout=60.0)


def test_triton_stopped_gives_503_and_degraded_health(start_gateway, triton_server, stored_symbols, tmp_path):
    # a private Triton on the session's repository: the shared one keeps serving the other tests
    private = start_triton(triton_server.repository, tmp_path / "triton")
    try:
        gateway = start_gateway(TRITON_URL=private.address.grpc)
        assert analyze(gateway, stored_symbols[0]).status_code == 200
    finally:
        private.stop()
    # a forecast made before Triton stopped is still the answer for its bar; a new bar needs a new one
    assert analyze(gateway, stored_symbols[1]).status_code == 200
    bar = {"symbol": stored_symbols[1], "date": "2026-01-02", "open": 20.0, "high": 21.0, "low": 19.0,
           "close": 20.5, "volume": 5000.0}
    posted = httpx.post(f"{gateway.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200
    response = analyze(gateway, stored_symbols[1])
    assert response.status_code == 503
    assert private.address.grpc in response.json()["detail"]
    assert analyze(gateway, "NOSUCH").status_code == 404  # the reason is still the symbol, not Triton
    health = httpx.get(f"{gateway.url}/health", timeout=30.0)
    assert health.status_code == 200
    assert health.json()["status"] == "degraded" and health.json()["model_loaded"] is False
    assert gateway.metric("triton_errors_total") >= 1


def test_redis_unreachable_still_serves(start_gateway, stored_symbols):
    closed = f"redis://127.0.0.1:{free_port()}/15"  # nothing listens there
    gateway = start_gateway(REDIS_URL=closed)
    for _ in range(2):
        assert analyze(gateway, stored_symbols[0]).status_code == 200
    bar = {"symbol": stored_symbols[0], "date": "2026-01-02", "open": 20.0, "high": 21.0, "low": 19.0,
           "close": 20.5, "volume": 5000.0}
    posted = httpx.post(f"{gateway.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200 and posted.json()["stored"] == 1
    assert httpx.get(f"{gateway.url}/health", timeout=30.0).json()["status"] == "healthy"
    assert gateway.metric("cache_errors_total") >= 2
    assert gateway.metric("rate_limiter_errors_total") >= 2
    assert gateway.metric("cache_hits_total") == 2  # forecast at start-up, held in process without Redis

"""Forecasts in Redis: shared by replicas, keyed by the last bar date so a new bar makes a new one."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from gateway.schemas import PredictionResponse
from market_data.stores.sync import run_sync
from tests.gateway.conftest import API_KEY
from tests.gateway.forecasting.test_model_version import expected_price, last_bars

pytestmark = [pytest.mark.triton, pytest.mark.redis]


def analyze(gateway, symbol: str, horizon: int = 7) -> PredictionResponse:
    body = {"symbol": symbol, "prediction_horizon": horizon}
    response = httpx.post(f"{gateway.url}/analyze", json=body, timeout=30.0)
    assert response.status_code == 200, response.text
    return PredictionResponse.model_validate(response.json())


def analyze_until(gateway, symbol: str, current_price: float, timeout: float = 5.0) -> PredictionResponse:
    """The answer once it is built on a bar closing at `current_price` (replicas hear of bars by pub/sub)."""
    deadline = time.monotonic() + timeout
    while (answer := analyze(gateway, symbol)).current_price != current_price and time.monotonic() < deadline:
        time.sleep(0.05)
    return answer


def test_replicas_share_the_forecasts_in_redis_and_a_new_bar_makes_a_new_one(
    start_gateway, stored_symbols, redis_url, redis_prefix, triton_server, tmp_path
):
    prefix = f"{redis_prefix}-cache"
    first, second = start_gateway(prefix=prefix), start_gateway(prefix=prefix)
    symbol = stored_symbols[2]
    client = redis.Redis.from_url(redis_url)
    # the first replica forecast every stored symbol at start-up; the second found them all in Redis
    assert len(list(client.scan_iter(f"{prefix}:forecast:*"))) == len(stored_symbols)
    computed = analyze(first, symbol)
    cached = analyze(second, symbol, horizon=12)
    assert first.metric("cache_misses_total") == 0 and second.metric("cache_misses_total") == 0
    assert cached.timestamp == computed.timestamp and cached.model_version == computed.model_version

    bar = {"symbol": symbol, "date": "2026-01-02", "open": 20.0, "high": 21.0, "low": 19.0, "close": 20.5,
           "volume": 5000.0}
    posted = httpx.post(f"{first.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200 and posted.json() == {"stored": 1, "duplicates": 0, "symbols": [symbol]}

    at_once = analyze(first, symbol, horizon=3)  # the posting replica, at once
    fresh = analyze_until(second, symbol, 20.5)
    assert at_once.current_price == 20.5 and fresh.current_price == 20.5 and fresh.timestamp > computed.timestamp
    # forecast from the new window (start_gateway's private store is tmp_path/home)
    window = run_sync(last_bars(tmp_path / "home", symbol, triton_server.window)).ohlcv
    assert window[-1, 3] == 20.5
    assert at_once.predicted_price == pytest.approx(expected_price(triton_server.repository, 1, window, horizon=3), rel=1e-5)
    assert len(list(client.scan_iter(f"{prefix}:forecast:*:{symbol}:2026-01-02"))) == 1
    client.close()


def test_without_redis_the_forecasts_are_in_process(start_gateway, stored_symbols):
    gateway = start_gateway(REDIS_URL="")
    first, again = analyze(gateway, stored_symbols[0]), analyze(gateway, stored_symbols[0], horizon=30)
    assert again.timestamp == first.timestamp
    # made at start-up, before any request
    assert gateway.metric("cache_hits_total") == 2 and gateway.metric("cache_misses_total") == 0
    assert gateway.metric("cache_errors_total") == 0

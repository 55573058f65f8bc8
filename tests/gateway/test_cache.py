"""The response cache on Redis: shared by replicas, keyed by the last bar date so a new bar invalidates."""

from __future__ import annotations

import httpx
import pytest
import redis

from gateway.models import PredictionResponse
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]


def analyze(gateway, symbol: str) -> PredictionResponse:
    response = httpx.post(f"{gateway.url}/analyze", json={"symbol": symbol, "prediction_horizon": 7}, timeout=30.0)
    assert response.status_code == 200, response.text
    return PredictionResponse.model_validate(response.json())


def test_second_identical_request_is_served_from_redis_then_a_new_bar_invalidates(
    start_gateway, stored_symbols, redis_url, redis_prefix
):
    prefix = f"{redis_prefix}-cache"
    first, second = start_gateway(prefix=prefix), start_gateway(prefix=prefix)
    symbol = stored_symbols[2]

    computed = analyze(first, symbol)
    assert first.metric("cache_misses_total") == 1 and first.metric("cache_hits_total") == 0
    client = redis.Redis.from_url(redis_url)
    assert len(list(client.scan_iter(f"{prefix}:cache:*"))) == 1

    # another process has an empty memory: a hit there can only come from Redis
    cached = analyze(second, symbol)
    assert second.metric("cache_hits_total") == 1 and second.metric("cache_misses_total") == 0
    assert cached.timestamp == computed.timestamp and cached.predicted_price == computed.predicted_price

    bar = {"symbol": symbol, "date": "2026-01-02", "open": 20.0, "high": 21.0, "low": 19.0, "close": 20.5,
           "volume": 5000.0}
    posted = httpx.post(f"{first.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200 and posted.json() == {"stored": 1, "duplicates": 0, "symbols": [symbol]}

    fresh = analyze(second, symbol)
    assert second.metric("cache_misses_total") == 1
    assert fresh.current_price == 20.5 and fresh.timestamp > computed.timestamp
    assert len(list(client.scan_iter(f"{prefix}:cache:*"))) == 2
    client.close()


def test_without_redis_the_cache_is_in_process(start_gateway, stored_symbols):
    gateway = start_gateway(REDIS_URL="")
    first, again = analyze(gateway, stored_symbols[0]), analyze(gateway, stored_symbols[0])
    assert again.timestamp == first.timestamp
    assert gateway.metric("cache_hits_total") == 1 and gateway.metric("cache_errors_total") == 0

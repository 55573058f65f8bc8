"""Health: /health/live depends on nothing, /health/ready on Triton and the store, none is rate limited;
GET /health keeps the report of the seed guide."""

from __future__ import annotations

import httpx
import pytest

pytestmark = [pytest.mark.redis]
TIGHT_LIMITS = {"WIG80_RATE_LIMIT_PER_MINUTE": "2", "WIG80_RATE_LIMIT_BURST_PER_SECOND": "2"}


def test_health_is_never_rate_limited(start_gateway_without_triton):
    gateway = start_gateway_without_triton(**TIGHT_LIMITS)
    with httpx.Client(timeout=30.0) as client:
        statuses = [client.get(f"{gateway.url}{path}").status_code
                    for path in ("/health", "/health/live", "/health/ready") for _ in range(3)]
        assert [client.get(f"{gateway.url}/symbols").status_code for _ in range(3)] == [200, 200, 429]
    assert statuses == [200] * 3 + [200] * 3 + [503] * 3  # not ready: nothing listens at its Triton address


def test_without_triton_the_process_is_live_but_not_ready(start_gateway_without_triton):
    gateway = start_gateway_without_triton()
    assert httpx.get(f"{gateway.url}/health/live", timeout=30.0).json() == {"status": "alive"}
    ready = httpx.get(f"{gateway.url}/health/ready", timeout=30.0)
    assert ready.status_code == 503
    body = ready.json()
    assert body["model_loaded"] is False and body["database_connected"] is True
    assert body["detail"] == "unavailable: Triton model"
    report = httpx.get(f"{gateway.url}/health", timeout=30.0)
    assert report.status_code == 200 and report.json()["status"] == "degraded"


@pytest.mark.triton
def test_with_triton_and_the_store_the_gateway_is_ready(gateway):
    ready = httpx.get(f"{gateway.url}/health/ready", timeout=30.0)
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "model_loaded": True, "database_connected": True}
    report = httpx.get(f"{gateway.url}/health", timeout=30.0).json()
    assert report["status"] == "healthy" and report["model_loaded"] and report["database_connected"]

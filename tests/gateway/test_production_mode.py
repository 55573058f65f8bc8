"""WIG80_ENVIRONMENT=production: no internal address in an error body, /docs switched off unless asked."""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.redaction import INTERNAL, without_addresses

pytestmark = [pytest.mark.redis]
# production's other demands met (secrets; an in-process cache: the test Redis has no password). No
# WIG80_TRITON_ADMIN_KEY: the gateway never controls Triton's models, so it runs without the key
PRODUCTION = {
    "WIG80_ENVIRONMENT": "production", "WIG80_WORKLOAD": "gateway",
    "WIG80_API_KEY": "a-production-api-key-of-32-chars",
    "WIG80_POCKETBASE_READER_PASSWORD": "a-pocketbase-reader-password-32c", "REDIS_URL": "",
}
ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+|:\d{2,5}\b")


def test_a_triton_failure_names_no_internal_address_in_production(start_gateway_without_triton, stored_symbols):
    gateway = start_gateway_without_triton(**PRODUCTION)
    response = httpx.post(f"{gateway.url}/analyze", json={"symbol": stored_symbols[0]}, timeout=60.0)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "Triton" in detail and INTERNAL in detail  # still a reason, without the address
    assert not ADDRESS.search(detail), detail


def test_in_development_the_address_is_shown(start_gateway_without_triton, stored_symbols):
    gateway = start_gateway_without_triton()
    response = httpx.post(f"{gateway.url}/analyze", json={"symbol": stored_symbols[0]}, timeout=60.0)
    assert response.status_code == 503 and ADDRESS.search(response.json()["detail"])


def test_docs_are_off_in_production_unless_switched_on(start_gateway_without_triton):
    closed = start_gateway_without_triton(**PRODUCTION)
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert httpx.get(f"{closed.url}{path}", timeout=30.0).status_code == 404, path
    opened = start_gateway_without_triton(WIG80_API_DOCS="true", **PRODUCTION)
    assert httpx.get(f"{opened.url}/openapi.json", timeout=30.0).status_code == 200


@pytest.mark.parametrize(("text", "kept"), [
    ("Triton at 10.0.3.7:8001: failed to connect; ipv4:10.0.3.7:8001: refused", "failed to connect"),
    ("Triton at triton:8001: model not ready", "model not ready"),
    ("connect to [fd00::5]:5432 failed", "failed"),
    ("postgresql://admin:quest@questdb:8812/qdb: password authentication failed", "authentication failed"),
    ("[Errno 111] Connect call failed ('127.0.0.1', 5432)", "Connect call failed"),
])
def test_redaction_removes_addresses_and_keeps_the_reason(text, kept):
    redacted = without_addresses(text)
    assert kept in redacted and INTERNAL in redacted
    assert not re.search(r"10\.0\.3\.7|triton:|fd00|questdb|quest@|127\.0\.0\.1|:8001|:5432|:8812", redacted), redacted


def test_redaction_leaves_dates_times_and_tickers_alone():
    text = "window ending 2024-01-02 10:00:00 of AB.WA: high 3.5 below low 4.0"
    assert without_addresses(text) == text

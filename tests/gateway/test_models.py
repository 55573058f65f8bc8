"""GET /models over a real gateway and PocketBase: served from records read once per served version with
the registry's read-only account (no superuser password in the gateway), and a production error that
names no internal address."""

from __future__ import annotations

import re
import time
import uuid

import httpx
import pytest

from tests.fixtures.services import free_port

pytestmark = [pytest.mark.triton, pytest.mark.redis]
REQUESTS = 20


def registry_requests(registry) -> list[dict]:
    """PocketBase's own request log, up to now (it writes the log in batches: wait for a marked request)."""
    marker = uuid.uuid4().hex
    httpx.get(f"{registry.url}/api/health", params={"marker": marker}, timeout=5.0)
    with registry.client() as admin:
        for _ in range(100):
            logs = admin._request("GET", "/api/logs", params={"perPage": 1000, "sort": "-created"})["items"]
            if any(marker in entry["data"].get("url", "") for entry in logs):
                return [entry["data"] for entry in logs]
            time.sleep(0.1)
    raise AssertionError("PocketBase did not log the marked request within 10 s")


def test_models_reads_the_registry_once_as_the_reader_not_per_request(start_gateway, registry_serving):
    """20 requests, one read of the deployments, by the reader; the gateway's (wrong) superuser password
    never tried."""
    without_superuser = {k: v for k, v in registry_serving.env.items() if "ADMIN" not in k}
    gateway = start_gateway(**without_superuser, WIG80_POCKETBASE_ADMIN_PASSWORD="not-the-registry-password")
    answers = [httpx.get(f"{gateway.url}/models", timeout=30.0) for _ in range(REQUESTS)]
    assert {response.status_code for response in answers} == {200}, answers[0].text
    assert {response.json()["active"]["version"] for response in answers} == {1}
    requests = registry_requests(registry_serving)
    reads = [r for r in requests if r.get("auth") == "registry_readers" and "/deployments/records" in r["url"]]
    assert len(reads) == 1, requests
    logins = [r for r in requests if "auth-with-password" in r["url"]]
    assert all(r["status"] == 200 for r in logins), logins  # no refused (superuser) login from the gateway
    assert 1 <= sum("/registry_readers/" in r["url"] for r in logins) <= 2  # /models, the analogue index


def test_a_registry_failure_names_no_internal_address_in_production(start_gateway):
    port = free_port()  # nothing listens there
    gateway = start_gateway(
        WIG80_ENVIRONMENT="production", WIG80_WORKLOAD="gateway", REDIS_URL="",
        WIG80_API_KEY="a-production-api-key-of-32-chars", POCKETBASE_URL=f"http://127.0.0.1:{port}",
        WIG80_POCKETBASE_READER_PASSWORD="a-reader-password-of-32-chars...")
    response = httpx.get(f"{gateway.url}/models", timeout=30.0)
    assert response.status_code == 503
    detail = response.json()["detail"]
    assert "registry is unavailable" in detail and "<internal>" in detail
    assert not re.search(rf"127\.0\.0\.1|:{port}\b", detail), detail

"""Per-client limits on Redis: the 21st request within a second is refused, and replicas share the count."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]
DEFAULT_LIMITS = {"WIG80_RATE_LIMIT_PER_MINUTE": "100", "WIG80_RATE_LIMIT_BURST_PER_SECOND": "20"}


async def burst(urls: list[str], count: int, headers: dict | None = None) -> tuple[list[httpx.Response], float]:
    """`count` concurrent GET /openapi.json spread over `urls`; the responses and the seconds they took."""
    async with httpx.AsyncClient(timeout=30.0, headers=headers) as client:
        await asyncio.gather(*(client.get(f"{url}/openapi.json") for url in urls))  # warm connections
        await asyncio.sleep(1.1)  # the warm-up requests leave the one-second window
        started = time.monotonic()
        responses = await asyncio.gather(*(client.get(f"{urls[i % len(urls)]}/openapi.json") for i in range(count)))
        return list(responses), time.monotonic() - started


def assert_refusals_carry_headers(responses: list[httpx.Response]) -> None:
    refused = [r for r in responses if r.status_code == 429]
    assert refused, "no request was refused"
    for response in refused:
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers["X-RateLimit-Limit"] == "20"
        assert response.headers["X-RateLimit-Remaining"] == "0"
        assert "20 requests per second" in response.json()["detail"]


async def test_the_21st_request_within_a_second_is_refused(start_gateway):
    gateway = start_gateway(**DEFAULT_LIMITS)
    responses, seconds = await burst([gateway.url], 21)
    assert_refusals_carry_headers(responses)
    if seconds < 1.0:  # all 21 inside one window: exactly the 21st is refused
        assert sum(r.status_code == 200 for r in responses) == 20
    assert gateway.metric("rate_limited_requests_total") >= 1


async def test_two_gateway_processes_share_the_count_through_redis(start_gateway):
    first, second = start_gateway(**DEFAULT_LIMITS), start_gateway(**DEFAULT_LIMITS)
    # 15 requests each: either process alone would let all of them through
    responses, seconds = await burst([first.url, second.url], 30)
    assert_refusals_carry_headers(responses)
    if seconds < 1.0:
        assert sum(r.status_code == 200 for r in responses) == 20
    assert first.metric("rate_limited_requests_total") + second.metric("rate_limited_requests_total") >= 1


async def test_a_client_with_the_api_key_has_its_own_quota(start_gateway):
    gateway = start_gateway(**DEFAULT_LIMITS)
    anonymous, _ = await burst([gateway.url], 25)
    assert_refusals_carry_headers(anonymous)
    async with httpx.AsyncClient(timeout=30.0) as client:
        keyed = await client.get(f"{gateway.url}/openapi.json", headers={"X-API-Key": API_KEY})
    assert keyed.status_code == 200
    assert int(keyed.headers["X-RateLimit-Remaining"]) == 99


async def test_the_minute_quota_is_enforced(start_gateway):
    gateway = start_gateway(WIG80_RATE_LIMIT_PER_MINUTE="10", WIG80_RATE_LIMIT_BURST_PER_SECOND="20")
    async with httpx.AsyncClient(timeout=30.0) as client:
        statuses = [(await client.get(f"{gateway.url}/openapi.json")).status_code for _ in range(11)]
        refused = await client.get(f"{gateway.url}/openapi.json")
    assert statuses[:10] == [200] * 10 and statuses[10] == 429
    assert "per minute" in refused.json()["detail"] and int(refused.headers["Retry-After"]) >= 1


async def paced_bursts(urls: list[str], bursts: int, size: int) -> list[httpx.Response]:
    """`bursts` bursts of `size` concurrent requests spread over `urls`, each in a second of its own (the
    next one starts a second after the last answer of the one before)."""
    responses: list[httpx.Response] = []
    async with httpx.AsyncClient(timeout=30.0) as client:
        for burst_index in range(bursts):
            responses += await asyncio.gather(*(client.get(f"{urls[(burst_index + i) % len(urls)]}/openapi.json")
                                                for i in range(size)))
            await asyncio.sleep(1.05)
    return responses


async def test_two_replicas_admit_exactly_100_a_minute_at_20_a_second(start_gateway):
    first, second = start_gateway(**DEFAULT_LIMITS), start_gateway(**DEFAULT_LIMITS)
    responses = await paced_bursts([first.url, second.url], bursts=6, size=18)  # 108 in ~6 s, <= 18 a second
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 100 and statuses.count(429) == 8
    assert all("100 requests per minute" in r.json()["detail"] for r in responses if r.status_code == 429)


async def test_advances_never_admit_more_than_the_limit_and_come_back_unspent(start_gateway):
    # limits far above the load: each replica reserves advances (1/32 of what remains) and spends them locally
    limits = {"WIG80_RATE_LIMIT_PER_MINUTE": "300", "WIG80_RATE_LIMIT_BURST_PER_SECOND": "1000"}
    first, second = start_gateway(**limits), start_gateway(**limits)
    urls = [first.url, second.url]
    async with httpx.AsyncClient(timeout=30.0) as client:
        flood = await asyncio.gather(*(client.get(f"{urls[i % 2]}/openapi.json") for i in range(400)))
        admitted = sum(r.status_code == 200 for r in flood)
        assert 300 - 2 * 256 <= admitted <= 300
        await asyncio.sleep(1.0)  # every advance's lease has ended: what was not spent is back in Redis
        for i in range(300 - admitted):
            assert (await client.get(f"{urls[i % 2]}/openapi.json")).status_code == 200
        assert (await client.get(f"{first.url}/openapi.json")).status_code == 429
        assert (await client.get(f"{second.url}/openapi.json")).status_code == 429

"""Who a client is: X-Forwarded-For believed only from configured proxies, IPv6 keyed by /64, the API key
compared in constant time; and what it is charged: a batch one request per symbol."""

from __future__ import annotations

import httpx
import pytest

from gateway.client_identity import ClientIdentity


def scope(peer: str, forwarded: str | None = None, api_key: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    if api_key is not None:
        headers.append((b"x-api-key", api_key.encode()))
    return {"type": "http", "client": (peer, 50000), "headers": headers}


def test_forwarded_for_from_an_unconfigured_peer_is_ignored():
    identity = ClientIdentity([], None)
    assert identity.address(scope("203.0.113.9", "198.51.100.1")) == "203.0.113.9"


def test_forwarded_for_from_a_trusted_proxy_names_the_client():
    identity = ClientIdentity(["10.0.0.0/8"], None)
    assert identity.address(scope("10.0.0.5", "198.51.100.1")) == "198.51.100.1"


def test_a_client_cannot_spoof_past_the_proxy_by_prepending():
    identity = ClientIdentity(["10.0.0.5"], None)
    # the client sent "X-Forwarded-For: 1.2.3.4"; our proxy appended the address it saw
    assert identity.address(scope("10.0.0.5", "1.2.3.4, 198.51.100.1")) == "198.51.100.1"
    # a chain of trusted proxies is skipped from the right
    chained = ClientIdentity(["10.0.0.0/8"], None)
    assert chained.address(scope("10.0.0.5", "198.51.100.1, 10.0.0.7")) == "198.51.100.1"


def test_an_unparseable_forwarded_entry_stops_the_walk_at_the_proxy():
    identity = ClientIdentity(["10.0.0.5"], None)
    assert identity.address(scope("10.0.0.5", "not-an-address")) == "10.0.0.5"


def test_ipv6_clients_in_one_64_share_a_key_and_other_64s_do_not():
    identity = ClientIdentity([], None)
    first = identity.address(scope("2001:db8:1:2::1"))
    assert first == identity.address(scope("2001:db8:1:2:ffff:eeee:dddd:cccc")) == "2001:db8:1:2::/64"
    assert identity.address(scope("2001:db8:1:3::1")) != first
    assert identity.address(scope("::ffff:192.0.2.7")) == "192.0.2.7"  # IPv4-mapped: the IPv4 client


def test_only_the_configured_api_key_buys_a_key_identity():
    identity = ClientIdentity([], "secret-key")
    assert identity.key(scope("192.0.2.7", api_key="secret-key")).startswith("key:")
    assert identity.key(scope("192.0.2.7", api_key="secret-kez")) == "addr:192.0.2.7"
    assert identity.key(scope("192.0.2.7")) == "addr:192.0.2.7"


LIMITS = {"WIG80_RATE_LIMIT_PER_MINUTE": "3", "WIG80_RATE_LIMIT_BURST_PER_SECOND": "100"}


def spoofed_gets(url: str, count: int) -> list[int]:
    with httpx.Client(timeout=30.0) as client:
        return [client.get(f"{url}/symbols", headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(count)]


@pytest.mark.redis
def test_a_client_inventing_forwarded_addresses_shares_one_quota(start_gateway_without_triton):
    gateway = start_gateway_without_triton(**LIMITS)
    assert spoofed_gets(gateway.url, 4) == [200, 200, 200, 429]


@pytest.mark.redis
def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_quota(start_gateway_without_triton):
    gateway = start_gateway_without_triton(WIG80_TRUSTED_PROXIES="127.0.0.1", **LIMITS)
    assert spoofed_gets(gateway.url, 4) == [200] * 4


@pytest.mark.redis
def test_a_batch_is_charged_one_request_per_symbol(start_gateway_without_triton, stored_symbols):
    gateway = start_gateway_without_triton(WIG80_RATE_LIMIT_PER_MINUTE="5", WIG80_RATE_LIMIT_BURST_PER_SECOND="100")
    body = {"symbols": stored_symbols[:4] + ["ABE", "ACG"], "timeframe": "1d", "prediction_horizon": 5}
    refused = httpx.post(f"{gateway.url}/batch_analyze", json=body, timeout=30.0)
    assert refused.status_code == 429, refused.text
    assert "one request per symbol (6)" in refused.json()["detail"]
    assert int(refused.headers["Retry-After"]) >= 1
    # the refused extra was not charged: 4 of the 5 remain, enough for a batch of 3 (1 + 2)
    small = httpx.post(f"{gateway.url}/batch_analyze", json=body | {"symbols": stored_symbols[:3]}, timeout=30.0)
    assert small.status_code != 429, small.text
    assert httpx.get(f"{gateway.url}/symbols", timeout=30.0).status_code == 200  # the 5th request
    assert httpx.get(f"{gateway.url}/symbols", timeout=30.0).status_code == 429

"""Who a client is, for rate limits and connection caps: its API key, else its network address.

The address is the TCP peer's, unless the peer is a configured proxy: then X-Forwarded-For is read
from the right, skipping the trusted proxies, and the first other address is the client (a client can
prepend anything to the header, but not what our own proxies append). An IPv6 client is keyed by its
/64, the smallest block one subscriber gets, so cycling addresses inside it buys no extra quota.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

API_KEY_HEADER = b"x-api-key"
FORWARDED_FOR_HEADER = b"x-forwarded-for"
IPV6_CLIENT_PREFIX = 64
PEERS_REMEMBERED = 4096

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _parse_address(text: str) -> IPAddress | None:
    text = text.strip().strip('"')
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:51000"
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def address_key(address: IPAddress) -> str:
    """The rate-limit key of one address: an IPv4 address itself, an IPv6 address's /64."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False))
    return str(address)


def _header(scope: Scope, name: bytes) -> str | None:
    values = [value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == name]
    return ",".join(values) if values else None


class ClientIdentity:
    def __init__(self, trusted_proxies: Iterable[str], api_key: str | None) -> None:
        self.proxies = [ipaddress.ip_network(proxy, strict=False) for proxy in trusted_proxies]
        self.api_key = api_key
        self._api_key_id = "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16] if api_key else None
        # a peer's own key (and whether it is a proxy) is worked out once per address, not per request
        self._peer = functools.lru_cache(maxsize=PEERS_REMEMBERED)(self._peer_uncached)

    def _trusted(self, address: IPAddress | None) -> bool:
        return address is not None and any(address in network for network in self.proxies)

    def _peer_uncached(self, peer: str | None) -> tuple[str, bool]:
        """(the peer's address key, whether it is a trusted proxy)."""
        address = _parse_address(peer) if peer is not None else None
        return (address_key(address) if address is not None else "unknown"), self._trusted(address)

    def address_from(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address key (see the module docstring); "unknown" when there is no peer."""
        own, trusted = self._peer(peer)
        if trusted:
            hops = [_parse_address(hop) for hop in (forwarded_for or "").split(",")]
            for hop in reversed(hops):
                if hop is None:
                    break  # an unparseable entry: believe no one further left
                if not self._trusted(hop):
                    return address_key(hop)
        return own

    def key_from(self, peer: str | None, sent_key: str | None, forwarded_for: str | None) -> str:
        """The rate-limit key: the API key's hash when the configured key is sent, else the address key."""
        if self.api_key and sent_key is not None and hmac.compare_digest(sent_key.encode(), self.api_key.encode()):
            return self._api_key_id
        return "addr:" + self.address_from(peer, forwarded_for)

    def address(self, scope: Scope) -> str:
        client = scope.get("client")
        return self.address_from(client[0] if client else None, _header(scope, FORWARDED_FOR_HEADER))

    def key(self, scope: Scope) -> str:
        client = scope.get("client")
        return self.key_from(client[0] if client else None, _header(scope, API_KEY_HEADER),
                             _header(scope, FORWARDED_FOR_HEADER))

"""What an error may tell an outside client in production: the reason, never an internal address.

Triton's and the drivers' messages name hosts and ports ("Triton at 10.0.3.7:8001: ..."); in
production those are replaced by "<internal>" before the message leaves the gateway (the full
message is logged).
"""

from __future__ import annotations

import ipaddress
import re

INTERNAL = "<internal>"
_URL_OR_HOST = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"  # any URL
    r"|\[[0-9a-f:.%a-z]+\](?::\d+)?"  # [IPv6]:port
    r"|\b(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?\b"  # IPv4[:port]
    r"|\blocalhost(?::\d+)?\b"
    r"|\b[a-z][a-z0-9-]*(?:\.[a-z0-9-]+)*:\d{1,5}\b(?!\.)",  # host[.name]:port
    re.IGNORECASE,
)
_IPV6_CANDIDATE = re.compile(r"(?<![\w:])[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}(?![\w:])", re.IGNORECASE)


def _ipv6_or_text(match: re.Match) -> str:
    try:
        ipaddress.IPv6Address(match.group())
    except ValueError:
        return match.group()  # e.g. a time of day "10:00:00"
    return INTERNAL


def without_addresses(text: str) -> str:
    return _IPV6_CANDIDATE.sub(_ipv6_or_text, _URL_OR_HOST.sub(INTERNAL, text))

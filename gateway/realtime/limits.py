"""What one WebSocket client may hold: connections per address and per process, a subscription budget, messages
per second, and its slot only while it is not idle.

A subscription costs len(symbols) / update_frequency pushes a second; the budget bounds that, so a
client cannot ask for a hundred symbols every second. Connection slots are per process (each replica
caps its own sockets; the rate limiter, shared through Redis, counts connects across replicas).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from limits import RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from settings import Settings


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int = 1000
    max_per_client: int = 8
    max_symbol_updates_per_second: float = 5.0
    idle_timeout_s: float = 300.0  # nothing received and nothing pushed for this long: closed

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            settings.websocket_max_connections,
            settings.websocket_max_connections_per_client,
            settings.websocket_max_symbol_updates_per_second,
            settings.websocket_idle_timeout_s,
        )

    def subscription_refusal(self, symbols: int, update_frequency: float) -> str | None:
        """Why a subscription is over budget, or None when it is within."""
        rate = symbols / update_frequency
        if rate <= self.max_symbol_updates_per_second:
            return None
        least = symbols / self.max_symbol_updates_per_second
        return (
            f"subscription over budget: {symbols} symbols every {update_frequency:g} s is {rate:.3g} updates/s, "
            f"at most {self.max_symbol_updates_per_second:g}: set update_frequency >= {least:.3g} or subscribe fewer"
        )


class ConnectionSlots:
    """Open connections counted per client address and in all."""

    def __init__(self, limits: ConnectionLimits) -> None:
        self.limits = limits
        self._per_client: Counter[str] = Counter()

    def __len__(self) -> int:
        return sum(self._per_client.values())

    def take(self, client: str) -> str | None:
        """Take a slot for `client`; the reason for refusing when it or the process is at its cap."""
        if len(self) >= self.limits.max_connections:
            return f"too many connections to this gateway (at most {self.limits.max_connections}); retry later"
        if self._per_client[client] >= self.limits.max_per_client:
            return f"too many connections from your address (at most {self.limits.max_per_client})"
        self._per_client[client] += 1
        return None

    def release(self, client: str) -> None:
        self._per_client[client] -= 1
        if self._per_client[client] <= 0:
            del self._per_client[client]


class MessageRateLimiter:
    """At most `per_second` WebSocket messages per second per client (in-process), keyed by the client's
    identity rather than the connection, so reconnecting does not reset the count."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._item = RateLimitItemPerSecond(per_second)

    async def allow(self, client: str) -> bool:
        return await self._limiter.hit(self._item, client)

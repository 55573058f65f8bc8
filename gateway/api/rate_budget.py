"""Where the rate limiter's counts live: Redis (shared by every replica) or this process's memory.

A client's budget per scope (second, minute) is a moving window of grants. `reserve` takes `need` requests
and, while the client is far from every limit, up to `fraction` of what remains beyond them (an advance
that the asking replica spends locally without asking again), in one atomic step over all scopes; the
grant counts in every window from now until its lease ends (`lease_s`), so a request served from the
advance is never outside the window that counted it. `release` gives an advance's unspent part back.

On Redis both are one Lua script each (Redis's clock, so replicas agree on time): a grant is a sorted-set
member "<id>:<count>" scored by the time its lease ends; the window's count is the sum of its members'
counts whose score is inside the window, kept as a running total beside the set (a request costs the
grants that left the window since the last one, not a pass over the whole window).
"""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass

import redis.asyncio as aioredis

REDIS_TIMEOUT_S = 0.5
SWEEP_EVERY = 4096  # reservations between two sweeps of the in-memory budget's idle clients


@dataclass(frozen=True)
class Scope:
    name: str  # "second", "minute": in refusals and metrics
    limit: int
    window_s: float


@dataclass(frozen=True)
class Grant:
    """`granted` requests (0: refused); `remaining` and `reset_epoch` per scope as the store saw them after
    the grant; `refused_by`: the first scope without room for `need`."""

    granted: int
    remaining: tuple[int, ...]
    reset_epoch: tuple[float, ...]
    refused_by: int | None = None


_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local need, fraction, max_advance, lease, id = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), ARGV[5]
local room, used, resets, refused = nil, {}, {}, 0
for i = 1, #KEYS do
  local limit, window = tonumber(ARGV[4 + 2 * i]), tonumber(ARGV[5 + 2 * i])
  local total = KEYS[i] .. ':total'
  local expired = redis.call('ZRANGEBYSCORE', KEYS[i], '-inf', now - window)
  if #expired > 0 then
    local gone = 0
    for j = 1, #expired do gone = gone + tonumber(string.match(expired[j], ':(%d+)$')) end
    redis.call('DECRBY', total, gone)
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  end
  local sum = tonumber(redis.call('GET', total) or '0')
  local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
  used[i] = sum
  resets[i] = tostring((oldest[2] and tonumber(oldest[2]) or now) + window)
  if refused == 0 and limit - sum < need then refused = i end
  if room == nil or limit - sum < room then room = limit - sum end
end
local granted = 0
if refused == 0 then
  granted = need + math.min(max_advance, math.floor((room - need) * fraction))
  local score = now
  if granted > need then score = now + lease end
  for i = 1, #KEYS do
    local expiry = math.ceil((tonumber(ARGV[5 + 2 * i]) + lease) * 1000)
    redis.call('ZADD', KEYS[i], score, id .. ':' .. granted)
    redis.call('INCRBY', KEYS[i] .. ':total', granted)
    redis.call('PEXPIRE', KEYS[i], expiry)
    redis.call('PEXPIRE', KEYS[i] .. ':total', expiry)
  end
end
local remaining = {}
for i = 1, #KEYS do remaining[i] = tonumber(ARGV[4 + 2 * i]) - used[i] - granted end
return {granted, refused, remaining, resets}
"""

_RELEASE = """
for i = 1, #KEYS do
  local score = redis.call('ZSCORE', KEYS[i], ARGV[1] .. ':' .. ARGV[2])
  if score then
    redis.call('ZREM', KEYS[i], ARGV[1] .. ':' .. ARGV[2])
    redis.call('DECRBY', KEYS[i] .. ':total', tonumber(ARGV[2]) - tonumber(ARGV[3]))
    if tonumber(ARGV[3]) > 0 then redis.call('ZADD', KEYS[i], score, ARGV[1] .. ':' .. ARGV[3]) end
  end
end
return 0
"""


class RedisBudget:
    def __init__(self, redis_url: str, key_prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(redis_url, socket_timeout=REDIS_TIMEOUT_S,
                                              socket_connect_timeout=REDIS_TIMEOUT_S)
        self._prefix = f"{key_prefix}:limits"
        self._reserve = self._redis.register_script(_RESERVE)
        self._release = self._redis.register_script(_RELEASE)

    def _keys(self, client: str, scopes: tuple[Scope, ...]) -> list[str]:
        return [f"{self._prefix}:{scope.name}:{client}" for scope in scopes]

    async def reserve(self, client: str, scopes: tuple[Scope, ...], need: int, fraction: float, max_advance: int,
                      lease_s: float, grant_id: str) -> Grant:
        args: list = [need, fraction, max_advance, lease_s, grant_id]
        for scope in scopes:
            args += [scope.limit, scope.window_s]
        granted, refused, remaining, resets = await self._reserve(keys=self._keys(client, scopes), args=args)
        return Grant(int(granted), tuple(int(r) for r in remaining), tuple(float(r) for r in resets),
                     int(refused) - 1 if refused else None)

    async def release(self, client: str, scopes: tuple[Scope, ...], grant_id: str, granted: int, spent: int) -> None:
        await self._release(keys=self._keys(client, scopes), args=[grant_id, granted, spent])


class MemoryBudget:
    """The same windows in this process (no REDIS_URL: one replica, nothing to share)."""

    def __init__(self) -> None:
        self._windows: dict[tuple[str, str], Window] = {}
        self._reserves = 0

    def _sweep(self, now: float, scopes: tuple[Scope, ...]) -> None:
        """Forget the clients whose grants have all left their windows (every SWEEP_EVERY reservations)."""
        spans = {scope.name: scope.window_s for scope in scopes}
        for key, window in list(self._windows.items()):
            window.expire(now - spans.get(key[0], max(spans.values())))
            if not window.grants:
                del self._windows[key]

    def _window(self, client: str, scope: Scope, now: float) -> Window:
        window = self._windows.get((scope.name, client))
        if window is None:
            window = self._windows[(scope.name, client)] = Window()
        window.expire(now - scope.window_s)
        return window

    async def reserve(self, client: str, scopes: tuple[Scope, ...], need: int, fraction: float, max_advance: int,
                      lease_s: float, grant_id: str) -> Grant:
        now = time.time()
        self._reserves += 1
        if self._reserves % SWEEP_EVERY == 0:
            self._sweep(now, scopes)
        windows = [self._window(client, scope, now) for scope in scopes]
        resets = tuple(window.oldest(now) + scope.window_s for window, scope in zip(windows, scopes, strict=True))
        rooms = [scope.limit - window.total for scope, window in zip(scopes, windows, strict=True)]
        refused = next((i for i, room in enumerate(rooms) if room < need), None)
        granted = 0
        if refused is None:
            granted = need + min(max_advance, int((min(rooms) - need) * fraction))
            end = now + lease_s if granted > need else now
            for window in windows:
                window.add(end, grant_id, granted)
        for scope, window in zip(scopes, windows, strict=True):
            if window.total == 0 and not window.grants:
                del self._windows[(scope.name, client)]
        return Grant(granted, tuple(room - granted for room in rooms), resets, refused)

    async def release(self, client: str, scopes: tuple[Scope, ...], grant_id: str, granted: int, spent: int) -> None:
        for scope in scopes:
            if (window := self._windows.get((scope.name, client))) is not None:
                window.reduce(grant_id, spent)


class Window:
    """One client's grants in one scope, ordered by when their leases end, and their running total."""

    __slots__ = ("grants", "total")

    def __init__(self) -> None:
        self.grants: list[list] = []  # [lease end, id, count]
        self.total = 0

    def expire(self, before: float) -> None:
        gone = bisect.bisect_right(self.grants, before, key=lambda grant: grant[0])
        if gone:
            self.total -= sum(grant[2] for grant in self.grants[:gone])
            del self.grants[:gone]

    def oldest(self, now: float) -> float:
        return self.grants[0][0] if self.grants else now

    def add(self, end: float, grant_id: str, count: int) -> None:
        bisect.insort(self.grants, [end, grant_id, count], key=lambda grant: grant[0])
        self.total += count

    def reduce(self, grant_id: str, count: int) -> None:
        for grant in self.grants:
            if grant[1] == grant_id:
                self.total -= grant[2] - count
                grant[2] = count

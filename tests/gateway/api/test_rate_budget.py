"""The rate limiter's budgets, on real Redis and in memory alike: grants never pass a limit, advances are
taken only far from every limit, and what an advance did not spend comes back."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from gateway.api.rate_budget import MemoryBudget, RedisBudget, Scope
from gateway.api.rate_limit import ADVANCE_LEASE_S, RateLimiter

pytestmark = [pytest.mark.redis]
BURST_AND_MINUTE = (Scope("second", 20, 1.0), Scope("minute", 100, 60.0))
WIDE = (Scope("second", 10_000, 1.0), Scope("minute", 10_000, 60.0))


@pytest.fixture(params=["redis", "memory"])
def budget(request, redis_prefix):
    if request.param == "memory":
        return MemoryBudget()
    return RedisBudget(request.getfixturevalue("redis_url"), redis_prefix)


def client() -> str:
    return f"addr:{uuid.uuid4().hex[:8]}"


async def test_one_at_a_time_the_21st_is_refused_by_the_second(budget):
    who = client()
    grants = [await budget.reserve(who, BURST_AND_MINUTE, 1, 1 / 32, 256, 0.25, f"g{i}") for i in range(21)]
    assert [g.granted for g in grants] == [1] * 20 + [0]  # 19 / 32 < 1: no advance near a limit of 20
    assert grants[19].remaining == (0, 80) and grants[20].refused_by == 0


async def test_an_advance_is_a_share_of_the_room_and_comes_back_unspent(budget):
    who = client()
    first = await budget.reserve(who, WIDE, 1, 1 / 32, 256, 0.25, "first")
    assert first.granted == 1 + min(256, (10_000 - 1) // 32)
    assert first.remaining == (10_000 - first.granted,) * 2
    await budget.release(who, WIDE, "first", first.granted, 3)
    after = await budget.reserve(who, WIDE, 1, 0.0, 256, 0.25, "after")
    assert after.granted == 1 and after.remaining == (10_000 - 3 - 1,) * 2


async def test_a_refusal_names_the_first_scope_without_room(budget):
    who = client()
    minute_only = BURST_AND_MINUTE[1:]
    assert (await budget.reserve(who, minute_only, 99, 0.0, 256, 0.25, "batch")).granted == 99
    refused = await budget.reserve(who, BURST_AND_MINUTE, 2, 1 / 32, 256, 0.25, "two")
    assert refused.granted == 0 and refused.refused_by == 1 and refused.remaining == (20, 1)


async def test_the_limiter_spends_its_advance_locally_and_returns_the_rest(budget):
    limiter = RateLimiter(budget, per_minute=10_000, burst_per_second=10_000)
    who = client()
    decisions = [await limiter.check(who) for _ in range(50)]
    assert all(d.allowed for d in decisions)
    assert [d.remaining for d in decisions] == list(range(9_999, 9_949, -1))  # as if each had asked the store
    assert limiter.check_local(who) is not None  # still inside the advance: no store asked
    await asyncio.sleep(ADVANCE_LEASE_S + 0.2)  # the lease ends: 51 spent, the rest given back
    probe = await budget.reserve(who, WIDE, 1, 0.0, 256, 0.25, "probe")
    assert probe.remaining == (10_000 - 51 - 1,) * 2


async def test_memory_forgets_clients_whose_grants_left_their_windows(monkeypatch):
    monkeypatch.setattr("gateway.api.rate_budget.SWEEP_EVERY", 3)
    budget = MemoryBudget()
    short = (Scope("second", 5, 0.05),)
    await budget.reserve("gone", short, 1, 0.0, 256, 0.0, "a")
    await asyncio.sleep(0.1)
    await budget.reserve("here", short, 1, 0.0, 256, 0.0, "b")
    await budget.reserve("here", short, 1, 0.0, 256, 0.0, "c")  # the third: a sweep
    assert ("second", "gone") not in budget._windows and ("second", "here") in budget._windows

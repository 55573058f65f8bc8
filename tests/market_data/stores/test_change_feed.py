"""The change feed, on every store: a change per written symbol, numbered in commit order, in the bars'
transaction; wake-ups that may be missed without losing an update; backfills and corrections show."""

import asyncio
import datetime

import numpy as np
import pytest

from market_data.bars import BarSeries
from market_data.stores import AppendResult
from market_data.synthetic import synthesize
from tests.market_data.conftest import twin_of


@pytest.fixture(scope="module")
def market() -> list[BarSeries]:
    return synthesize(3, 300, seed=5)


def part(series: BarSeries, rows: slice | np.ndarray) -> BarSeries:
    return BarSeries(series.symbol, series.dates[rows], series.ohlcv[rows])


async def test_each_write_records_one_change_per_symbol_it_stored_bars_of(any_store, market):
    assert await any_store.latest_change() == 0 and await any_store.changes_since(0) == []
    first = await any_store.append_many([part(s, slice(0, 200)) for s in market])
    assert [c.change for c in first.changes] == [1, 2, 3] and first.change == 3
    assert [c.symbol for c in first.changes] == sorted(s.symbol for s in market)
    for change, series in zip(first.changes, sorted(market, key=lambda s: s.symbol), strict=True):
        assert (change.kind, change.rows) == ("bars", 200)
        assert change.first_date == series.dates[0].item() and change.last_date == series.dates[199].item()
    again = await any_store.append(part(market[0], slice(0, 200)))  # duplicates only: nothing changed
    assert again == AppendResult(0, 200) and again.changes == ()
    topped = await any_store.append(part(market[1], slice(150, 210)))
    assert [(c.change, c.symbol, c.rows, c.first_date) for c in topped.changes] == [
        (4, market[1].symbol, 10, market[1].dates[200].item())]
    assert await any_store.latest_change() == 4
    assert await any_store.changes_since(0) == [*first.changes, *topped.changes]
    assert await any_store.changes_since(3) == list(topped.changes)
    assert [c.change for c in await any_store.changes_since(1, limit=1)] == [2]


async def test_a_backfilled_bar_before_the_last_date_is_a_change(any_store, market):
    series = market[2]
    holey = np.ones(len(series), dtype=bool)
    holey[100] = False
    await any_store.append(part(series, holey))
    (change,) = (await any_store.append(part(series, slice(100, 101)))).changes
    assert change.first_date == series.dates[100].item() and change.last_date == series.dates[-1].item()
    assert change.change == await any_store.latest_change() == 2


async def test_a_failed_write_records_no_change(any_store, market):
    broken = BarSeries(["ABE"], market[1].dates[:5], market[1].ohlcv[:5])  # no driver can bind this symbol
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type differs per store
        await any_store.append_many([market[0], broken])
    assert await any_store.latest_change() == 0 and await any_store.changes_since(0) == []


async def test_concurrent_writers_number_changes_in_commit_order_and_a_follower_sees_every_one(any_store, market):
    other = twin_of(any_store)
    days = [part(s, slice(i, i + 1)) for i in range(40) for s in market[:2]]
    seen: list[int] = []

    async def follow() -> None:
        last = 0
        while len(seen) < len(days):
            for change in await any_store.changes_since(last):
                seen.append(change.change)
                last = change.change
            await asyncio.sleep(0)

    follower = asyncio.create_task(follow())
    try:
        writes = [(any_store if i % 2 else other).append(day) for i, day in enumerate(days)]
        results = await asyncio.gather(*writes)
        await asyncio.wait_for(follower, 30)
    finally:
        follower.cancel()
        await other.close()
    assert seen == list(range(1, len(days) + 1))  # in order, none skipped
    assert sorted(r.change for r in results) == seen


async def test_a_wakeup_comes_from_another_writer_and_a_quiet_wait_times_out(any_store, market):
    writer = twin_of(any_store)
    try:
        async with any_store.change_wakeups() as wakeups:
            await wakeups.wait(0.05)  # the first wait may answer True (listening began: catch up)
            assert await wakeups.wait(0.3) is False
            waiting = asyncio.create_task(wakeups.wait(10.0))
            await asyncio.sleep(0.1)
            await writer.append(part(market[0], slice(0, 5)))
            assert await asyncio.wait_for(waiting, 10.0) is True
            await any_store.append(part(market[0], slice(5, 10)))  # this process's own write wakes too
            assert await wakeups.wait(10.0) is True
    finally:
        await writer.close()


@pytest.mark.postgres
async def test_a_lost_listener_reconnects_and_says_so(postgres_url, tmp_path, market):
    import uuid

    import asyncpg

    from market_data.stores.postgres import PostgresBarStore

    store = PostgresBarStore(f"{postgres_url}?table=wig80_feed_{uuid.uuid4().hex[:10]}")
    try:
        await store.ping()
        async with store.change_wakeups() as wakeups:
            await wakeups.wait(0.05)
            pid = wakeups._connection.get_server_pid()
            admin = await asyncpg.connect(postgres_url)
            await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
            await admin.close()
            assert await wakeups.wait(5.0) is True  # the loss woke it
            assert await wakeups.wait(5.0) is True  # listening again: catch up, changes may have been missed
            assert wakeups._connection.get_server_pid() != pid
            await store.append(part(market[0], slice(0, 3)))
            assert await wakeups.wait(5.0) is True
    finally:
        await store.drop_table()
        await store.close()


async def test_dates_in_changes_are_dates(any_store, market):
    (change,) = (await any_store.append(part(market[0], slice(0, 3)))).changes
    assert type(change.first_date) is datetime.date and change.changed_at.tzinfo is not None

"""The BarStore contract, run against every store: the embedded SQLite file and PostgreSQL."""

import datetime

import numpy as np
import pytest

from market_data.bars import BarSeries
from market_data.stores import AppendResult, SymbolSummary, open_store
from market_data.synthetic import synthesize


@pytest.fixture(scope="module")
def market() -> list[BarSeries]:
    return synthesize(3, 400, seed=3)


def head(series: BarSeries, n: int) -> BarSeries:
    return BarSeries(series.symbol, series.dates[:n], series.ohlcv[:n])


async def test_append_then_read_everything_back(any_store, market):
    result = await any_store.append_many(market)
    assert result == AppendResult(stored=sum(map(len, market)), duplicates=0)
    for series in market:
        back = await any_store.read_range(series.symbol)
        assert np.array_equal(back.dates, series.dates)
        assert np.array_equal(back.ohlcv, series.ohlcv)


async def test_append_is_idempotent_and_never_overwrites(any_store, market):
    series = market[0]
    assert await any_store.append(head(series, 100)) == AppendResult(100, 0)
    changed = BarSeries(series.symbol, series.dates[:150], series.ohlcv[:150] * 2.0)
    assert await any_store.append(changed) == AppendResult(stored=50, duplicates=100)
    back = await any_store.read_range(series.symbol)
    assert np.array_equal(back.ohlcv[:100], series.ohlcv[:100])
    assert np.array_equal(back.ohlcv[100:], series.ohlcv[100:150] * 2.0)


async def test_last_bars_are_oldest_first(any_store, market):
    await any_store.append_many(market)
    series = market[1]
    last = await any_store.last_bars(series.symbol, 256)
    assert last.symbol == series.symbol
    assert np.array_equal(last.dates, series.dates[-256:])
    assert np.array_equal(last.ohlcv, series.ohlcv[-256:])
    assert len(await any_store.last_bars(series.symbol, 10_000)) == len(series)


async def test_unknown_symbol_gives_an_empty_series(any_store, market):
    await any_store.append(market[0])
    assert len(await any_store.last_bars("NOSUCH", 10)) == 0
    assert len(await any_store.read_range("NOSUCH")) == 0


async def test_read_range_bounds_are_inclusive_and_optional(any_store, market):
    series = market[2]
    await any_store.append(series)
    start, end = series.dates[10].item(), series.dates[20].item()
    window = await any_store.read_range(series.symbol, start, end)
    assert np.array_equal(window.dates, series.dates[10:21])
    assert np.array_equal((await any_store.read_range(series.symbol, None, end)).dates, series.dates[:21])
    assert np.array_equal((await any_store.read_range(series.symbol, start, None)).dates, series.dates[10:])


async def test_list_symbols_counts_rows_and_dates(any_store, market):
    await any_store.append_many(market)
    summary = await any_store.list_symbols()
    assert list(summary) == sorted(s.symbol for s in market)
    for series in market:
        assert summary[series.symbol] == SymbolSummary(
            len(series), series.dates[0].item(), series.dates[-1].item()
        )


async def test_append_many_is_atomic(any_store, market):
    # A fault no valid series can cause: a symbol that no driver can bind fails the write half-way.
    broken = BarSeries(["ABE"], market[1].dates[:5], market[1].ohlcv[:5])
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type differs per store
        await any_store.append_many([market[0], broken])
    assert await any_store.list_symbols() == {}


async def test_store_reopens_with_its_bars(tmp_path, market):
    from market_data.stores import open_store

    async with open_store(None, tmp_path) as store:
        await store.append(market[0])
    async with open_store(None, tmp_path) as store:
        assert (await store.list_symbols())[market[0].symbol].rows == len(market[0])
    assert (tmp_path / "data" / "bars.sqlite3").is_file()


async def test_empty_append_stores_nothing(any_store):
    assert await any_store.append(BarSeries.empty("ABE")) == AppendResult(0, 0)
    assert await any_store.list_symbols() == {}


def test_a_date_is_a_date(market):
    assert isinstance(market[0].dates[0].item(), datetime.date)



async def test_ping_answers_on_a_reachable_store(any_store, market):
    await any_store.append_many(market)
    await any_store.ping()


async def test_ping_fails_when_the_database_is_unreachable(tmp_path):
    from tests.fixtures.services import free_port

    store = open_store(f"postgresql://postgres@127.0.0.1:{free_port()}/test", tmp_path)
    with pytest.raises(OSError):
        await store.ping()
    await store.close()

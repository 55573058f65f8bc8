"""Corporate actions in every store: recorded beside the bars, applied to the stored prices atomically,
edited, re-applied and removed, each rewrite a change in the feed."""

import datetime

import numpy as np
import pytest

from market_data.bars import BarSeries
from market_data.corporate_actions import CorporateAction
from market_data.synthetic import synthesize
from tests.market_data.conftest import edit_by_hand


@pytest.fixture(scope="module")
def series() -> BarSeries:
    return synthesize(1, 120, seed=7)[0]


def split_at(series: BarSeries, row: int, ratio: float = 10.0, **fields) -> CorporateAction:
    return CorporateAction(series.symbol, series.dates[row].item(), ratio, **fields)


def divided_before(series: BarSeries, row: int, ratio: float) -> np.ndarray:
    expected = series.ohlcv.copy()
    expected[:row, :4] /= ratio
    expected[:row, 4] *= ratio
    return expected


async def test_an_action_adjusts_the_bars_before_its_date_and_is_a_change(any_store, series):
    await any_store.append(series)
    (change,) = await any_store.put_actions([split_at(series, 60)])
    back = await any_store.read_range(series.symbol)
    np.testing.assert_allclose(back.ohlcv, divided_before(series, 60, 10.0), rtol=1e-12)
    assert (change.kind, change.rows, change.change) == ("adjustment", 60, 2)
    assert change.first_date == series.dates[0].item() and change.last_date == series.dates[-1].item()
    (stored,) = await any_store.corporate_actions()
    assert (stored.ratio, stored.applied, stored.status) == (10.0, 10.0, "active")
    assert await any_store.apply_actions() == []  # already in line: nothing rewritten, no change


async def test_bars_and_their_actions_are_written_in_one_transaction(any_store, series):
    result = await any_store.append_many([series], [split_at(series, 30, 2.0, source="detected")])
    assert result.stored == len(series)
    (change,) = result.changes  # new bars and the adjustment of some of them: one change
    assert (change.kind, change.first_date) == ("adjustment", series.dates[0].item())
    back = await any_store.read_range(series.symbol)
    np.testing.assert_allclose(back.ohlcv, divided_before(series, 30, 2.0), rtol=1e-12)


async def test_a_failed_write_leaves_neither_bars_nor_actions(any_store, series):
    broken = BarSeries(["ABE"], series.dates[:5], series.ohlcv[:5])
    with pytest.raises(Exception):  # noqa: B017 - the driver's own error type differs per store
        await any_store.append_many([series, broken], [split_at(series, 30)])
    assert await any_store.corporate_actions() == [] and await any_store.list_symbols() == {}
    assert await any_store.latest_change() == 0


async def test_a_hand_edited_ratio_is_applied_and_removal_restores_the_prices(any_store, series):
    await any_store.append(series)
    await any_store.put_actions([split_at(series, 60), split_at(series, 90, 0.5)])
    await edit_by_hand(any_store, "UPDATE {actions} SET ratio = ? WHERE symbol = ? AND ex_date = ?",
                       11.0, series.symbol, series.dates[60].item())
    (change,) = await any_store.apply_actions(series.symbol)
    assert change.kind == "adjustment"
    expected = divided_before(BarSeries(series.symbol, series.dates, divided_before(series, 90, 0.5)), 60, 11.0)
    np.testing.assert_allclose((await any_store.read_range(series.symbol)).ohlcv, expected, rtol=1e-12)
    await any_store.remove_actions([(series.symbol, series.dates[60].item()), (series.symbol, series.dates[90].item())])
    np.testing.assert_allclose((await any_store.read_range(series.symbol)).ohlcv, series.ohlcv, rtol=1e-12)
    assert await any_store.corporate_actions() == []


async def test_pending_and_dismissed_actions_leave_the_prices_alone(any_store, series):
    await any_store.append(series)
    assert await any_store.put_actions([split_at(series, 60, status="pending"),
                                        split_at(series, 70, status="dismissed")]) == []
    np.testing.assert_array_equal((await any_store.read_range(series.symbol)).ohlcv, series.ohlcv)
    await any_store.put_actions([split_at(series, 60, status="active")])  # the operator confirms it
    np.testing.assert_allclose((await any_store.read_range(series.symbol)).ohlcv, divided_before(series, 60, 10.0))
    assert [a.status for a in await any_store.corporate_actions(series.symbol)] == ["active", "dismissed"]


async def test_new_bars_dated_after_an_action_are_stored_as_they_come(any_store, series):
    await any_store.append(BarSeries(series.symbol, series.dates[:100], series.ohlcv[:100]))
    await any_store.put_actions([split_at(series, 50)])
    await any_store.append(BarSeries(series.symbol, series.dates[100:], series.ohlcv[100:]))
    back = await any_store.read_range(series.symbol)
    np.testing.assert_array_equal(back.ohlcv[100:], series.ohlcv[100:])
    assert isinstance((await any_store.corporate_actions())[0].ex_date, datetime.date)

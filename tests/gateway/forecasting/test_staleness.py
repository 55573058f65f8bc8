"""`stale` against the market as the store knows it (a symbol whose bars stop while others go on is flagged) and
against the exchange's calendar (a store whose feed stopped), counted in XWAR sessions."""

from __future__ import annotations

import httpx
import pytest

from market_data.calendar import trading_calendar
from tests.gateway.conftest import API_KEY
from tests.gateway.forecasting.test_cache import analyze

pytestmark = pytest.mark.triton


def test_a_symbol_left_behind_by_the_newest_bars_is_stale_and_the_one_posting_them_is_not(
    start_gateway, stored_symbols
):
    gateway = start_gateway(REDIS_URL="")
    moving, left_behind = stored_symbols[0], stored_symbols[1]
    assert not analyze(gateway, moving).stale and not analyze(gateway, left_behind).stale

    # six XWAR sessions (1 January is none): one more than the default 5
    days = trading_calendar().next_sessions(analyze(gateway, moving).data_as_of, 6)
    bars = [{"symbol": moving, "date": str(day), "open": 20.0, "high": 21.0, "low": 19.0, "close": 20.5,
             "volume": 5000.0} for day in days]
    posted = httpx.post(f"{gateway.url}/bars", json={"bars": bars}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200, posted.text

    assert not analyze(gateway, moving).stale
    behind = analyze(gateway, left_behind)
    assert behind.stale and str(behind.data_as_of) < str(days[0])


def test_the_store_lags_the_exchange_by_xwar_sessions_not_weekdays_across_christmas():
    import datetime as dt

    from gateway.forecasting.predictions import PredictionPolicy

    policy = PredictionPolicy(stale_after=5, store_stale_after=1)
    newest = dt.date(2025, 12, 23)  # then 24, 25 and 26 December are no XWAR sessions; 29 December is one
    evening = dt.datetime(2025, 12, 29, 18, 0, tzinfo=dt.UTC)
    assert not policy.store_lags(newest, now=evening)  # one session missed, though four weekdays passed
    assert policy.store_lags(newest, now=evening + dt.timedelta(days=1))  # two sessions: the feed stopped
    assert not PredictionPolicy(stale_after=5, store_stale_after=None).store_lags(newest, now=evening
                                                                                  + dt.timedelta(days=365))


@pytest.mark.parametrize("historical", ["false", "true"])
def test_a_store_ending_long_ago_is_stale_unless_marked_historical(start_gateway, stored_symbols, historical):
    """The synthetic store ends 2025-12-31, a year and more before the clock of this test."""
    gateway = start_gateway(REDIS_URL="", WIG80_STORE_HISTORICAL=historical)
    answer = analyze(gateway, stored_symbols[0])
    summary = httpx.get(f"{gateway.url}/dashboard/summary", timeout=30.0).json()
    if historical == "true":
        assert not answer.stale and answer.data_status == "historical" and summary["data_status"] == "historical"
    else:
        assert answer.stale and answer.data_status == "stale" and summary["data_status"] == "stale"
    assert summary["newest_bar"] == "2025-12-31"
    assert {m["item"]["prediction"]["data_status"] for m in summary["members"]} == {answer.data_status}

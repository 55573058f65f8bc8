import datetime

import numpy as np
import pytest

from market_data.bars import Bar, BarSeries, is_no_trade_day, validate_bar, validate_bars

DAY = datetime.date(2024, 3, 1)
TODAY = datetime.date(2024, 6, 1)


def bar(**changes) -> Bar:
    fields = dict(symbol="ABE", date=DAY, open=10.0, high=11.0, low=9.5, close=10.5, volume=1000.0)
    return Bar(**{**fields, **changes})


def test_a_consistent_bar_is_valid():
    assert validate_bar(bar(), TODAY) is None
    assert validate_bar(bar(volume=0.0), TODAY) is None


@pytest.mark.parametrize(
    ("changes", "reason_part"),
    [
        (dict(open=0.0), "non-positive price: open"),
        (dict(low=-1.0), "non-positive price: low"),
        (dict(high=10.2), "high 10.2 is below"),
        (dict(low=10.4), "low 10.4 is above"),
        (dict(volume=-5.0), "negative volume"),
        (dict(close=float("nan")), "close is not a finite number"),
        (dict(date=datetime.date(2024, 6, 2)), "in the future"),
    ],
)
def test_invalid_bars_are_rejected_with_a_reason(changes, reason_part):
    reason = validate_bar(bar(**changes), TODAY)
    assert reason is not None and reason_part in reason


def test_validate_bars_rejects_a_repeated_date_naming_the_first():
    bars = [bar(), bar(date=DAY + datetime.timedelta(1)), bar(close=10.2), bar(symbol="ACG")]
    accepted, rejections = validate_bars(bars, TODAY, positions=["line 2", "line 3", "line 4", "line 5"])
    assert accepted == [bars[0], bars[1], bars[3]]
    assert [r.index for r in rejections] == [2]
    assert "repeated date 2024-03-01 for ABE (first at line 2)" in rejections[0].reason


def test_no_trade_marker_of_the_gpw_archive():
    assert is_no_trade_day(0.0, 0.0, 0.0, 0.0)
    assert not is_no_trade_day(0.0, 0.0, 0.0, 10.0)


def test_bar_series_round_trips_and_sorts_by_date():
    bars = [bar(date=DAY + datetime.timedelta(2)), bar(), bar(date=DAY + datetime.timedelta(1), close=10.1)]
    series = BarSeries.from_bars(bars)
    assert len(series) == 3
    assert series.dates.dtype == np.dtype("datetime64[D]")
    assert series.ohlcv.shape == (3, 5) and series.ohlcv.dtype == np.float64
    assert list(series.dates.astype(str)) == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert series.bars() == sorted(bars, key=lambda b: b.date)
    assert series.close[1] == 10.1


def test_bar_series_refuses_unsorted_dates_and_mixed_symbols():
    with pytest.raises(ValueError, match="ascending"):
        BarSeries("ABE", np.array(["2024-01-02", "2024-01-01"], dtype="datetime64[D]"), np.ones((2, 5)))
    with pytest.raises(ValueError, match="one symbol"):
        BarSeries.from_bars([bar(), bar(symbol="ACG")])
    assert len(BarSeries.empty("ABE")) == 0

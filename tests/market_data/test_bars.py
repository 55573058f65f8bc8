import datetime

import numpy as np
import pytest

from market_data.bars import (
    Bar,
    BarLimits,
    BarSeries,
    is_no_trade_day,
    no_trade_marker,
    validate_bar,
    validate_bars,
)

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


def test_no_trade_markers_of_every_format():
    assert no_trade_marker(0.0, 0.0, 0.0, 2.72, 0.0) == "no-trade day (volume 0, open=high=low=0)"  # GPW archive
    assert no_trade_marker(0.0, 5.0, 5.0, 5.0, 0.0) == "no-trade day (volume 0, open=0)"
    assert is_no_trade_day(0.0, 0.0, 0.0, 0.0, 0.0)
    assert not is_no_trade_day(0.0, 0.0, 0.0, 2.72, 10.0)  # a zero price with trades is a broken bar
    assert not is_no_trade_day(5.0, 5.0, 5.0, 5.0, 0.0)  # a price without volume is still a bar


@pytest.mark.parametrize(
    ("changes", "reason_part"),
    [
        (dict(close=1e300, high=1e300), "price high 1e+300 does not fit float32"),
        (dict(open=2e9, high=2e9), "price open 2e+09 is outside the accepted range 1e-06..1e+09"),
        (dict(open=1e-7, low=1e-7), "price open 1e-07 is outside the accepted range"),
        (dict(volume=1e300), "volume 1e+300 does not fit float32"),
        (dict(volume=1e16), "volume 1e+16 is outside the accepted range 0..1e+15"),
    ],
)
def test_numbers_outside_the_sane_range_are_rejected_with_the_range(changes, reason_part):
    reason = validate_bar(bar(**changes), TODAY)
    assert reason is not None and reason_part in reason


def test_the_limits_are_set_in_one_place():
    assert validate_bar(bar(open=2e9, high=2e9), TODAY, BarLimits(max_price=1e10)) is None


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


def test_window_fingerprint_changes_with_any_bar_of_the_window():
    from market_data.bars import window_fingerprint

    bars = [bar(date=DAY + datetime.timedelta(i), close=10.0 + i / 10) for i in range(5)]
    series = BarSeries.from_bars(bars)
    assert window_fingerprint(series) == window_fingerprint(BarSeries.from_bars(list(bars)))
    corrected = BarSeries.from_bars(bars[:2] + [bar(date=DAY + datetime.timedelta(2), close=10.25)] + bars[3:])
    assert window_fingerprint(corrected) != window_fingerprint(series)  # same last date, another bar inside
    renamed = BarSeries("ACG", series.dates, series.ohlcv)
    assert window_fingerprint(renamed) != window_fingerprint(series)
    assert len(window_fingerprint(series)) == 24

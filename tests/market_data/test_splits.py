"""Split-like jumps: the APATOR split is found with its ratio, the 12 adjusted stooq files give none, and
synthetic splits put into the real files are found (how often is measured and printed)."""

import collections

import numpy as np
import pytest

from market_data.bars import BarSeries
from market_data.corporate_actions import rebased
from market_data.sources import read_bar_file
from market_data.splits import find_jumps
from tests.fixtures.requirements import requirement_missing
from tests.market_data.conftest import REAL_DATA


def real_series(relative: str) -> BarSeries:
    path = REAL_DATA / relative
    if not path.is_file():
        requirement_missing(f"real data file {path} is absent, split detection on it is not tested")
    return BarSeries.from_bars(read_bar_file(path).bars)


@pytest.fixture(scope="module")
def wig() -> BarSeries:
    return real_series("indices/wig_d.csv")


def stooq_files() -> list[str]:
    return sorted(f"stooq/{p.name}" for p in (REAL_DATA / "stooq").glob("*.csv")) or ["stooq/ABE.csv"]


def test_the_apator_split_of_2006_is_found_with_its_ratio(wig):
    (jump,) = find_jumps(real_series("gpw_archive/APATOR.csv"), wig)
    assert (jump.symbol, str(jump.date), jump.ratio, jump.verdict) == ("APT", "2006-08-21", 10, "split")
    assert (jump.previous_close, jump.close) == (228.5, 20.8)
    assert abs(jump.index_move) < 0.01 and jump.volume_step > np.log(5)


@pytest.mark.parametrize("relative", ["gpw_archive/AMICA.csv", "gpw_archive/TOYA.csv"])
def test_the_other_gpw_archive_files_have_no_split(wig, relative):
    assert find_jumps(real_series(relative), wig) == []


def test_no_stooq_file_has_a_split_or_an_ambiguous_day(wig):
    for relative in stooq_files():
        flagged = [j for j in find_jumps(real_series(relative), wig) if j.verdict != "real"]
        assert flagged == [], [j.describe() for j in flagged]
    (echo,) = find_jumps(real_series("stooq/ECH.csv"), wig)  # halves in a day, with continuous volume
    assert (str(echo.date), echo.verdict) == ("1996-10-28", "real")


def unadjusted(series: BarSeries, t: int, ratio: float) -> BarSeries:
    """`series` as an exchange that split `ratio`:1 at bar t would have printed it before t."""
    ohlcv = series.ohlcv.copy()
    ohlcv[:t] = rebased(ohlcv[:t], 1 / ratio)
    return BarSeries(series.symbol, series.dates, ohlcv)


def test_synthetic_splits_in_the_real_files_are_found_and_never_given_a_wrong_ratio(wig, capsys):
    rng = np.random.default_rng(0)
    verdicts: dict[float, collections.Counter] = collections.defaultdict(collections.Counter)
    for relative in stooq_files():
        series = real_series(relative)
        for ratio in (2, 5, 10, 0.01):
            for t in rng.integers(100, len(series) - 30, 4):
                days = np.zeros(len(series), dtype=bool)
                days[t] = True
                jumps = find_jumps(unadjusted(series, int(t), ratio), wig, days)
                assert all(j.ratio == ratio for j in jumps if j.verdict != "real"), [j.describe() for j in jumps]
                verdicts[ratio][jumps[0].verdict if jumps else "missed"] += 1
    with capsys.disabled():
        print("\nsynthetic splits in the stooq files, verdicts per ratio:", {r: dict(c) for r, c in verdicts.items()})
    for ratio, counted in verdicts.items():
        total = sum(counted.values())
        adjusted_or_quarantined = counted["split"] + counted["ambiguous"]
        # 1:2 is the hardest: its log ratio (0.69) is within the drift of a 20-day volume median
        assert adjusted_or_quarantined >= (0.9 if ratio != 2 else 0.85) * total, (ratio, counted)
        assert counted["split"] >= (0.85 if ratio != 2 else 0.65) * total, (ratio, counted)


def test_a_move_the_index_shares_or_that_fits_no_ratio_is_not_a_split():
    dates = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + 80).astype("datetime64[D]")
    close = np.full(80, 100.0) * np.exp(np.random.default_rng(1).normal(0, 0.01, 80).cumsum())
    close[40:] /= 2.0
    volume = np.full(80, 1000.0)
    volume[40:] *= 2.0
    ohlcv = np.column_stack([close, close * 1.01, close * 0.99, close, volume])
    series = BarSeries("ABE", dates, ohlcv)
    (jump,) = find_jumps(series)
    assert (jump.verdict, jump.ratio, jump.index_move) == ("split", 2, None)
    index = BarSeries("WIG", dates, ohlcv.copy())  # an index that halved the same day
    assert find_jumps(series, index)[0].verdict == "real"
    ohlcv[40:, :4] *= 1.5  # now -25%: no split ratio fits
    assert find_jumps(BarSeries("ABE", dates, ohlcv)) == []


def test_too_few_days_after_the_jump_leave_it_ambiguous():
    dates = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + 62).astype("datetime64[D]")
    close = np.full(62, 50.0)
    close[60:] = 5.0
    close[:60] *= np.exp(np.random.default_rng(2).normal(0, 0.01, 60))
    ohlcv = np.column_stack([close, close, close, close, np.r_[np.full(60, 100.0), 1000.0, 1000.0]])
    (jump,) = find_jumps(BarSeries("ABE", dates, ohlcv))
    assert (jump.verdict, jump.ratio) == ("ambiguous", 10) and "2 days from it" in jump.reason


"""Each indicator equals TA-Lib's (NaN warm-up positions included) to 1e-9 relative."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from feature_kernels import indicators as ind
from tests.feature_kernels.series import STOOQ_SYMBOLS, load_stooq, random_walk

RTOL = 1e-9


def assert_matches(ours: np.ndarray, reference: np.ndarray) -> None:
    """Same NaN positions; elsewhere equal to RTOL relative to the value, with an absolute
    floor of RTOL * 1e-3 of the series' scale for values that cross zero (MACD, OBV)."""
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference), err_msg="NaN positions differ")
    finite = ~np.isnan(reference)
    if finite.any():
        scale = np.max(np.abs(reference[finite]))
        np.testing.assert_allclose(ours[finite], reference[finite], rtol=RTOL, atol=RTOL * 1e-3 * scale)


SERIES = [*(f"stooq:{symbol}" for symbol in STOOQ_SYMBOLS), *(f"walk:{seed}" for seed in range(3))]


@functools.cache
def series(case: str) -> np.ndarray:
    """One case's bars, loaded alone: a random walk never waits on (or skips with) the real files."""
    kind, key = case.split(":")
    return load_stooq(key) if kind == "stooq" else random_walk(3000, int(key))


@pytest.fixture(params=SERIES)
def bars(request: pytest.FixtureRequest) -> np.ndarray:
    return series(request.param)


@pytest.mark.parametrize("period", [2, 5, 20, 50])
def test_sma_and_ema_match_talib(bars: np.ndarray, period: int) -> None:
    close = bars[:, 3]
    assert_matches(ind.sma(close, period), talib.SMA(close, period))
    assert_matches(ind.ema(close, period), talib.EMA(close, period))


@pytest.mark.parametrize("period", [2, 7, 14, 28])
def test_rsi_matches_talib(bars: np.ndarray, period: int) -> None:
    assert_matches(ind.rsi(bars[:, 3], period), talib.RSI(bars[:, 3], period))


@pytest.mark.parametrize("periods", [(12, 26, 9), (5, 35, 5), (26, 12, 9)])
def test_macd_matches_talib(bars: np.ndarray, periods: tuple[int, int, int]) -> None:
    for ours, ref in zip(ind.macd(bars[:, 3], *periods), talib.MACD(bars[:, 3], *periods), strict=True):
        assert_matches(ours, ref)


@pytest.mark.parametrize(("period", "up", "down"), [(20, 2.0, 2.0), (10, 1.0, 3.0)])
def test_bollinger_matches_talib(bars: np.ndarray, period: int, up: float, down: float) -> None:
    ours = ind.bollinger(bars[:, 3], period, up, down)
    for mine, ref in zip(ours, talib.BBANDS(bars[:, 3], period, up, down, 0), strict=True):
        assert_matches(mine, ref)


@pytest.mark.parametrize("period", [1, 14, 30])
def test_atr_matches_talib(bars: np.ndarray, period: int) -> None:
    high, low, close = bars[:, 1], bars[:, 2], bars[:, 3]
    assert_matches(ind.atr(high, low, close, period), talib.ATR(high, low, close, period))


def test_obv_matches_talib(bars: np.ndarray) -> None:
    assert_matches(ind.obv(bars[:, 3], bars[:, 4]), talib.OBV(bars[:, 3], bars[:, 4]))


@pytest.mark.parametrize("period", [5, 20, 60])
def test_volatility_is_talib_stddev_of_log_returns(bars: np.ndarray, period: int) -> None:
    close = bars[:, 3]
    log_returns = np.concatenate([[np.nan], np.log(close[1:] / close[:-1])])
    reference = talib.STDDEV(log_returns, period, 1.0) * np.sqrt(period / (period - 1))
    assert_matches(ind.volatility(close, period), reference)


def test_volatility_matches_numpy_sample_std() -> None:
    close = random_walk(2000, seed=7)[:, 3]
    returns = np.log(close[1:] / close[:-1])
    windows = np.lib.stride_tricks.sliding_window_view(returns, 20)
    expected = np.concatenate([np.full(20, np.nan), windows.std(axis=1, ddof=1)])
    assert_matches(ind.volatility(close, 20), expected)


def test_series_shorter_than_lookback_is_all_nan() -> None:
    close = random_walk(10, seed=1)[:, 3]
    for values in (ind.sma(close, 20), ind.rsi(close, 14), ind.macd(close)[0], ind.volatility(close, 20)):
        assert np.isnan(values).all()
        assert values.shape == close.shape


def test_period_below_minimum_is_rejected() -> None:
    with pytest.raises(ValueError, match="period"):
        ind.rsi(np.ones(30), 1)


prices = arrays(np.float64, st.integers(40, 300), elements=st.floats(0.5, 500.0))


@settings(max_examples=60, deadline=None)
@given(prices)
def test_indicators_match_talib_on_arbitrary_prices(close: np.ndarray) -> None:
    high, low = close * 1.01, close * 0.99
    assert_matches(ind.rsi(close, 14), talib.RSI(close, 14))
    assert_matches(ind.ema(close, 10), talib.EMA(close, 10))
    assert_matches(ind.atr(high, low, close, 14), talib.ATR(high, low, close, 14))
    for ours, ref in zip(ind.macd(close), talib.MACD(close, 12, 26, 9), strict=True):
        assert_matches(ours, ref)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 1e4), st.integers(40, 200))
def test_constant_prices_give_talib_values(price: float, n: int) -> None:
    close = np.full(n, price)
    assert_matches(ind.rsi(close, 14), talib.RSI(close, 14))
    upper, middle, lower = ind.bollinger(close)
    np.testing.assert_array_equal(upper[19:], middle[19:])
    np.testing.assert_array_equal(lower[19:], middle[19:])
    assert (ind.volatility(close, 20)[20:] == 0.0).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(30, 150), st.floats(10.0, 1e4))
def test_single_huge_jump_matches_talib(jump_at: int, factor: float) -> None:
    close = random_walk(200, seed=jump_at)[:, 3]
    close[jump_at:] *= factor
    for ours, ref in ((ind.rsi(close, 14), talib.RSI(close, 14)),
                      (ind.sma(close, 20), talib.SMA(close, 20)),
                      (ind.ema(close, 20), talib.EMA(close, 20))):
        assert_matches(ours, ref)
    for ours, ref in zip(ind.bollinger(close), talib.BBANDS(close, 20, 2.0, 2.0, 0), strict=True):
        assert_matches(ours, ref)
    assert (ind.volatility(close, 20)[jump_at + 20:] > 0.0).all()

import numpy as np
import pytest

from market_data.bars import validate_bars
from market_data.symbols import index_members
from market_data.synthetic import synthesize, synthesize_with_truth


def autocorrelation(x: np.ndarray, lag: int = 1) -> float:
    x = x - x.mean()
    return float((x[:-lag] * x[lag:]).sum() / (x * x).sum())


def excess_kurtosis(x: np.ndarray) -> float:
    x = x - x.mean()
    return float((x**4).mean() / (x**2).mean() ** 2 - 3.0)


@pytest.fixture(scope="module")
def market():
    return synthesize(12, 1500, seed=11)


@pytest.fixture(scope="module")
def returns(market):
    return [np.diff(np.log(series.close)) for series in market]


def test_shape_tickers_and_calendar(market):
    assert [s.symbol for s in market] == index_members("sWIG80")[:12]
    for series in market:
        assert 1400 < len(series) <= 1500  # a few no-trade days are missing
        assert np.all(np.diff(series.dates.astype(np.int64)) > 0)
        assert np.all(np.is_busday(series.dates))


def test_bars_are_valid_and_ohlc_consistent(market):
    for series in market:
        _, rejections = validate_bars(series.bars())
        assert rejections == []
        o, h, low, c, v = series.ohlcv.T
        assert np.all(low <= np.minimum(o, c)) and np.all(h >= np.maximum(o, c)) and np.all(low > 0)
        assert np.all(v >= 1)


def test_fat_tails(returns):
    kurtosis = [excess_kurtosis(r) for r in returns]
    assert np.median(kurtosis) > 2.0


def test_volatility_clustering(returns):
    assert np.mean([autocorrelation(r**2) for r in returns]) > 0.04
    assert sum(autocorrelation(np.abs(r), 5) > 0 for r in returns) >= 10


def test_short_term_reversal(returns):
    lag1 = [autocorrelation(r) for r in returns]
    assert np.mean(lag1) < -0.04
    assert sum(value < 0 for value in lag1) >= 10


def test_volume_rises_with_absolute_returns(market, returns):
    correlations = [np.corrcoef(np.abs(r), np.log(s.volume[1:]))[0, 1] for s, r in zip(market, returns, strict=True)]
    assert min(correlations) > 0.2


def test_gaps_open_away_from_previous_close(market):
    gaps = np.concatenate([np.abs(np.log(s.open[1:] / s.close[:-1])) for s in market])
    assert np.mean(gaps > 0.005) > 0.3


def test_deterministic_for_a_seed():
    first, again, other = synthesize(3, 200, seed=5), synthesize(3, 200, seed=5), synthesize(3, 200, seed=6)
    for a, b in zip(first, again, strict=True):
        assert np.array_equal(a.dates, b.dates) and np.array_equal(a.ohlcv, b.ohlcv)
    assert not np.array_equal(first[0].ohlcv, other[0].ohlcv[: len(first[0])])
    assert np.array_equal(synthesize(1, 200, seed=5)[0].ohlcv, first[0].ohlcv)


def test_more_symbols_than_swig80_get_synthetic_tickers():
    tickers = [s.symbol for s in synthesize(82, 10, seed=0)]
    assert tickers[-2:] == ["SYN081", "SYN082"] and len(set(tickers)) == 82


def test_the_truth_is_the_conditional_distribution_of_the_next_bar(market):
    with_truth = synthesize_with_truth(12, 1500, seed=11)
    z, hits = [], []
    for series, (same, truth) in zip(market, with_truth, strict=True):
        assert np.array_equal(series.ohlcv, same.ohlcv) and np.array_equal(truth.dates, series.dates)
        realised = np.diff(np.log(series.close))
        z.append((realised - truth.mean[:-1]) / truth.std[:-1])
        moved = realised != 0
        hits.append(np.sign(truth.mean[:-1][moved]) == np.sign(realised[moved]))
        assert np.isnan(truth.mean[-1])  # the last bar has no next bar
    z = np.concatenate(z)
    assert abs(z.mean()) < 0.03 and 0.9 < z.var() < 1.1
    assert np.concatenate(hits).mean() > 0.52  # the planted reversal: sign(true mean) beats a coin

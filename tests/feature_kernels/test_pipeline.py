"""compute_features: layout, agreement with the kernels and TA-Lib, batch == row by row,
finite output, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

import feature_kernels
from feature_kernels import BAND_EDGES, BAND_SHARE_NAMES, FEATURE_NAMES, MIN_WINDOW, compute_features
from tests.feature_kernels.reference import reference_spectral_features
from tests.feature_kernels.series import STOOQ_SYMBOLS, load_stooq, random_walk, windows_of

GATEWAY_NAMES = (
    "rsi_14", "volatility_20", "sma_ratio_20", "volume_ratio_20", "band_power_low", "band_power_mid",
    "band_power_high", "spectral_total_power", "spectral_centroid", *BAND_SHARE_NAMES,
)
COL = {name: i for i, name in enumerate(FEATURE_NAMES)}


def feature(row: np.ndarray, name: str) -> float:
    return float(row[COL[name]])


def real_windows(days: int = 256) -> np.ndarray:
    return np.concatenate([windows_of(load_stooq(s), days, 20) for s in STOOQ_SYMBOLS])


def test_layout_constants() -> None:
    assert 45 <= len(FEATURE_NAMES) <= 60
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert set(GATEWAY_NAMES) <= set(FEATURE_NAMES)
    assert BAND_SHARE_NAMES == ("low_freq_trend", "mid_freq_cycle", "high_freq_noise")
    assert 0.0 < BAND_EDGES[0] < BAND_EDGES[1] < 0.5
    assert MIN_WINDOW >= 61  # ret_60 and volatility_60 need 61 closes
    assert feature_kernels.__all__ and callable(feature_kernels.compute_features)


@pytest.mark.parametrize("days", [MIN_WINDOW, 252, 256, 300])
def test_output_shape_dtype_and_finite_on_real_windows(days: int) -> None:
    windows = real_windows(days)
    features = compute_features(windows)
    assert features.shape == (windows.shape[0], len(FEATURE_NAMES))
    assert features.dtype == np.float32
    assert np.isfinite(features).all()


@pytest.mark.parametrize("parallel", [True, False, None])
def test_batch_equals_row_by_row(parallel: bool | None) -> None:
    windows = real_windows()
    batch = compute_features(windows, parallel=parallel)
    rows = np.concatenate([compute_features(windows[i:i + 1]) for i in range(windows.shape[0])])
    np.testing.assert_array_equal(batch, rows)


def test_bad_window_is_reported_by_the_parallel_kernel_too() -> None:
    windows = real_windows()
    windows[41, 200, 3] = np.nan
    with pytest.raises(ValueError, match=r"windows\[41\] row 200 \(close=nan\)"):
        compute_features(windows, parallel=True)


def test_empty_batch() -> None:
    assert compute_features(np.zeros((0, 256, 5), np.float32)).shape == (0, len(FEATURE_NAMES))


@pytest.mark.parametrize("seed", range(4))
def test_features_equal_talib_and_numpy_at_the_last_day(seed: int) -> None:
    window = windows_of(random_walk(400, seed), 256, 1)
    row = compute_features(window)[0]
    o, h, lo, c, v = (window[0, :, k].astype(np.float64) for k in range(5))

    def close_to(name: str, expected: float, rel: float = 1e-6) -> None:
        assert feature(row, name) == pytest.approx(expected, rel=rel, abs=1e-7), name

    close_to("ret_20", np.log(c[-1] / c[-21]))
    close_to("gap_1", np.log(o[-1] / c[-2]))
    close_to("rsi_14", talib.RSI(c, 14)[-1])
    close_to("rsi_28", talib.RSI(c, 28)[-1])
    close_to("sma_ratio_20", c[-1] / talib.SMA(c, 20)[-1])
    close_to("ema_ratio_26", c[-1] / talib.EMA(c, 26)[-1])
    line, signal, hist = talib.MACD(c, 12, 26, 9)
    close_to("macd_line", line[-1] / c[-1])
    close_to("macd_hist", hist[-1] / c[-1], rel=1e-5)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0, 0)
    close_to("bb_percent_b_20", (c[-1] - lower[-1]) / (upper[-1] - lower[-1]))
    close_to("bb_width_20", (upper[-1] - lower[-1]) / middle[-1])
    close_to("atr_ratio_14", talib.ATR(h, lo, c, 14)[-1] / c[-1])
    returns = np.diff(np.log(c))
    close_to("volatility_20", returns[-20:].std(ddof=1))
    close_to("volatility_60", returns[-60:].std(ddof=1))
    close_to("volume_ratio_20", v[-1] / v[-20:].mean())
    close_to("volume_zscore_60", (v[-1] - v[-60:].mean()) / v[-60:].std())
    obv = talib.OBV(c, v)
    close_to("obv_trend_20", (obv[-1] - obv[-21]) / v[-20:].sum())
    close_to("drawdown_60", np.log(c[-1] / c[-60:].max()))
    close_to("trend_slope", np.polyfit(np.arange(256), np.log(c), 1)[0])
    for name, expected in reference_spectral_features(np.log(c), BAND_EDGES).items():
        close_to(name, expected)


def test_band_edges_are_configurable() -> None:
    window = windows_of(random_walk(300, 3), 256, 1)
    default = compute_features(window)[0]
    wide_low = compute_features(window, band_edges=(0.15, 0.3))[0]
    assert feature(wide_low, "low_freq_trend") > feature(default, "low_freq_trend")
    expected = reference_spectral_features(np.log(window[0, :, 3].astype(np.float64)), (0.15, 0.3))
    assert feature(wide_low, "band_power_mid") == pytest.approx(expected["band_power_mid"], rel=1e-6)


def bars_window(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    window = np.column_stack([close, close * 1.01, close * 0.99, close, volume])
    return window[None].astype(np.float32)


@settings(max_examples=30, deadline=None)
@given(st.floats(0.01, 1e5), st.integers(MIN_WINDOW, 300), st.floats(0.0, 1e7))
def test_constant_prices(price: float, days: int, volume: float) -> None:
    row = compute_features(bars_window(np.full(days, price), np.full(days, volume)))[0]
    assert np.isfinite(row).all()
    for name in ("ret_1", "ret_60", "volatility_20", "volatility_60", "macd_line", "trend_slope",
                 "spectral_total_power", "spectral_entropy", *BAND_SHARE_NAMES):
        assert feature(row, name) == 0.0, name
    assert feature(row, "sma_ratio_20") == pytest.approx(1.0)
    assert feature(row, "rsi_14") == 0.0  # TA-Lib's RSI when nothing moved
    assert feature(row, "vol_ratio_5_20") == 1.0
    assert feature(row, "volume_ratio_20") == pytest.approx(1.0)
    assert feature(row, "volume_zscore_20") == 0.0


@settings(max_examples=30, deadline=None)
@given(st.integers(MIN_WINDOW, 300), st.integers(0, 2**31))
def test_zero_volume(days: int, seed: int) -> None:
    close = random_walk(days, seed)[:, 3]
    row = compute_features(bars_window(close, np.zeros(days)))[0]
    assert np.isfinite(row).all()
    assert feature(row, "volume_ratio_5") == 1.0
    assert feature(row, "volume_ratio_20") == 1.0
    assert feature(row, "volume_zscore_20") == 0.0
    assert feature(row, "volume_zscore_60") == 0.0
    assert feature(row, "obv_trend_20") == 0.0


@settings(max_examples=40, deadline=None)
@given(st.integers(MIN_WINDOW, 300), st.floats(0.0, 1.0), st.floats(1e-4, 1e4), st.integers(0, 2**31))
def test_single_huge_jump_stays_finite(days: int, where: float, factor: float, seed: int) -> None:
    close = random_walk(days, seed)[:, 3]
    close[int(where * (days - 1)):] *= factor
    row = compute_features(bars_window(close, random_walk(days, seed + 1)[:, 4]))[0]
    assert np.isfinite(row).all()
    assert 0.0 <= feature(row, "rsi_14") <= 100.0
    shares = sum(feature(row, name) for name in BAND_SHARE_NAMES)
    assert shares == pytest.approx(1.0, rel=1e-5)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31))
def test_minimal_window_length(seed: int) -> None:
    bars = random_walk(MIN_WINDOW, seed)
    row = compute_features(bars[None].astype(np.float32))[0]
    assert np.isfinite(row).all()
    close = bars[:, 3].astype(np.float32).astype(np.float64)
    assert feature(row, "ret_60") == pytest.approx(np.log(close[-1] / close[-61]), rel=1e-5, abs=1e-7)
    with pytest.raises(ValueError, match=f"MIN_WINDOW={MIN_WINDOW}"):
        compute_features(bars[None, 1:].astype(np.float32))


def bad(batch: int = 3, days: int = 256) -> np.ndarray:
    return np.concatenate([windows_of(random_walk(400, s), days, 1) for s in range(batch)])


@pytest.mark.parametrize(("column", "value", "reason"), [
    (3, np.nan, "not finite"),
    (1, np.inf, "not finite"),
    (4, -np.inf, "not finite"),
    (0, 0.0, "not a positive price"),
    (2, -1.5, "not a positive price"),
    (4, -10.0, "negative volume"),
])
def test_bad_value_names_window_and_row(column: int, value: float, reason: str) -> None:
    windows = bad()
    windows[2, 17, column] = value
    with pytest.raises(ValueError, match=rf"windows\[2\] row 17 .*{reason}"):
        compute_features(windows)


@pytest.mark.parametrize(("column", "factor", "message"), [
    (1, 0.9, r"\(high=[\d.]+\) is below low=[\d.]+"),
    (3, 1.1, r"\(close=[\d.]+\) is outside \[low, high\] = \[[\d.]+, [\d.]+\]"),
    (3, 0.9, r"\(close=[\d.]+\) is outside \[low, high\]"),
    (0, 1.1, r"\(open=[\d.]+\) is outside \[low, high\]"),
    (0, 0.9, r"\(open=[\d.]+\) is outside \[low, high\]"),
], ids=["high<low", "close>high", "close<low", "open>high", "open<low"])
@pytest.mark.parametrize("parallel", [True, False])
def test_inconsistent_bar_names_window_row_and_range(column: int, factor: float, message: str,
                                                     parallel: bool) -> None:
    windows = bad()
    high, low = windows[1, 30, 1], windows[1, 30, 2]
    windows[1, 30, column] = (low if factor < 1 else high) * factor
    with pytest.raises(ValueError, match=rf"windows\[1\] row 30 {message}"):
        compute_features(windows, parallel=parallel)


def test_prices_a_float32_rounding_apart_are_consistent() -> None:
    windows = bad()
    windows[0, :, 0] = windows[0, :, 1]  # open at the high, close at the low, each one ulp outside
    windows[0, :, 3] = windows[0, :, 2]
    windows[0, :, 0] = np.nextafter(windows[0, :, 0], np.float32(np.inf))
    windows[0, :, 3] = np.nextafter(windows[0, :, 3], np.float32(0.0))
    assert np.isfinite(compute_features(windows)).all()
    windows[0, 9, 3] = windows[0, 9, 2] * np.float32(1.0 - 10 * feature_kernels.pipeline.RANGE_TOLERANCE)
    with pytest.raises(ValueError, match=r"windows\[0\] row 9 \(close="):
        compute_features(windows)


@pytest.mark.parametrize("source", ["synthetic:0", "synthetic:1", "real"])
def test_every_synthetic_and_real_bar_passes_the_range_check_in_float32(source: str) -> None:
    from market_data.synthetic import synthesize

    if source == "real":
        whole_series = [load_stooq(s) for s in STOOQ_SYMBOLS]
    else:
        whole_series = [s.ohlcv for s in synthesize(8, 1500, int(source.split(":")[1]))]
    for ohlcv in whole_series:  # one window per series: every bar is checked
        compute_features(ohlcv[None].astype(np.float32))


@pytest.mark.parametrize(("windows", "message"), [
    (np.zeros((2, 256, 4), np.float32), "shape"),
    (np.zeros((256, 5), np.float32), "shape"),
    (np.ones((2, 256, 5), np.float64), "float32"),
    (np.ones((2, 256, 5), np.int32), "float32"),
    (np.ones((2, 30, 5), np.float32), "MIN_WINDOW"),
    ([[[1.0] * 5] * 256], "numpy array"),
])
def test_malformed_batches_are_rejected(windows: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compute_features(windows)  # type: ignore[arg-type]


@pytest.mark.parametrize("edges", [(0.2, 0.05), (0.0, 0.2), (0.05, 0.5), (0.1,)])
def test_bad_band_edges_are_rejected(edges: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="band_edges"):
        compute_features(bad(1), band_edges=edges)  # type: ignore[arg-type]


def test_non_contiguous_batch_gives_the_same_features() -> None:
    windows = bad(4)
    np.testing.assert_array_equal(compute_features(windows[::2]), compute_features(windows[::2].copy()))

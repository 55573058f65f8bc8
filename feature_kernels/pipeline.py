"""The one feature pipeline: a batch of raw OHLCV windows -> the feature matrix.

Training and the Triton `features` model both call `compute_features`, so the features a
model was trained on are exactly the ones it is served. Each feature is computed at the last
day of its window; the formulas are tabulated in docs/feature_kernels.md.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from feature_kernels import indicators as ind
from feature_kernels.names import BAND_EDGES, FEATURE_NAMES, MIN_WINDOW, ROLLOFF_FRACTION
from feature_kernels.spectral import N_SPECTRAL, detrend_linear, spectral_features

N_FEATURES = len(FEATURE_NAMES)
COLUMNS = ("open", "high", "low", "close", "volume")
# Denominators at or below this are treated as zero (a flat series); float32 prices cannot
# produce a genuine non-zero spread this small.
_TINY = 1e-12

# Smaller batches run on one thread: a parallel launch costs more than it saves there, and far
# more when other processes keep the cores busy (measured in benchmarks/feature_kernels_bench.py).
PARALLEL_MIN_BATCH = 16

# A bar's prices must satisfy low <= open, close <= high, within this fraction of high. Bars
# validated in float64 stay consistent in float32 (rounding is monotone); the slack (~8 float32
# ulps) admits prices a client derived in float32 by another path, e.g. adjusted by a factor.
RANGE_TOLERANCE = 1e-6

_OK, _NON_FINITE, _NON_POSITIVE_PRICE, _NEGATIVE_VOLUME, _NON_FINITE_FEATURE = 0, 1, 2, 3, 4
_HIGH_BELOW_LOW, _OUTSIDE_RANGE = 5, 6
_REASONS = {
    _NON_FINITE: "is not finite (NaN or inf)",
    _NON_POSITIVE_PRICE: "is not a positive price",
    _NEGATIVE_VOLUME: "is a negative volume",
    _NON_FINITE_FEATURE: "produced a non-finite feature (values out of float range?)",
}


def compute_features(windows: np.ndarray, *, band_edges: tuple[float, float] = BAND_EDGES,
                     parallel: bool | None = None) -> np.ndarray:
    """Features at the last day of each window.

    windows: float32 (B, W, 5), columns open, high, low, close, volume, oldest day first,
    W >= MIN_WINDOW. Returns float32 (B, len(FEATURE_NAMES)), always finite.
    band_edges: the low/mid and mid/high cut-offs in cycles per trading day.
    parallel: spread the batch over Numba's threads (prange); None = when B >= PARALLEL_MIN_BATCH.
    Raises ValueError naming the window and row of the first bad value: NaN/inf, a price <= 0, a
    negative volume, or a price outside the bar's [low, high] (RANGE_TOLERANCE of slack).
    """
    _check_batch(windows)
    edges = _check_band_edges(band_edges)
    windows = np.ascontiguousarray(windows)
    out = np.zeros((windows.shape[0], N_FEATURES), dtype=np.float32)
    status = np.zeros((windows.shape[0], 3), dtype=np.int64)
    if parallel is None:
        parallel = windows.shape[0] >= PARALLEL_MIN_BATCH
    batch_kernel = _features_batch_parallel if parallel else _features_batch_serial
    if windows.shape[0]:
        batch_kernel(windows, edges, ROLLOFF_FRACTION, out, status)
    bad = np.flatnonzero(status[:, 0])
    if bad.size:
        raise ValueError(_describe_bad_window(windows, int(bad[0]), status[bad[0]]))
    return out


def _check_batch(windows: object) -> None:
    if not isinstance(windows, np.ndarray):
        raise ValueError(f"windows must be a numpy array, got {type(windows).__name__}")
    if windows.ndim != 3 or windows.shape[2] != 5:
        raise ValueError(
            f"windows must have shape (batch, days, 5) [open, high, low, close, volume], got {windows.shape}"
        )
    if windows.dtype != np.float32:
        raise ValueError(f"windows must be float32, got {windows.dtype} (use windows.astype(np.float32))")
    if windows.shape[1] < MIN_WINDOW:
        raise ValueError(f"windows have {windows.shape[1]} days; at least MIN_WINDOW={MIN_WINDOW} are needed")


def _check_band_edges(band_edges: tuple[float, float]) -> np.ndarray:
    edges = np.asarray(band_edges, dtype=np.float64)
    if edges.shape != (2,) or not (0.0 < edges[0] < edges[1] < 0.5):
        raise ValueError(f"band_edges must be two cut-offs 0 < low < high < 0.5 cycles/day, got {band_edges}")
    return edges


def _describe_bad_window(windows: np.ndarray, b: int, status: np.ndarray) -> str:
    code, row, column = (int(s) for s in status)
    if code == _NON_FINITE_FEATURE:
        return f"windows[{b}]: {_REASONS[code]}"
    value = windows[b, row, column]
    high, low = windows[b, row, 1], windows[b, row, 2]
    if code == _HIGH_BELOW_LOW:
        reason = f"is below low={low!r}"
    elif code == _OUTSIDE_RANGE:
        reason = f"is outside [low, high] = [{low!r}, {high!r}]"
    else:
        reason = _REASONS[code]
    return f"windows[{b}] row {row} ({COLUMNS[column]}={value!r}) {reason}"


@njit(parallel=True, cache=True)
def _features_batch_parallel(windows, edges, rolloff_fraction, out, status):  # noqa: ANN001
    for b in prange(windows.shape[0]):
        _features_row(windows, b, edges, rolloff_fraction, out, status)


@njit(cache=True)
def _features_batch_serial(windows, edges, rolloff_fraction, out, status):  # noqa: ANN001
    for b in range(windows.shape[0]):
        _features_row(windows, b, edges, rolloff_fraction, out, status)


@njit(cache=True)
def _features_row(windows, b, edges, rolloff_fraction, out, status):  # noqa: ANN001
    code, row, column = _validate_window(windows[b])
    status[b, 0] = code
    status[b, 1] = row
    status[b, 2] = column
    if code != _OK:
        return
    features = _window_features(windows[b], edges, rolloff_fraction)
    for j in range(N_FEATURES):
        if not np.isfinite(features[j]) or not np.isfinite(np.float32(features[j])):
            status[b, 0] = _NON_FINITE_FEATURE
        out[b, j] = features[j]


@njit(cache=True)
def _validate_window(window: np.ndarray) -> tuple[int, int, int]:
    for i in range(window.shape[0]):
        for c in range(5):
            value = window[i, c]
            if not np.isfinite(value):
                return _NON_FINITE, i, c
            if c < 4 and value <= 0.0:
                return _NON_POSITIVE_PRICE, i, c
            if c == 4 and value < 0.0:
                return _NEGATIVE_VOLUME, i, c
        code, c = _inconsistent_prices(window[i])
        if code != _OK:
            return code, i, c
    return _OK, 0, 0


@njit(cache=True)
def _inconsistent_prices(bar: np.ndarray) -> tuple[int, int]:
    """(code, column) of the first price outside the bar's [low, high] range, or (_OK, 0)."""
    high = bar[1]
    low = bar[2]
    slack = RANGE_TOLERANCE * high
    if high < low - slack:
        return _HIGH_BELOW_LOW, 1
    for c in (3, 0):  # close first: it is the price every feature uses
        if bar[c] < low - slack or bar[c] > high + slack:
            return _OUTSIDE_RANGE, c
    return _OK, 0


@njit(cache=True)
def _column(window: np.ndarray, c: int) -> np.ndarray:
    n = window.shape[0]
    values = np.empty(n)
    for i in range(n):
        values[i] = window[i, c]
    return values


@njit(cache=True)
def _safe_ratio(numerator: float, denominator: float, default: float) -> float:
    if abs(denominator) <= _TINY:
        return default
    return numerator / denominator


@njit(cache=True)
def _window_features(window: np.ndarray, edges: np.ndarray, rolloff_fraction: float) -> np.ndarray:
    o = _column(window, 0)
    h = _column(window, 1)
    lo = _column(window, 2)
    c = _column(window, 3)
    v = _column(window, 4)
    n = c.shape[0]
    t = n - 1
    log_c = np.log(c)
    returns = np.zeros(n)  # returns[i] = ln(c[i] / c[i-1]); returns[0] unused
    for i in range(1, n):
        returns[i] = np.log(c[i] / c[i - 1])
    f = np.empty(N_FEATURES)
    j = 0
    j = _price_features(o, h, lo, c, log_c, t, f, j)
    j = _trend_momentum_features(h, lo, c, t, f, j)
    j = _volatility_features(h, lo, c, returns, t, f, j)
    j = _volume_features(c, v, t, f, j)
    f[j] = detrend_linear(log_c)[1]
    j += 1
    spectral_features(log_c, edges, rolloff_fraction, f[j:j + N_SPECTRAL])
    return f


@njit(cache=True)
def _price_features(o, h, lo, c, log_c, t, f, j):  # noqa: ANN001
    for k in (1, 5, 10, 20, 60):
        f[j] = log_c[t] - log_c[t - k]
        j += 1
    f[j] = np.log(o[t] / c[t - 1])
    f[j + 1] = (h[t] - lo[t]) / c[t]
    f[j + 2] = _safe_ratio(c[t] - lo[t], h[t] - lo[t], 0.5) if h[t] > lo[t] else 0.5
    return j + 3


@njit(cache=True)
def _trend_momentum_features(h, lo, c, t, f, j):  # noqa: ANN001
    n = c.shape[0]
    a = np.empty(n)  # scratch outputs of the indicator kernels
    b = np.empty(n)
    d = np.empty(n)
    for p in (5, 10, 20, 50):
        ind.sma_into(c, p, a)
        f[j] = c[t] / a[t]
        j += 1
    for p in (12, 26):
        ind.ema_into(c, p, a)
        f[j] = c[t] / a[t]
        j += 1
    for p in (7, 14, 28):
        ind.rsi_into(c, p, a)
        f[j] = a[t]
        j += 1
    ind.macd_into(c, 12, 26, 9, a, b, d)
    f[j] = a[t] / c[t]
    f[j + 1] = b[t] / c[t]
    f[j + 2] = d[t] / c[t]
    ind.bollinger_into(c, 20, 2.0, 2.0, a, b, d)
    width = a[t] - d[t]
    f[j + 3] = (c[t] - d[t]) / width if width > 0.0 else 0.5
    f[j + 4] = width / b[t]
    ind.atr_into(h, lo, c, 14, a)
    f[j + 5] = a[t] / c[t]
    return j + 6


@njit(cache=True)
def _moments(values: np.ndarray, start: int, stop: int) -> tuple[float, float, float, float]:
    """Mean and the 2nd, 3rd, 4th central moments (population) of values[start:stop]."""
    count = stop - start
    mean = 0.0
    for i in range(start, stop):
        mean += values[i]
    mean /= count
    m2 = 0.0
    m3 = 0.0
    m4 = 0.0
    for i in range(start, stop):
        d = values[i] - mean
        d2 = d * d
        m2 += d2
        m3 += d2 * d
        m4 += d2 * d2
    return mean, m2 / count, m3 / count, m4 / count


@njit(cache=True)
def _sample_std_of_last(values: np.ndarray, t: int, period: int) -> float:
    _, m2, _, _ = _moments(values, t - period + 1, t + 1)
    return np.sqrt(m2 * period / (period - 1))


@njit(cache=True)
def _volatility_features(h, lo, c, returns, t, f, j):  # noqa: ANN001
    vol5 = _sample_std_of_last(returns, t, 5)
    vol10 = _sample_std_of_last(returns, t, 10)
    vol20 = _sample_std_of_last(returns, t, 20)
    vol60 = _sample_std_of_last(returns, t, 60)
    f[j] = vol5
    f[j + 1] = vol10
    f[j + 2] = vol20
    f[j + 3] = vol60
    f[j + 4] = _safe_ratio(vol5, vol20, 1.0)
    f[j + 5] = _safe_ratio(vol20, vol60, 1.0)
    range_sq = 0.0
    for i in range(t - 19, t + 1):
        r = np.log(h[i] / lo[i])
        range_sq += r * r
    f[j + 6] = np.sqrt(range_sq / (4.0 * np.log(2.0) * 20))
    _, m2, m3, m4 = _moments(returns, t - 59, t + 1)
    if m2 > _TINY * _TINY:
        f[j + 7] = m3 / m2**1.5
        f[j + 8] = m4 / (m2 * m2) - 3.0
    else:
        f[j + 7] = 0.0
        f[j + 8] = 0.0
    peak = c[t]
    for i in range(t - 59, t):
        peak = max(peak, c[i])
    f[j + 9] = np.log(c[t] / peak)
    return j + 10


@njit(cache=True)
def _volume_features(c, v, t, f, j):  # noqa: ANN001
    for p in (5, 20):
        mean, _, _, _ = _moments(v, t - p + 1, t + 1)
        f[j] = v[t] / mean if mean > 0.0 else 1.0
        j += 1
    for p in (20, 60):
        mean, m2, _, _ = _moments(v, t - p + 1, t + 1)
        std = np.sqrt(m2)
        f[j] = (v[t] - mean) / std if std > 1e-9 * mean else 0.0
        j += 1
    signed = 0.0
    total = 0.0
    for i in range(t - 19, t + 1):
        total += v[i]
        if c[i] > c[i - 1]:
            signed += v[i]
        elif c[i] < c[i - 1]:
            signed -= v[i]
    f[j] = signed / total if total > 0.0 else 0.0
    return j + 1

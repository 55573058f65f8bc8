"""Rolling indicators as Numba kernels with TA-Lib's semantics.

Every function takes 1-D float64 arrays, returns arrays of the input's length, and puts NaN
exactly where TA-Lib gives no value (its "lookback"). Averages are seeded the way TA-Lib seeds
them (unstable period 0, default compatibility): an EMA starts from the SMA of its first
`period` values, Wilder averages (RSI, ATR) from the plain mean of their first `period` terms.
Argument names follow TA-Lib's Python wrapper, with `period` for `timeperiod`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# How often (in steps) the sliding variance of `volatility` is recomputed from scratch,
# so that rounding drift of the add/remove updates cannot accumulate over long series.
_VARIANCE_RESYNC_STEPS = 1024


@njit(cache=True)
def _nan_array(n: int) -> np.ndarray:
    out = np.empty(n)
    out[:] = np.nan
    return out


@njit(cache=True)
def _check_period(period: int, minimum: int) -> None:
    if period < minimum:
        raise ValueError("period is below the minimum TA-Lib accepts for this indicator")


@njit(cache=True)
def sma(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Simple moving average; first value at index period-1 (TA-Lib SMA)."""
    _check_period(period, 2)
    n = close.shape[0]
    out = _nan_array(n)
    if n < period:
        return out
    total = 0.0
    for i in range(period - 1):
        total += close[i]
    for i in range(period - 1, n):
        total += close[i]
        out[i] = total / period
        total -= close[i - period + 1]
    return out


@njit(cache=True)
def _ema_into(values: np.ndarray, start: int, period: int, k: float, out: np.ndarray) -> None:
    """EMA of values[start:], seeded with the SMA of its first `period` values, written from
    index start+period-1 on; positions before that are left untouched."""
    n = values.shape[0]
    if n - start < period:
        return
    total = 0.0
    for i in range(start, start + period):
        total += values[i]
    prev = total / period
    first = start + period - 1
    out[first] = prev
    for i in range(first + 1, n):
        prev = (values[i] - prev) * k + prev
        out[i] = prev


@njit(cache=True)
def ema(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Exponential moving average, k = 2/(period+1), seeded with the first SMA (TA-Lib EMA)."""
    _check_period(period, 2)
    out = _nan_array(close.shape[0])
    _ema_into(close, 0, period, 2.0 / (period + 1), out)
    return out


@njit(cache=True)
def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI; first value at index `period` (TA-Lib RSI, unstable period 0)."""
    _check_period(period, 2)
    n = close.shape[0]
    out = _nan_array(n)
    if n <= period:
        return out
    gain = 0.0
    loss = 0.0
    for i in range(1, period + 1):
        change = close[i] - close[i - 1]
        if change < 0.0:
            loss -= change
        else:
            gain += change
    gain /= period
    loss /= period
    out[period] = _rsi_value(gain, loss)
    for i in range(period + 1, n):
        change = close[i] - close[i - 1]
        gain *= period - 1
        loss *= period - 1
        if change < 0.0:
            loss -= change
        else:
            gain += change
        gain /= period
        loss /= period
        out[i] = _rsi_value(gain, loss)
    return out


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    if total == 0.0:
        return 0.0  # TA-Lib's value when nothing moved
    return 100.0 * (gain / total)


@njit(cache=True)
def macd(
    close: np.ndarray, fast_period: int = 12, slow_period: int = 26, signal_period: int = 9
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal and histogram (TA-Lib MACD).

    As in TA-Lib, the fast EMA is seeded at the same bar as the slow one (its seed SMA covers
    the `fast_period` bars ending where the slow EMA starts), and all three outputs start at
    index slow_period + signal_period - 2.
    """
    _check_period(fast_period, 2)
    _check_period(slow_period, 2)
    _check_period(signal_period, 1)
    if slow_period < fast_period:
        fast_period, slow_period = slow_period, fast_period
    n = close.shape[0]
    line = _nan_array(n)
    signal = _nan_array(n)
    hist = _nan_array(n)
    first = slow_period - 1
    if n <= first + signal_period - 1:
        return line, signal, hist
    slow = _nan_array(n)
    fast = _nan_array(n)
    _ema_into(close, 0, slow_period, 2.0 / (slow_period + 1), slow)
    _ema_into(close, first - fast_period + 1, fast_period, 2.0 / (fast_period + 1), fast)
    raw = _nan_array(n)
    for i in range(first, n):
        raw[i] = fast[i] - slow[i]
    _ema_into(raw, first, signal_period, 2.0 / (signal_period + 1), signal)
    for i in range(first + signal_period - 1, n):
        line[i] = raw[i]
        hist[i] = raw[i] - signal[i]
    return line, signal, hist


@njit(cache=True)
def bollinger(
    close: np.ndarray, period: int = 20, nbdev_up: float = 2.0, nbdev_down: float = 2.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands (upper, middle, lower) around the SMA with the population standard
    deviation over the same `period` bars (TA-Lib BBANDS, matype SMA)."""
    _check_period(period, 2)
    n = close.shape[0]
    middle = sma(close, period)
    upper = _nan_array(n)
    lower = _nan_array(n)
    m2 = _rolling_m2(close, 0, period)
    for i in range(period - 1, n):
        std = np.sqrt(m2[i] / period)
        upper[i] = middle[i] + std * nbdev_up
        lower[i] = middle[i] - std * nbdev_down
    return upper, middle, lower


@njit(cache=True)
def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray, i: int) -> float:
    prev_close = close[i - 1]
    greatest = high[i] - low[i]
    up = abs(prev_close - high[i])
    if up > greatest:
        greatest = up
    down = abs(low[i] - prev_close)
    if down > greatest:
        greatest = down
    return greatest


@njit(cache=True)
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Average true range, Wilder-smoothed, seeded with the mean true range of bars 1..period;
    first value at index `period` (TA-Lib ATR)."""
    _check_period(period, 1)
    n = close.shape[0]
    out = _nan_array(n)
    if n <= period:
        return out
    total = 0.0
    for i in range(1, period + 1):
        total += _true_range(high, low, close, i)
    prev = total / period
    out[period] = prev
    for i in range(period + 1, n):
        prev = (prev * (period - 1) + _true_range(high, low, close, i)) / period
        out[i] = prev
    return out


@njit(cache=True)
def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume starting from the first bar's volume (TA-Lib OBV)."""
    n = close.shape[0]
    out = np.empty(n)
    if n == 0:
        return out
    total = volume[0]
    out[0] = total
    for i in range(1, n):
        if close[i] > close[i - 1]:
            total += volume[i]
        elif close[i] < close[i - 1]:
            total -= volume[i]
        out[i] = total
    return out


@njit(cache=True)
def volatility(close: np.ndarray, period: int = 20) -> np.ndarray:
    """Sample standard deviation (ddof=1) of the last `period` daily log returns
    ln(close[i]/close[i-1]); first value at index `period`. Not a TA-Lib function: it equals
    TA-Lib's STDDEV(log returns, period) * sqrt(period/(period-1))."""
    _check_period(period, 2)
    n = close.shape[0]
    out = _nan_array(n)
    if n <= period:
        return out
    returns = np.empty(n)
    returns[0] = 0.0
    for i in range(1, n):
        returns[i] = np.log(close[i] / close[i - 1])
    m2 = _rolling_m2(returns, 1, period)
    for i in range(period, n):
        out[i] = np.sqrt(m2[i] / (period - 1))
    return out


@njit(cache=True)
def _rolling_m2(values: np.ndarray, start: int, period: int) -> np.ndarray:
    """Sum of squared deviations from the mean over each window values[i-period+1 .. i],
    for windows inside values[start:]; Welford's sliding update, resynchronised exactly every
    _VARIANCE_RESYNC_STEPS windows. Entries before the first full window are undefined."""
    n = values.shape[0]
    m2_out = np.empty(n)
    first = start + period - 1
    if n <= first:
        return m2_out
    mean, m2 = _mean_m2(values, start, first + 1)
    equal_run = _equal_run(values, start, first)
    m2_out[first] = 0.0 if equal_run >= period else max(m2, 0.0)
    for i in range(first + 1, n):
        new = values[i]
        old = values[i - period]
        equal_run = equal_run + 1 if new == values[i - 1] else 1
        if (i - first) % _VARIANCE_RESYNC_STEPS == 0:
            mean, m2 = _mean_m2(values, i - period + 1, i + 1)
        else:
            new_mean = mean + (new - old) / period
            m2 += (new - old) * (new - new_mean + old - mean)
            mean = new_mean
        # A window of identical values has exactly zero spread; the sliding update would
        # leave rounding residue there instead.
        m2_out[i] = 0.0 if equal_run >= period else max(m2, 0.0)
    return m2_out


@njit(cache=True)
def _mean_m2(values: np.ndarray, start: int, stop: int) -> tuple[float, float]:
    mean = 0.0
    for i in range(start, stop):
        mean += values[i]
    mean /= stop - start
    m2 = 0.0
    for i in range(start, stop):
        d = values[i] - mean
        m2 += d * d
    return mean, m2


@njit(cache=True)
def _equal_run(values: np.ndarray, start: int, last: int) -> int:
    """Length of the run of values equal to values[last], looking back no further than start."""
    run = 1
    for i in range(last - 1, start - 1, -1):
        if values[i] != values[last]:
            break
        run += 1
    return run

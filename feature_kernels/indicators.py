"""Rolling indicators with TA-Lib's semantics: Numba kernels plus TA-Lib-style wrappers.

Every indicator returns arrays of the input's length with NaN exactly where TA-Lib gives no
value (its "lookback"). Averages are seeded the way TA-Lib seeds them (unstable period 0,
default compatibility): an EMA starts from the SMA of its first `period` values, Wilder
averages (RSI, ATR) from the plain mean of their first `period` terms. Argument names follow
TA-Lib's Python wrapper, with `period` for `timeperiod`.

The work is done by `@njit(cache=True)` kernels named `*_into`, which write into arrays the
caller provides (usable from other Numba code, e.g. the feature pipeline). The public
functions (`sma`, `rsi`, ...) allocate their outputs with NumPy and call the kernels, as
TA-Lib's wrapper does around its C functions: NumPy's allocator keeps long outputs on huge
pages, while arrays allocated inside Numba pay a page fault per 4 KiB on every call.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# How often (in windows) the sliding variance is recomputed from scratch, so that rounding
# drift of the add/remove updates cannot accumulate over long series.
_VARIANCE_RESYNC_STEPS = 1024


def _as_series(values: np.ndarray) -> np.ndarray:
    series = np.ascontiguousarray(values, dtype=np.float64)
    if series.ndim != 1:
        raise ValueError(f"expected a 1-D series, got shape {series.shape}")
    return series


def _check_period(period: int, minimum: int) -> int:
    if int(period) != period or period < minimum:
        raise ValueError(f"period must be an integer >= {minimum}, got {period!r}")
    return int(period)


def sma(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Simple moving average; first value at index period-1 (TA-Lib SMA)."""
    close = _as_series(close)
    out = np.empty_like(close)
    sma_into(close, _check_period(period, 2), out)
    return out


def ema(close: np.ndarray, period: int = 30) -> np.ndarray:
    """Exponential moving average, k = 2/(period+1), seeded with the first SMA (TA-Lib EMA)."""
    close = _as_series(close)
    out = np.empty_like(close)
    ema_into(close, _check_period(period, 2), out)
    return out


def rsi(close: np.ndarray, period: int = 14) -> np.ndarray:
    """Wilder's RSI; first value at index `period`; 0 where nothing moved (TA-Lib RSI)."""
    close = _as_series(close)
    out = np.empty_like(close)
    rsi_into(close, _check_period(period, 2), out)
    return out


def macd(close: np.ndarray, fast_period: int = 12, slow_period: int = 26,
         signal_period: int = 9) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MACD line, signal and histogram (TA-Lib MACD).

    As in TA-Lib, the fast EMA is seeded at the same bar as the slow one (its seed SMA covers
    the `fast_period` bars ending where the slow EMA starts), and all three outputs start at
    index slow_period + signal_period - 2.
    """
    close = _as_series(close)
    fast, slow = _check_period(fast_period, 2), _check_period(slow_period, 2)
    line, signal, hist = np.empty_like(close), np.empty_like(close), np.empty_like(close)
    macd_into(close, min(fast, slow), max(fast, slow), _check_period(signal_period, 1), line, signal, hist)
    return line, signal, hist


def bollinger(close: np.ndarray, period: int = 20, nbdev_up: float = 2.0,
              nbdev_down: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bollinger bands (upper, middle, lower) around the SMA with the population standard
    deviation over the same `period` bars (TA-Lib BBANDS, matype SMA)."""
    close = _as_series(close)
    upper, middle, lower = np.empty_like(close), np.empty_like(close), np.empty_like(close)
    bollinger_into(close, _check_period(period, 2), float(nbdev_up), float(nbdev_down), upper, middle, lower)
    return upper, middle, lower


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int = 14) -> np.ndarray:
    """Average true range, Wilder-smoothed, seeded with the mean true range of bars 1..period;
    first value at index `period` (TA-Lib ATR)."""
    high, low, close = _as_series(high), _as_series(low), _as_series(close)
    if not high.shape == low.shape == close.shape:
        raise ValueError(f"high, low, close differ in length: {high.shape}, {low.shape}, {close.shape}")
    out = np.empty_like(close)
    atr_into(high, low, close, _check_period(period, 1), out)
    return out


def obv(close: np.ndarray, volume: np.ndarray) -> np.ndarray:
    """On-balance volume starting from the first bar's volume (TA-Lib OBV)."""
    close, volume = _as_series(close), _as_series(volume)
    if close.shape != volume.shape:
        raise ValueError(f"close and volume differ in length: {close.shape}, {volume.shape}")
    out = np.empty_like(close)
    obv_into(close, volume, out)
    return out


def volatility(close: np.ndarray, period: int = 20) -> np.ndarray:
    """Sample standard deviation (ddof=1) of the last `period` daily log returns
    ln(close[i]/close[i-1]); first value at index `period`. Not a TA-Lib function: it equals
    TA-Lib's STDDEV(log returns, period) * sqrt(period/(period-1))."""
    close = _as_series(close)
    period = _check_period(period, 2)
    returns = np.empty_like(close)
    returns[:1] = 0.0
    np.log(close[1:] / close[:-1], out=returns[1:])  # NumPy's log is vectorised; Numba's is not
    out = np.empty_like(close)
    rolling_std_into(returns, 1, period, 1, out)
    return out


@njit(cache=True)
def _fill_warmup(out: np.ndarray, lookback: int) -> None:
    out[:min(lookback, out.shape[0])] = np.nan


@njit(cache=True)
def sma_into(close: np.ndarray, period: int, out: np.ndarray) -> None:
    n = close.shape[0]
    _fill_warmup(out, period - 1)
    if n < period:
        return
    inv_period = 1.0 / period
    total = 0.0
    for i in range(period):
        total += close[i]
    out[period - 1] = total * inv_period
    for i in range(period, n):
        total += close[i] - close[i - period]  # one add on the dependency chain
        out[i] = total * inv_period


@njit(cache=True)
def _seed_mean(values: np.ndarray, start: int, period: int) -> float:
    total = 0.0
    for i in range(start, start + period):
        total += values[i]
    return total / period


@njit(cache=True, fastmath={"contract"})  # fused multiply-adds, as TA-Lib's FMA build
def _ema_from(values: np.ndarray, start: int, period: int, out: np.ndarray) -> None:
    """EMA of values[start:], seeded with the SMA of its first `period` values, written from
    index start+period-1 on; earlier positions are left untouched."""
    n = values.shape[0]
    if n - start < period:
        return
    k = 2.0 / (period + 1)
    prev = _seed_mean(values, start, period)
    first = start + period - 1
    out[first] = prev
    for i in range(first + 1, n):
        # TA-Lib's operation order: MACD subtracts two EMAs, which magnifies any rounding change.
        prev = (values[i] - prev) * k + prev
        out[i] = prev


@njit(cache=True)
def ema_into(close: np.ndarray, period: int, out: np.ndarray) -> None:
    _fill_warmup(out, period - 1)
    _ema_from(close, 0, period, out)


@njit(cache=True)
def _rsi_value(gain: float, loss: float) -> float:
    total = gain + loss
    if total == 0.0:
        return 0.0  # TA-Lib's value when nothing moved
    return 100.0 * (gain / total)


@njit(cache=True, fastmath={"contract"})  # fused multiply-adds, as TA-Lib's FMA build
def rsi_into(close: np.ndarray, period: int, out: np.ndarray) -> None:
    n = close.shape[0]
    _fill_warmup(out, period)
    if n <= period:
        return
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
    keep = (period - 1) / period
    weight = 1.0 / period
    for i in range(period + 1, n):
        change = close[i] - close[i - 1]
        # Wilder's (prev*(period-1) + x)/period as multiply-adds, off a division chain
        gain = gain * keep + max(change, 0.0) * weight
        loss = loss * keep + max(-change, 0.0) * weight
        out[i] = _rsi_value(gain, loss)


@njit(cache=True, fastmath={"contract"})  # fused multiply-adds, as TA-Lib's FMA build
def macd_into(close: np.ndarray, fast_period: int, slow_period: int, signal_period: int,
              line: np.ndarray, signal: np.ndarray, hist: np.ndarray) -> None:
    """fast_period <= slow_period."""
    n = close.shape[0]
    first = slow_period - 1
    lookback = first + signal_period - 1
    _fill_warmup(line, lookback)
    _fill_warmup(signal, lookback)
    _fill_warmup(hist, lookback)
    if n <= lookback:
        return
    # One pass, three chains (slow, fast, signal EMAs) as TA-Lib's FMA build runs them.
    # `line` holds the raw MACD from `first` on; its warm-up part is reset to NaN at the end.
    k_slow, k_fast = 2.0 / (slow_period + 1), 2.0 / (fast_period + 1)
    k_signal = 2.0 / (signal_period + 1)
    slow = _seed_mean(close, 0, slow_period)
    fast = _seed_mean(close, first - fast_period + 1, fast_period)
    line[first] = fast - slow
    for i in range(first + 1, lookback + 1):
        slow = (close[i] - slow) * k_slow + slow
        fast = (close[i] - fast) * k_fast + fast
        line[i] = fast - slow
    sig = _seed_mean(line, first, signal_period)
    signal[lookback] = sig
    hist[lookback] = line[lookback] - sig
    for i in range(lookback + 1, n):
        slow = (close[i] - slow) * k_slow + slow
        fast = (close[i] - fast) * k_fast + fast
        value = fast - slow
        sig = (value - sig) * k_signal + sig
        line[i] = value
        signal[i] = sig
        hist[i] = value - sig
    line[first:lookback] = np.nan


@njit(cache=True)
def bollinger_into(close: np.ndarray, period: int, nbdev_up: float, nbdev_down: float,
                   upper: np.ndarray, middle: np.ndarray, lower: np.ndarray) -> None:
    sma_into(close, period, middle)
    rolling_std_into(close, 0, period, 0, upper)  # the std, turned into the band below
    _fill_warmup(lower, period - 1)
    for i in range(period - 1, close.shape[0]):
        std = upper[i]
        upper[i] = middle[i] + std * nbdev_up
        lower[i] = middle[i] - std * nbdev_down


@njit(cache=True)
def _true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray, i: int) -> float:
    prev_close = close[i - 1]
    return max(high[i] - low[i], abs(prev_close - high[i]), abs(low[i] - prev_close))


@njit(cache=True, fastmath={"contract"})  # fused multiply-adds, as TA-Lib's FMA build
def atr_into(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int, out: np.ndarray) -> None:
    n = close.shape[0]
    _fill_warmup(out, period)
    if n <= period:
        return
    total = 0.0
    for i in range(1, period + 1):
        total += _true_range(high, low, close, i)
    prev = total / period
    out[period] = prev
    keep = (period - 1) / period
    weight = 1.0 / period
    for i in range(period + 1, n):
        prev = prev * keep + _true_range(high, low, close, i) * weight
        out[i] = prev


@njit(cache=True)
def obv_into(close: np.ndarray, volume: np.ndarray, out: np.ndarray) -> None:
    n = close.shape[0]
    if n == 0:
        return
    total = volume[0]
    out[0] = total
    for i in range(1, n):
        if close[i] > close[i - 1]:
            total += volume[i]
        elif close[i] < close[i - 1]:
            total -= volume[i]
        out[i] = total


@njit(cache=True)
def rolling_std_into(values: np.ndarray, start: int, period: int, ddof: int, out: np.ndarray) -> None:
    """Standard deviation of each window values[i-period+1 .. i] inside values[start:], NaN
    before the first full window. Welford's sliding update of the squared deviations,
    resynchronised exactly every _VARIANCE_RESYNC_STEPS windows."""
    n = values.shape[0]
    first = start + period - 1
    _fill_warmup(out, first)
    if n <= first:
        return
    inv_period = 1.0 / period
    inv_dof = 1.0 / (period - ddof)
    mean, m2 = _mean_m2(values, start, first + 1)
    equal_run = _equal_run(values, start, first)
    out[first] = _std_from_m2(m2, inv_dof, equal_run >= period)
    for i in range(first + 1, n):
        new = values[i]
        old = values[i - period]
        equal_run = equal_run + 1 if new == values[i - 1] else 1
        if (i - first) % _VARIANCE_RESYNC_STEPS == 0:
            mean, m2 = _mean_m2(values, i - period + 1, i + 1)
        else:
            new_mean = mean + (new - old) * inv_period
            m2 += (new - old) * (new - new_mean + old - mean)
            mean = new_mean
        out[i] = _std_from_m2(m2, inv_dof, equal_run >= period)


@njit(cache=True)
def _std_from_m2(m2: float, inv_dof: float, all_equal: bool) -> float:
    # A window of identical values has exactly zero spread; the sliding update would leave
    # rounding residue there instead.
    if all_equal or m2 <= 0.0:
        return 0.0
    return np.sqrt(m2 * inv_dof)


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

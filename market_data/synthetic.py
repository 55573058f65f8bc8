"""A synthetic market of small caps for the embedded default and the tests.

Each symbol follows a GARCH(1,1) process with Student-t(5) innovations and an AR(1) term on returns,
plus rare overnight jumps; the statistics below are those of daily close-to-close log returns that
the generator is built to match (checked in tests/market_data/test_synthetic.py):

- fat tails: excess kurtosis clearly above 0 (sWIG80 stocks show 3-10; the generator gives a median of ~4-6);
- volatility clustering: positive autocorrelation of squared returns (lag 1 around 0.05-0.2,
  slowly decaying: GARCH persistence alpha + beta = 0.97);
- short-term reversal: lag-1 autocorrelation of returns around -0.1 (AR coefficient -0.1);
- gaps: the open differs from the previous close by part of the day's move plus noise, and about
  1% of days carry a jump of ~3 daily sigmas that happens overnight;
- no-trade days: about 0.5% of weekdays per symbol have no bar (the price is unchanged across them);
- volume rises with absolute returns (log volume = persistent noise + 0.5 * |shock| / sigma), so
  corr(|return|, log volume) is positive;
- OHLC consistency: low <= min(open, close) <= max(open, close) <= high, all prices > 0.

The generator knows the true conditional distribution of each next-bar log return:
`synthesize_with_truth` also returns, per bar, the mean and standard deviation of the log return to
the next bar given everything up to that bar's close (the planted signal a model can at best recover;
see training/planted_signal.py).

Deterministic: symbol i draws from `numpy.random.default_rng([seed, i])`, so a seed gives the same
market on any machine, and the first k symbols do not depend on how many follow. The calendar is
the last `n_days` weekdays up to a fixed date, so nothing depends on today's date.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np

from market_data.bars import BarSeries
from market_data.symbols import index_members

CALENDAR_END = datetime.date(2025, 12, 31)


@dataclass(frozen=True)
class SmallCapDynamics:
    daily_volatility: tuple[float, float] = (0.015, 0.03)  # range of unconditional sigma per symbol
    garch_alpha: float = 0.08
    garch_beta: float = 0.89
    student_df: float = 5.0
    reversal: float = -0.1  # AR(1) coefficient of returns
    overnight_share: float = 0.3  # share of the day's move that happens before the open
    jump_probability: float = 0.01
    jump_sigmas: float = 3.0
    no_trade_probability: float = 0.005
    range_sigmas: float = 0.5  # typical wick beyond the body, in daily sigmas
    volume_per_sigma: float = 0.5
    volume_persistence: float = 0.6
    start_price: tuple[float, float] = (5.0, 150.0)
    price_decimals: int = 2


def synthetic_tickers(n_symbols: int) -> list[str]:
    """sWIG80 tickers in order, then SYN081, SYN082, ... beyond the 80 real ones."""
    real = index_members("sWIG80")
    return real[:n_symbols] + [f"SYN{i + 1:03d}" for i in range(len(real), n_symbols)]


def trading_calendar(n_days: int, end: datetime.date = CALENDAR_END) -> np.ndarray:
    """The last `n_days` weekdays up to `end`, ascending, as datetime64[D]."""
    end_day = np.datetime64(end, "D")
    span = np.arange(end_day - np.timedelta64(n_days * 7 // 5 + 7, "D"), end_day + 1)
    weekdays = span[np.is_busday(span)]
    return weekdays[-n_days:]


@dataclass(frozen=True)
class NextBarTruth:
    """For each bar of a series: the true mean and std of log(close[next bar] / close[bar]) given the past.

    The std is that of the Gaussian with the true conditional variance (GARCH variance, Student-t shocks
    scaled to it, plus the jump variance); the last bar has no next bar (NaN). Price rounding to the
    tick is ignored.
    """

    dates: np.ndarray
    mean: np.ndarray
    std: np.ndarray


def synthesize(n_symbols: int, n_days: int, seed: int) -> list[BarSeries]:
    """`n_symbols` series over the last `n_days` weekdays to 2025-12-31; see the module docstring."""
    return [series for series, _ in synthesize_with_truth(n_symbols, n_days, seed)]


def synthesize_with_truth(n_symbols: int, n_days: int, seed: int) -> list[tuple[BarSeries, NextBarTruth]]:
    """The same market as `synthesize`, each series with its `NextBarTruth`."""
    if n_symbols < 1 or n_days < 2:
        raise ValueError(f"need at least 1 symbol and 2 days, got {n_symbols} symbols, {n_days} days")
    calendar = trading_calendar(n_days)
    dynamics = SmallCapDynamics()
    return [
        _synthesize_symbol(ticker, calendar, np.random.default_rng([seed, i]), dynamics)
        for i, ticker in enumerate(synthetic_tickers(n_symbols))
    ]


def _garch_returns(rng: np.random.Generator, n: int, sigma: float, d: SmallCapDynamics) -> tuple[np.ndarray, ...]:
    """(returns, conditional sigmas, shocks in sigmas) of an AR(1)-GARCH(1,1)-t process."""
    t_scale = np.sqrt(d.student_df / (d.student_df - 2.0))
    shocks = rng.standard_t(d.student_df, size=n) / t_scale
    omega = sigma**2 * (1.0 - d.garch_alpha - d.garch_beta)
    variance, previous_return = sigma**2, 0.0
    returns, sigmas = np.empty(n), np.empty(n)
    for t in range(n):
        sigmas[t] = np.sqrt(variance)
        innovation = sigmas[t] * shocks[t]
        returns[t] = d.reversal * previous_return + innovation
        variance = omega + d.garch_alpha * innovation**2 + d.garch_beta * variance
        previous_return = returns[t]
    return returns, sigmas, shocks


def _synthesize_symbol(
    ticker: str, calendar: np.ndarray, rng: np.random.Generator, d: SmallCapDynamics
) -> tuple[BarSeries, NextBarTruth]:
    n = len(calendar)
    sigma = rng.uniform(*d.daily_volatility)
    latent, sigmas, shocks = _garch_returns(rng, n, sigma, d)
    jumps = (rng.random(n) < d.jump_probability) * rng.normal(0.0, d.jump_sigmas * sigma, n)
    traded = rng.random(n) >= d.no_trade_probability
    traded[0] = True
    returns = np.where(traded, latent + jumps, 0.0)
    overnight = np.where(traded, d.overnight_share * (returns - jumps) + jumps, 0.0)
    overnight += rng.normal(0.0, 0.2, n) * sigmas * traded

    start = np.exp(rng.uniform(*np.log(d.start_price)))
    close = start * np.exp(np.cumsum(returns))
    previous_close = np.concatenate([[start], close[:-1]])
    open_ = previous_close * np.exp(overnight)
    wick = d.range_sigmas * sigmas
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 1.0, n)) * wick)
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 1.0, n)) * wick)

    ohlc = np.round(np.column_stack([open_, high, low, close]), d.price_decimals)
    ohlc = np.maximum(ohlc, 10.0**-d.price_decimals)
    ohlc[:, 1] = ohlc.max(axis=1)  # rounding must not break high >= open/close, low <= open/close
    ohlc[:, 2] = ohlc[:, [0, 2, 3]].min(axis=1)
    volume = _volume(rng, n, shocks + jumps / sigma, d)
    ohlcv = np.column_stack([ohlc, volume])
    truth = _next_bar_truth(latent, sigmas, traded, sigma, d)
    return BarSeries(ticker, calendar[traded], ohlcv[traded]), NextBarTruth(calendar[traded], *truth)


def _next_bar_truth(latent: np.ndarray, sigmas: np.ndarray, traded: np.ndarray, sigma: float,
                    d: SmallCapDynamics) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of the log return from each traded day c to the next traded day c + k.

    Untraded days carry no return, so that return is the latent AR-GARCH return of day c + k plus its
    jump: mean reversal^k r_c, variance sigma_{c+1}^2 (1 + reversal^2 + ... + reversal^(2(k-1))) (later
    GARCH variances taken at their value for c + 1) plus the jump variance.
    """
    days = np.flatnonzero(traded)
    gaps = np.diff(days)  # k for every traded day but the last
    mean, std = np.full(len(days), np.nan), np.full(len(days), np.nan)
    ar_sum = (1 - d.reversal ** (2 * gaps)) / (1 - d.reversal**2)
    jump_variance = d.jump_probability * (d.jump_sigmas * sigma) ** 2
    mean[:-1] = d.reversal**gaps * latent[days[:-1]]
    std[:-1] = np.sqrt(sigmas[days[:-1] + 1] ** 2 * ar_sum + jump_variance)
    return mean, std


def _volume(rng: np.random.Generator, n: int, shocks: np.ndarray, d: SmallCapDynamics) -> np.ndarray:
    base = np.exp(rng.uniform(np.log(2e3), np.log(2e5)))
    noise = rng.normal(0.0, 0.5, n)
    persistent = np.empty(n)
    level = 0.0
    for t in range(n):
        level = d.volume_persistence * level + noise[t]
        persistent[t] = level
    return np.maximum(np.round(base * np.exp(persistent + d.volume_per_sigma * np.abs(shocks))), 1.0)

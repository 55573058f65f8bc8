"""Variance baselines for the distribution scores: what a risk desk would use without any model.

Each gives, for a sample (symbol, day t), a Gaussian forecast of the forward log return r_h with mean 0
(a random walk) and a variance that uses daily log returns up to day t only:

- constant: the train split's variance of r_h, per horizon;
- EWMA (RiskMetrics, lambda 0.94): s2_t = lambda s2_{t-1} + (1 - lambda) r_t^2; r_h gets h s2_t;
- rolling 20-day: the mean of the last 20 squared daily returns; r_h gets h times it;
- GARCH(1,1): per symbol, fitted with `arch` on that symbol's daily returns up to the end of the train
  split only (zero mean, normal innovations), then run forward with those parameters; r_h gets the sum of
  the 1..h-step variance forecasts v_1 = s2_{t+1}, v_{k+1} = omega + (alpha + beta) v_k.
"""

from __future__ import annotations

import datetime
import warnings

import numpy as np

from market_data.bars import BarSeries
from training.dataset import Samples

EWMA_LAMBDA = 0.94
ROLLING_DAYS = 20
GARCH_SCALE = 100.0  # arch fits best on returns in percent
MIN_GARCH_DAYS = 100


def daily_log_returns(series: BarSeries) -> np.ndarray:
    """(n,): r[t] = log(close[t] / close[t-1]); r[0] = 0."""
    log_close = np.log(series.close.astype(np.float64))
    return np.concatenate([[0.0], np.diff(log_close)])


def ewma_variance(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """(n,): the one-day variance forecast made at the close of day t (started at 0 and divided by
    1 - lam^(t+1), so the early days are an average of what was seen, not of what comes later)."""
    out = np.empty(len(returns))
    level = 0.0
    for t, r in enumerate(returns):
        level = lam * level + (1 - lam) * r * r
        out[t] = level / (1 - lam ** (t + 1))
    return out


def rolling_variance(returns: np.ndarray, days: int = ROLLING_DAYS) -> np.ndarray:
    squared = np.concatenate([[0.0], np.cumsum(returns**2)])
    t = np.arange(len(returns))
    start = np.maximum(t + 1 - days, 0)
    return (squared[t + 1] - squared[start]) / np.maximum(t + 1 - start, 1)


def garch_parameters(train_returns: np.ndarray) -> tuple[float, float, float]:
    """(omega, alpha, beta) in squared log-return units, fitted with arch on train returns only."""
    from arch import arch_model

    model = arch_model(GARCH_SCALE * train_returns, mean="Zero", vol="GARCH", p=1, q=1, dist="normal",
                       rescale=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter; a failed fit falls back below
        fit = model.fit(disp="off", show_warning=False)
    omega, alpha, beta = (float(fit.params[k]) for k in ("omega", "alpha[1]", "beta[1]"))
    return omega / GARCH_SCALE**2, alpha, beta


def garch_path_variance(returns: np.ndarray, params: tuple[float, float, float], horizons: int,
                        start_variance: float) -> np.ndarray:
    """(n, H): variance of the h-day sum forecast at the close of day t."""
    omega, alpha, beta = params
    next_var = np.empty(len(returns))
    level = start_variance
    for t, r in enumerate(returns):
        level = omega + alpha * r * r + beta * level  # s2_{t+1} from r_t and s2_t
        next_var[t] = level
    steps, out = next_var.copy(), np.empty((len(returns), horizons))
    total = np.zeros(len(returns))
    for h in range(horizons):
        total = total + steps
        out[:, h] = total
        steps = omega + (alpha + beta) * steps
    return out


def _symbol_variances(series: BarSeries, train_end: datetime.date, horizons: int) -> dict[str, np.ndarray]:
    returns = daily_log_returns(series)
    scale = np.arange(1, horizons + 1)
    in_train = series.dates <= np.datetime64(train_end)
    train_returns = returns[1:][in_train[1:]]
    start = float(np.mean(train_returns**2)) if len(train_returns) else float(np.mean(returns**2))
    out = {"ewma": ewma_variance(returns)[:, None] * scale, "rolling_20": rolling_variance(returns)[:, None] * scale}
    if len(train_returns) >= MIN_GARCH_DAYS:
        params = garch_parameters(train_returns)
        out["garch"] = garch_path_variance(returns, params, horizons, start)
    else:  # too little train history to fit: the symbol's train variance, flat
        out["garch"] = np.full((len(returns), horizons), start) * scale
    return out


def variance_baselines(series_list: list[BarSeries], train: Samples, splits: dict[str, Samples],
                       train_end: datetime.date) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{split: {name: (mean, std)}} for constant, ewma, rolling_20, garch, on each split's rows."""
    horizons = train.targets.shape[1]
    per_symbol = {s.symbol: (s.dates, _symbol_variances(s, train_end, horizons)) for s in series_list}
    constant_var = np.var(train.targets.astype(np.float64), axis=0)
    out = {}
    for split, samples in splits.items():
        zero = np.zeros(samples.targets.shape)
        result = {"constant": (zero, np.broadcast_to(np.sqrt(constant_var), zero.shape))}
        for name in ("ewma", "rolling_20", "garch"):
            variance = np.empty(zero.shape)
            for symbol in np.unique(samples.symbols):
                rows = np.flatnonzero(samples.symbols == symbol)
                dates, variances = per_symbol[symbol]
                variance[rows] = variances[name][np.searchsorted(dates, samples.dates[rows])]
            result[name] = (zero, np.sqrt(np.maximum(variance, 1e-12)))
        out[split] = result
    return out

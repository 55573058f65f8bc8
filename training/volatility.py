"""Variance baselines for the distribution scores: what a risk desk would use without any model.

Each gives, for a sample (symbol, day t), a Gaussian forecast of the forward log return r_h with mean 0
(a random walk) and a variance that uses daily log returns up to day t only. Each is given what MGDL is
given: the train split to fit on and the validation split to choose on.

- constant: the symbol's own train variance of r_h, per horizon (the pooled one for a symbol with no
  train rows);
- EWMA (RiskMetrics): s2_t = lambda s2_{t-1} + (1 - lambda) r_t^2; r_h gets h s2_t; lambda chosen from
  EWMA_LAMBDAS by the validation NLL averaged over horizons (the rule MGDL's grades are kept by);
- rolling 20-day: the mean of the last 20 squared daily returns; r_h gets h times it;
- GARCH(1,1): per symbol, fitted with `arch` (zero mean, normal innovations) on that symbol's daily
  returns up to the end of the train split for the validation rows, and refitted on those up to the end
  of the validation split for the test rows (MGDL selects on validation too), then run forward with
  those parameters; r_h gets the sum of the 1..h-step variance forecasts v_1 = s2_{t+1},
  v_{k+1} = omega + (alpha + beta) v_k.
"""

from __future__ import annotations

import datetime
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from market_data.bars import BarSeries
from training.dataset import MarketDataset, Samples
from training.scoring import gaussian_nll

EWMA_LAMBDA = 0.94  # RiskMetrics' daily value: the default of `ewma_variance`
EWMA_LAMBDAS = (0.85, 0.9, 0.92, 0.94, 0.96, 0.97, 0.98, 0.99)  # the validation grid
ROLLING_DAYS = 20
GARCH_SCALE = 100.0  # arch fits best on returns in percent
MIN_GARCH_DAYS = 100
VARIANCE_BASELINES = ("constant", "ewma", "rolling_20", "garch")


def daily_log_returns(series: BarSeries) -> np.ndarray:
    """(n,): r[t] = log(close[t] / close[t-1]); r[0] = 0."""
    log_close = np.log(series.close.astype(np.float64))
    return np.concatenate([[0.0], np.diff(log_close)])


def ewma_variance(returns: np.ndarray, lam: float = EWMA_LAMBDA) -> np.ndarray:
    """(n,): the one-day variance forecast made at the close of day t (started at 0 and divided by
    1 - lam^(t+1), so the early days are an average of what was seen, not of what comes later)."""
    level = lfilter([1 - lam], [1, -lam], np.asarray(returns, dtype=np.float64) ** 2)
    return level / (1 - lam ** np.arange(1, len(returns) + 1))


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


def _in_sample(series: BarSeries, returns: np.ndarray, last_day: datetime.date) -> np.ndarray:
    """The symbol's daily returns from its second bar to `last_day`."""
    return returns[1:][series.dates[1:] <= np.datetime64(last_day)]


def _garch(series: BarSeries, returns: np.ndarray, fit_until: datetime.date, horizons: int) -> np.ndarray:
    """(n, H) GARCH path variances with parameters fitted on returns up to `fit_until`."""
    fitted = _in_sample(series, returns, fit_until)
    start = float(np.mean(fitted**2)) if len(fitted) else float(np.mean(returns**2))
    if len(fitted) < MIN_GARCH_DAYS:  # too little history to fit: the symbol's variance so far, flat
        return np.full((len(returns), horizons), start) * np.arange(1, horizons + 1)
    return garch_path_variance(returns, garch_parameters(fitted), horizons, start)


@dataclass
class VarianceBaselines:
    """{split: {name: (mean, std)}} on each split's rows, and what was chosen on validation."""

    forecasts: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]
    ewma_lambda: float

    def choices(self) -> dict:
        return {"ewma_lambda": self.ewma_lambda, "garch_fit": {"val": "train", "test": "train + validation"},
                "constant": "per symbol, train variance of each horizon"}


def _on_rows(samples: Samples, per_symbol: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """(N, H) of a per-symbol daily array (n_days, H) picked at each row's symbol and day."""
    out = np.empty(samples.targets.shape)
    for symbol in np.unique(samples.symbols):
        rows = np.flatnonzero(samples.symbols == symbol)
        dates, values = per_symbol[symbol]
        out[rows] = values[np.searchsorted(dates, samples.dates[rows])]
    return out


def constant_variance(train: Samples, samples: Samples) -> np.ndarray:
    """(N, H): each row's symbol's train variance of r_h (pooled for a symbol without train rows)."""
    train_targets = train.targets.astype(np.float64)
    pooled = np.var(train_targets, axis=0)
    out = np.broadcast_to(pooled, samples.targets.shape).copy()
    for symbol in np.unique(samples.symbols):
        own = train_targets[train.symbols == symbol]
        if len(own) >= 2:
            out[samples.symbols == symbol] = np.var(own, axis=0)
    return out


def choose_ewma_lambda(per_symbol_returns: dict[str, tuple[np.ndarray, np.ndarray]], val: Samples) -> float:
    """The lambda of EWMA_LAMBDAS with the lowest validation NLL averaged over horizons."""
    scale = np.arange(1, val.targets.shape[1] + 1)
    target = val.targets.astype(np.float64)

    def score(lam: float) -> float:
        daily = {s: (dates, ewma_variance(r, lam)[:, None]) for s, (dates, r) in per_symbol_returns.items()}
        std = np.sqrt(np.maximum(_on_rows(_one_horizon(val), daily) * scale, 1e-12))
        return float(np.mean(gaussian_nll(np.zeros_like(target), std, target)))

    return min(EWMA_LAMBDAS, key=score)


def _one_horizon(samples: Samples) -> Samples:
    return Samples(samples.features[:, :0], samples.targets[:, :1], samples.symbols, samples.dates,
                   samples.target_end, samples.last_return)


def variance_baselines(series_list: list[BarSeries], dataset: MarketDataset) -> VarianceBaselines:
    """constant, ewma, rolling_20 and garch on the validation and test rows (module docstring)."""
    horizons = dataset.train.targets.shape[1]
    scale = np.arange(1, horizons + 1)
    returns = {s.symbol: (s.dates, daily_log_returns(s)) for s in series_list}
    lam = choose_ewma_lambda(returns, dataset.val)
    daily = {name: {s.symbol: (s.dates, function(returns[s.symbol][1])[:, None] * scale) for s in series_list}
             for name, function in (("ewma", lambda r: ewma_variance(r, lam)), ("rolling_20", rolling_variance))}
    garch_fit = {"val": dataset.split.train[1], "test": dataset.split.val[1]}
    forecasts = {}
    for split in ("val", "test"):
        samples = getattr(dataset, split)
        garch = {s.symbol: (s.dates, _garch(s, returns[s.symbol][1], garch_fit[split], horizons)) for s in series_list}
        variances = {"constant": constant_variance(dataset.train, samples), "ewma": _on_rows(samples, daily["ewma"]),
                     "rolling_20": _on_rows(samples, daily["rolling_20"]), "garch": _on_rows(samples, garch)}
        zero = np.zeros(samples.targets.shape)
        forecasts[split] = {name: (zero, np.sqrt(np.maximum(variances[name], 1e-12))) for name in VARIANCE_BASELINES}
    return VarianceBaselines(forecasts, lam)

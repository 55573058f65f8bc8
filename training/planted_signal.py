"""Planted signal: a market whose generator hides what the trivial models cannot see, and whether MGDL finds it.

Each symbol's daily log return is r_t = mu_t + s_t e_t, e_t ~ N(0, 1) (the generator knows mu_t and s_t
at the close of t-1), with z_{t-1} = e_{t-1} the last standardised shock and g(z) = cos(z) - exp(-1/2):

    mu_t  = REVERSAL r_{t-1} + MEAN_WAVE * sqrt(h_t) * g(z_{t-1})
    s_t^2 = h_t * exp(VARIANCE_WAVE * g(z_{t-1}))
    h_t   = omega + alpha (s_{t-1} e_{t-1})^2 + beta h_{t-1}          (GARCH(1,1) of the shocks)

g is even and, for a standard normal z, uncorrelated with 1, z and z^2 (E[z^2 cos z] = 0): the one-day
reversal and any model linear in the last return or its square (an AR(1) mean, ridge on the features,
GARCH, EWMA) cannot see either wave; a network that reads the last return beside a volatility can.

`measure` trains a profile on this market and scores, on test at horizon 1, the model beside the
oracle (the generator's mu and s) and two trivial models given the same train and validation data:

- reversal + GARCH: the AR(1) mean fitted on the train rows, the GARCH(1,1) variance baseline
  (training.volatility: refitted on train + validation for the test rows);
- ridge + EWMA: the ridge mean on the same features and the EWMA variance (lambda chosen on validation).

    .venv/bin/python -m training.planted_signal --profile quick      # trains in a temporary WIG80_HOME
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import numpy as np

from market_data.bars import BarSeries
from market_data.synthetic import NextBarTruth, synthetic_tickers, trading_calendar
from training.dataset import MarketDataset, Samples
from training.evaluation import directional_accuracy
from training.scoring import gaussian_nll

REVERSAL = -0.05
MEAN_WAVE = 0.4
VARIANCE_WAVE = 0.8
GARCH_ALPHA, GARCH_BETA = 0.08, 0.89
DAILY_VOLATILITY = (0.015, 0.03)  # range of each symbol's unconditional sigma
WAVE_CENTRE = float(np.exp(-0.5))  # E[cos z] for z ~ N(0, 1)


def wave(z: np.ndarray) -> np.ndarray:
    return np.cos(z) - WAVE_CENTRE


def planted_returns(rng: np.random.Generator, n: int, sigma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(returns, true mean, true std) of n days; mean[t] and std[t] are those of r_t given the days before."""
    omega = sigma**2 * (1 - GARCH_ALPHA - GARCH_BETA)
    shocks = rng.normal(size=n)
    returns, mean, std = np.empty(n), np.empty(n), np.empty(n)
    h, previous_return, previous_shock = sigma**2, 0.0, 0.0
    for t in range(n):
        g = wave(previous_shock) if t else 0.0
        mean[t] = REVERSAL * previous_return + MEAN_WAVE * np.sqrt(h) * g
        std[t] = np.sqrt(h * np.exp(VARIANCE_WAVE * g))
        returns[t] = mean[t] + std[t] * shocks[t]
        h = omega + GARCH_ALPHA * (std[t] * shocks[t]) ** 2 + GARCH_BETA * h
        previous_return, previous_shock = returns[t], shocks[t]
    return returns, mean, std


def planted_bars(ticker: str, calendar: np.ndarray, rng: np.random.Generator, returns: np.ndarray) -> BarSeries:
    """Bars whose closes carry `returns`: opens part of the way there, wicks and volume rising with the move."""
    n = len(returns)
    close = np.exp(rng.uniform(np.log(5.0), np.log(150.0))) * np.exp(np.cumsum(returns))
    previous_close = np.concatenate([[close[0] / np.exp(returns[0])], close[:-1]])
    scale = np.abs(returns).mean()
    open_ = previous_close * np.exp(0.3 * returns + rng.normal(0.0, 0.2 * scale, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.5 * scale, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.5 * scale, n)))
    volume = np.round(1e4 * np.exp(rng.normal(0.0, 0.3, n) + np.abs(returns) / scale))
    return BarSeries(ticker, calendar, np.column_stack([open_, high, low, close, volume]))


def planted_market(n_symbols: int, n_days: int, seed: int) -> list[tuple[BarSeries, NextBarTruth]]:
    """Each series with the truth of its next-day return (the last bar has none)."""
    calendar = trading_calendar(n_days)
    market = []
    for i, ticker in enumerate(synthetic_tickers(n_symbols)):
        rng = np.random.default_rng([seed, i, 17])
        returns, mean, std = planted_returns(rng, n_days, rng.uniform(*DAILY_VOLATILITY))
        next_mean, next_std = np.append(mean[1:], np.nan), np.append(std[1:], np.nan)
        market.append((planted_bars(ticker, calendar, rng, returns), NextBarTruth(calendar, next_mean, next_std)))
    return market


def oracle_h1(truths: dict[str, NextBarTruth], samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """The true 1-day mean and std for each sample row (symbol, day)."""
    mean, std = np.empty(len(samples)), np.empty(len(samples))
    for symbol in np.unique(samples.symbols):
        rows = np.flatnonzero(samples.symbols == symbol)
        truth = truths[symbol]
        index = np.searchsorted(truth.dates, samples.dates[rows])
        mean[rows], std[rows] = truth.mean[index], truth.std[index]
    return mean, std


def trivial_models(dataset: MarketDataset, series: list[BarSeries]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """reversal + GARCH and ridge + EWMA on the test rows, horizon 1, each (mean, std) of the log return."""
    from training.evaluation import RidgeBaseline
    from training.pipeline import ridge_gaussian, scaled
    from training.volatility import variance_baselines

    train, val = scaled(dataset, dataset.train), scaled(dataset, dataset.val)
    ridge = RidgeBaseline().fit(train.x, train.z, val.x, val.z)
    variances = variance_baselines(series, dataset).forecasts["test"]
    last, target = dataset.train.last_return.astype(np.float64), dataset.train.targets[:, 0].astype(np.float64)
    ar1 = float(last @ target / max(last @ last, 1e-300))  # the reversal, fitted on train
    return {"reversal_garch": (ar1 * dataset.test.last_return.astype(np.float64), variances["garch"][1][:, 0]),
            "ridge_ewma": (ridge_gaussian(ridge, dataset, dataset.test)[0][:, 0], variances["ewma"][1][:, 0])}


def scores(forecasts: dict[str, tuple[np.ndarray, np.ndarray]], target: np.ndarray) -> dict:
    """Hit rate of sign(mean) and Gaussian NLL of each forecast on `target` rows."""
    return {name: {"hit_rate": float(directional_accuracy(np.sign(mean), target)),
                   "nll": float(np.mean(gaussian_nll(mean, np.maximum(std, 1e-12), target)))}
            for name, (mean, std) in forecasts.items()}


def write_market(config, market: list[tuple[BarSeries, NextBarTruth]]) -> None:
    from market_data.stores import open_store

    async def fill() -> None:
        async with open_store(config.market_db_url, config.home) as store:
            await store.append_many([series for series, _ in market])

    asyncio.run(fill())


def measure(config) -> dict:
    """Write the planted market (config.synthetic_symbols x synthetic_days, synthetic_seed) into the config's
    empty store, train `config` on it and score test at horizon 1."""
    from training.checkpoint import load_forecaster
    from training.dataset import make_dataset
    from training.pipeline import load_series, predict, train_run

    market = planted_market(config.synthetic_symbols, config.synthetic_days, config.synthetic_seed)
    write_market(config, market)
    run_dir = train_run(config)
    model, metadata = load_forecaster(run_dir)
    series, _ = load_series(config)
    dataset = make_dataset(series, config.window, config.split, show_progress=False)
    mean, std = predict(model, dataset.test.features)
    forecasts = {"mgdl": (mean[:, 0], std[:, 0]), "oracle": oracle_h1({s.symbol: t for s, t in market}, dataset.test),
                 **trivial_models(dataset, series)}
    target = dataset.test.targets[:, 0].astype(np.float64)
    return {"run": str(run_dir), "symbols": config.synthetic_symbols, "days": config.synthetic_days,
            "rows": len(target), "served_model": metadata.get("served_model", {}).get("description"),
            "scores": scores(forecasts, target)}


def main() -> None:
    from training.config import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("tiny", "quick"), default="quick")
    parser.add_argument("--days", type=int, help="days (default: the profile's synthetic_days)")
    parser.add_argument("--symbols", type=int, help="symbols (default: the profile's synthetic_symbols)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        overrides = {"home": Path(home)} | ({"synthetic_days": args.days} if args.days else {}) | (
            {"synthetic_symbols": args.symbols} if args.symbols else {})
        result = measure(TrainConfig.for_profile(args.profile, **overrides))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

"""Planted-signal recovery: how much of what the synthetic market's generator knows the trained model finds.

The generator (`market_data.synthetic.synthesize_with_truth`) knows each next-day log return's true
conditional mean and variance (an AR(1) reversal under GARCH(1,1) variance). On the test split, for
horizon 1:

- directional edge: hit rate - 0.5, of the model's sign(mean) and of the oracle's sign(true mean);
- NLL gain: Gaussian NLL of the constant train variance (mean 0) minus that of the model, and minus
  that of the oracle's Gaussian (true mean, true variance);
- recovery: the model's edge and gain as a share of the oracle's (1.0 = all of it).

    .venv/bin/python -m training.planted_signal --profile quick      # trains in a temporary WIG80_HOME
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from market_data.synthetic import NextBarTruth, synthesize_with_truth
from training.dataset import Samples
from training.evaluation import directional_accuracy
from training.scoring import gaussian_nll


def oracle_h1(truths: dict[str, NextBarTruth], samples: Samples) -> tuple[np.ndarray, np.ndarray]:
    """The true 1-day mean and std for each sample row (symbol, day)."""
    mean, std = np.empty(len(samples)), np.empty(len(samples))
    for symbol in np.unique(samples.symbols):
        rows = np.flatnonzero(samples.symbols == symbol)
        truth = truths[symbol]
        index = np.searchsorted(truth.dates, samples.dates[rows])
        mean[rows], std[rows] = truth.mean[index], truth.std[index]
    return mean, std


def recovery(model: tuple[np.ndarray, np.ndarray], oracle: tuple[np.ndarray, np.ndarray], target: np.ndarray,
             constant_std: float) -> dict:
    """Edges and gains of `model` and `oracle` (each (mean, std) of the 1-day return) on `target` rows."""
    constant_nll = float(np.mean(gaussian_nll(np.zeros_like(target), np.full_like(target, constant_std), target)))
    out = {"rows": len(target), "constant_nll": constant_nll}
    for name, (mean, std) in (("model", model), ("oracle", oracle)):
        out[f"{name}_hit_rate"] = float(directional_accuracy(np.sign(mean), target))
        out[f"{name}_nll"] = float(np.mean(gaussian_nll(mean, std, target)))
    out["direction_recovery"] = (out["model_hit_rate"] - 0.5) / (out["oracle_hit_rate"] - 0.5)
    out["nll_recovery"] = (constant_nll - out["model_nll"]) / (constant_nll - out["oracle_nll"])
    return out


def measure(config) -> dict:
    """Train `config` (its store must be empty: the synthetic market is written into it) and score test."""
    from training.checkpoint import load_forecaster
    from training.dataset import make_dataset
    from training.pipeline import load_series, predict, train_run

    run_dir = train_run(config)
    model, _ = load_forecaster(run_dir)
    series, _ = load_series(config)
    dataset = make_dataset(series, config.window, config.split, show_progress=False)
    market = synthesize_with_truth(config.synthetic_symbols, config.synthetic_days, config.synthetic_seed)
    truths = {s.symbol: truth for s, truth in market}
    mean, std = predict(model, dataset.test.features)
    target = dataset.test.targets[:, 0].astype(np.float64)
    constant_std = float(np.std(dataset.train.targets[:, 0].astype(np.float64)))
    return {"run": str(run_dir), "symbols": config.synthetic_symbols, "days": config.synthetic_days,
            **recovery((mean[:, 0], std[:, 0]), oracle_h1(truths, dataset.test), target, constant_std)}


def main() -> None:
    from training.config import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=("tiny", "quick"), default="quick")
    parser.add_argument("--days", type=int, help="synthetic days (default: the profile's)")
    parser.add_argument("--symbols", type=int, help="synthetic symbols (default: the profile's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        overrides = {"home": Path(home)} | ({"synthetic_days": args.days} if args.days else {}) | (
            {"synthetic_symbols": args.symbols} if args.symbols else {})
        result = measure(TrainConfig.for_profile(args.profile, **overrides))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

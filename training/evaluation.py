"""Metrics of a forecast beside the baselines, all on the same rows.

A `Forecast` is what a model says for each row and horizon: a mean log return (regression models), a
sign (every model; 0 means "no call") and the probability that the sign is right (its confidence).
For a Gaussian forecast N(mu, sigma^2) the confidence is P(sign right) = Phi(|mu| / sigma).

Baselines: random walk (mean 0, no call), always up (+1; confidence = train share of up moves),
one-day reversal (sign opposite to the last day's return; confidence = its train hit rate), ridge
regression on the same scaled features (alpha picked on validation; sigma = train residual std),
and the single-grade network. Sign-only baselines have no regression metrics (shown as n/a).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from training.dataset import MarketDataset, Samples, Scaler
from training.forecaster import ForecastLossConfig, TermStructure, band_energies
from training.linear_grade import fit_ridge_mean, with_bias

CALIBRATION_EDGES = (0.0, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 1.0)


@dataclass
class Forecast:
    sign: np.ndarray  # (N, H) in {-1, 0, +1}
    mean: np.ndarray | None = None  # (N, H) log returns
    confidence: np.ndarray | None = None  # (N, H) P(sign right)


def gaussian_forecast(mean: np.ndarray, std: np.ndarray) -> Forecast:
    z = np.abs(mean) / np.maximum(std, 1e-12)
    confidence = 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))
    return Forecast(np.sign(mean), mean, confidence)


def _erf(x: np.ndarray) -> np.ndarray:
    return torch.special.erf(torch.as_tensor(x, dtype=torch.float64)).numpy()


def regression_metrics(mean: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-horizon MAE, RMSE and R^2 (against the split's own mean), each (H,)."""
    error = target - mean
    sst = np.sum((target - target.mean(axis=0)) ** 2, axis=0)
    return {"mae": np.abs(error).mean(axis=0), "rmse": np.sqrt((error**2).mean(axis=0)),
            "r2": 1.0 - np.sum(error**2, axis=0) / np.maximum(sst, 1e-300)}


def directional_accuracy(sign: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per horizon: share of right calls among rows with a non-zero move and a call; NaN if no call."""
    counted = (target != 0) & (sign != 0)
    right = (np.sign(target) == sign) & counted
    with np.errstate(invalid="ignore", divide="ignore"):
        return right.sum(axis=0) / counted.sum(axis=0)


def calibration(confidence: np.ndarray, sign: np.ndarray, target: np.ndarray) -> dict:
    """Binned predicted P(sign right) against the realised hit rate, pooled over horizons, and the ECE."""
    counted = (target != 0) & (sign != 0)
    p, hit = confidence[counted], (np.sign(target) == sign)[counted]
    bins, ece = [], 0.0
    for low, high in zip(CALIBRATION_EDGES[:-1], CALIBRATION_EDGES[1:], strict=True):
        inside = (p >= low) & ((p < high) | (high == 1.0))
        if inside.any():
            gap = abs(hit[inside].mean() - p[inside].mean())
            ece += gap * inside.sum() / max(len(p), 1)
            bins.append({"low": low, "high": high, "count": int(inside.sum()),
                         "predicted": float(p[inside].mean()), "realised": float(hit[inside].mean())})
    return {"bins": bins, "ece": float(ece) if len(p) else None}


def spectral_metric(mean: np.ndarray, target: np.ndarray, target_scaler: Scaler,
                    loss: ForecastLossConfig) -> float:
    """The training spectral term on the error path, in train-std units of each horizon."""
    error = torch.as_tensor((target - mean) / target_scaler.scale, dtype=torch.float64)
    return float((band_energies(error) * torch.tensor(loss.lambdas, dtype=torch.float64)).sum())


def _summary(per_horizon: np.ndarray) -> dict[str, float | None]:
    def value(x: float) -> float | None:
        return None if not np.isfinite(x) else float(x)

    return {"h1": value(per_horizon[0]), "h5": value(per_horizon[min(4, len(per_horizon) - 1)]),
            "h30": value(per_horizon[-1]), "mean": value(np.nanmean(per_horizon)) if np.isfinite(per_horizon).any()
            else None}


def forecast_metrics(forecast: Forecast, samples: Samples, target_scaler: Scaler,
                     loss: ForecastLossConfig) -> dict:
    target = samples.targets.astype(np.float64)
    accuracy = directional_accuracy(forecast.sign, target)
    counted = ((target != 0) & (forecast.sign != 0)).sum(axis=0)
    metrics: dict = {"rows": len(samples), "directional_accuracy": _summary(accuracy),
                     "directional_se": _summary(np.sqrt(accuracy * (1 - accuracy) / np.maximum(counted, 1)))}
    if forecast.mean is not None:
        for name, values in regression_metrics(forecast.mean, target).items():
            metrics[name] = _summary(values)
        metrics["spectral_loss"] = spectral_metric(forecast.mean, target, target_scaler, loss)
    if forecast.confidence is not None:
        metrics["calibration"] = calibration(forecast.confidence, forecast.sign, target)
    return metrics


class RidgeBaseline:
    """Ridge on the scaled features, standardised targets, alpha chosen per horizon on validation MSE.

    The same closed-form fit as the first step of the model's linear grade 0 (`training.linear_grade`).
    """

    def fit(self, x: np.ndarray, z: np.ndarray, x_val: np.ndarray, z_val: np.ndarray) -> RidgeBaseline:
        self.weights, alpha = fit_ridge_mean(x, z, x_val, z_val)
        self.alpha = alpha.tolist()
        self.residual_std = (with_bias(x) @ self.weights - z).std(axis=0)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised mean (N, H) and std (N, H)."""
        mean = with_bias(x) @ self.weights
        return mean, np.broadcast_to(self.residual_std, mean.shape)


def sign_baselines(train: Samples, samples: Samples) -> dict[str, Forecast]:
    """Always up and one-day reversal, each with its train hit rate per horizon as its confidence."""
    up = np.ones_like(samples.targets)
    reversal = -np.sign(np.broadcast_to(samples.last_return[:, None], samples.targets.shape))
    train_reversal = -np.sign(np.broadcast_to(train.last_return[:, None], train.targets.shape))
    forecasts = {}
    for name, sign, train_sign in (("always_up", up, np.ones_like(train.targets)),
                                   ("one_day_reversal", reversal, train_reversal)):
        hit_rate = np.nan_to_num(directional_accuracy(train_sign, train.targets), nan=0.5)
        forecasts[name] = Forecast(sign, None, np.broadcast_to(hit_rate, sign.shape))
    return forecasts


def baseline_forecasts(dataset: MarketDataset, samples: Samples, ridge: RidgeBaseline) -> dict[str, Forecast]:
    scaler = dataset.target_scaler
    mean_z, std_z = ridge.predict(dataset.feature_scaler.transform_features(samples.features))
    zero = np.zeros_like(samples.targets, dtype=np.float64)
    return {"random_walk": Forecast(np.zeros_like(zero), zero, None),
            **sign_baselines(dataset.train, samples),
            "ridge": gaussian_forecast(scaler.mean + scaler.scale * mean_z, scaler.scale * std_z)}


def grade_contributions(grade_outputs: list[np.ndarray], samples: Samples, target_scaler: Scaler,
                        first_grade: int = 1) -> list[dict]:
    """Metrics of the sum of grades first..k for each k: what each grade adds (raw network outputs)."""
    term = TermStructure(target_scaler.scale)
    rows, total = [], None
    for k, out in enumerate(grade_outputs, start=first_grade):
        total = out if total is None else total + out
        mean = term.to_returns(total, target_scaler.mean)[0]
        regression = regression_metrics(mean, samples.targets.astype(np.float64))
        rows.append({"grades": k, "rmse_h1": float(regression["rmse"][0]), "r2_mean": float(regression["r2"].mean()),
                     "directional_accuracy_h1": _summary(directional_accuracy(np.sign(mean), samples.targets))["h1"]})
    return rows

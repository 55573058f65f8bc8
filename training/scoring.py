"""Scores of a predictive distribution and of a direction call, with their uncertainty.

For a Gaussian forecast N(mu, sigma^2) of a forward log return r (log-return units, per horizon):
- Gaussian NLL: 0.5 log(2 pi sigma^2) + (r - mu)^2 / (2 sigma^2), averaged over rows (lower is better);
- CRPS of the Gaussian (`properscoring.crps_gaussian`), averaged (lower is better; in log-return units);
- coverage of the central 50/80/95% intervals mu +- z_q sigma (should equal the level) and their mean width.

Direction: the hit rate with its binomial standard error sqrt(p (1 - p) / n). Diebold-Mariano: the
loss differential of two forecasts (squared errors, NLL or CRPS per row), averaged over the symbols of
each date (rows of one date are not independent), tested with a Newey-West (Bartlett) variance of that
daily series; at horizon h the forecast windows of consecutive days overlap by h-1 days, so the lags
are max(DM_LAGS, h - 1).
"""

from __future__ import annotations

import math

import numpy as np
import properscoring

SCORED_HORIZONS = (1, 5, 30)
INTERVAL_LEVELS = (0.5, 0.8, 0.95)
DM_LAGS = 5  # Newey-West lags of the daily loss-differential series (at least; see dm_lags)
DM_MODEL = "mgdl"
DM_BASELINES = ("garch", "ewma")  # the variance baselines every distribution claim is tested against
IDENTICAL = 1e-5  # squared-error differences below this share of the mean squared error are float rounding


def _normal_quantile(level: float) -> float:
    """z with P(|N(0,1)| <= z) = level."""
    from statistics import NormalDist

    return NormalDist().inv_cdf(0.5 + level / 2)


def gaussian_nll(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-row NLL, same shape as the inputs."""
    return 0.5 * np.log(2 * np.pi * std**2) + 0.5 * ((target - mean) / std) ** 2


def horizon_scores(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> dict:
    """NLL, CRPS, coverage and width of 1-D arrays (one horizon)."""
    std = np.maximum(std, 1e-12)
    scores = {"nll": float(np.mean(gaussian_nll(mean, std, target))),
              "crps": float(np.mean(properscoring.crps_gaussian(target, mean, std))),
              "coverage": {}, "width": {}}
    for level in INTERVAL_LEVELS:
        half = _normal_quantile(level) * std
        key = f"{round(100 * level)}"
        scores["coverage"][key] = float(np.mean(np.abs(target - mean) <= half))
        scores["width"][key] = float(np.mean(2 * half))
    return scores


def distribution_scores(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> dict:
    """{"h1": scores, "h5": ..., "h30": ...} for (N, H) arrays."""
    return {f"h{h}": horizon_scores(mean[:, h - 1], std[:, h - 1], target[:, h - 1])
            for h in SCORED_HORIZONS if h <= target.shape[1]}


def dm_lags(horizon: int) -> int:
    """Newey-West lags at horizon h: h-day returns of consecutive days share h-1 days."""
    return max(DM_LAGS, horizon - 1)


def diebold_mariano(error_a: np.ndarray, error_b: np.ndarray, dates: np.ndarray, lags: int = DM_LAGS) -> dict:
    """DM test of squared errors, a against b: statistic < 0 means a has the smaller loss."""
    return diebold_mariano_losses(error_a.astype(np.float64) ** 2, error_b.astype(np.float64) ** 2, dates, lags)


def diebold_mariano_losses(loss_a: np.ndarray, loss_b: np.ndarray, dates: np.ndarray, lags: int = DM_LAGS) -> dict:
    """DM test of two per-row losses on the same rows: statistic < 0 means a has the smaller loss.

    `dates` (N,) groups rows into one loss differential per date. p-value two-sided from the normal
    distribution; `lags` Newey-West lags with Bartlett weights.
    """
    differential = loss_a.astype(np.float64) - loss_b.astype(np.float64)
    if np.max(np.abs(differential), initial=0.0) <= IDENTICAL * np.mean(np.abs(loss_b.astype(np.float64))):
        # the same forecasts up to rounding: there is nothing to test
        return {"statistic": None, "p_value": None, "days": len(np.unique(dates)), "mean_differential": 0.0,
                "lags": lags}
    days, inverse = np.unique(dates, return_inverse=True)
    daily = np.bincount(inverse, weights=differential) / np.bincount(inverse)
    n = len(daily)
    centred = daily - daily.mean()
    variance = centred @ centred / n
    for lag in range(1, min(lags, n - 1) + 1):
        variance += 2 * (1 - lag / (lags + 1)) * (centred[lag:] @ centred[:-lag]) / n
    if variance <= 0 or n < 2:
        return {"statistic": None, "p_value": None, "days": n, "mean_differential": float(daily.mean()), "lags": lags}
    statistic = float(daily.mean() / math.sqrt(variance / n))
    p_value = math.erfc(abs(statistic) / math.sqrt(2))
    return {"statistic": statistic, "p_value": p_value, "days": n, "mean_differential": float(daily.mean()),
            "lags": lags}


def row_losses(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> dict[str, np.ndarray]:
    """Per-row Gaussian NLL and CRPS of 1-D arrays (one horizon)."""
    std = np.maximum(std, 1e-12)
    return {"nll": gaussian_nll(mean, std, target), "crps": properscoring.crps_gaussian(target, mean, std)}


def distribution_tests(gaussians: dict[str, tuple[np.ndarray, np.ndarray]], target: np.ndarray, dates: np.ndarray,
                       model: str = DM_MODEL, against: tuple[str, ...] = DM_BASELINES) -> dict:
    """{"h1": {baseline: {"nll": DM, "crps": DM}}, "h5": ..., "h30": ...}: `model` against each baseline."""
    out = {}
    for h in SCORED_HORIZONS:
        if h > target.shape[1]:
            continue
        mine = row_losses(gaussians[model][0][:, h - 1], gaussians[model][1][:, h - 1], target[:, h - 1])
        out[f"h{h}"] = {}
        for name in against:
            if name not in gaussians:
                continue
            theirs = row_losses(gaussians[name][0][:, h - 1], gaussians[name][1][:, h - 1], target[:, h - 1])
            out[f"h{h}"][name] = {score: diebold_mariano_losses(mine[score], theirs[score], dates, dm_lags(h))
                                  for score in ("nll", "crps")}
    return out

"""The analogue forecast: the distribution of what followed the k nearest past situations.

For each indexed horizon h (1, 5, 30 trading days) and each query: the mean and the sample standard
deviation (ddof 1) of the analogues' realised log returns r_h, their 5/25/50/75/95% quantiles and the
share that went up (r_h > 0). As a Gaussian forecast it is N(mean, std^2); that is what the training
report scores.
"""

from __future__ import annotations

import warnings

import numpy as np

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
MIN_STD = 1e-6  # k identical outcomes (a halted stock) would give a zero std


def outcome_matrix(outcomes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(Q, k, H) outcomes of the neighbour rows; NaN where a query had fewer than k admissible rows."""
    gathered = outcomes[np.maximum(rows, 0)]
    gathered[rows < 0] = np.nan
    return gathered


def gaussian(outcomes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) each (Q, H) from (Q, k, H) outcomes; NaN where fewer than two analogues were found."""
    count = np.sum(np.isfinite(outcomes), axis=1)
    with warnings.catch_warnings():  # an all-NaN row (no analogue) is expected and masked below
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(outcomes, axis=1)
        std = np.maximum(np.nanstd(outcomes, axis=1, ddof=1), MIN_STD)
    usable = count >= 2
    return np.where(usable, mean, np.nan), np.where(usable, std, np.nan)


def summary(outcomes: np.ndarray) -> dict:
    """One query's forecast from its (k, H) outcomes (NaN rows ignored): per horizon column a dict."""
    found = outcomes[np.all(np.isfinite(outcomes), axis=1)]
    if len(found) == 0:
        return {"count": 0}
    std = found.std(axis=0, ddof=1) if len(found) > 1 else np.full(found.shape[1], np.nan)
    quantiles = np.quantile(found, QUANTILES, axis=0)
    return {"count": len(found), "mean": found.mean(axis=0), "std": std, "quantiles": quantiles,
            "up_fraction": (found > 0).mean(axis=0)}

"""Champion and challenger scored on the same rows: predictive NLL and directional accuracy, beside baselines.

NLL is the Gaussian negative log-likelihood of the realised forward log returns under each model's
predicted mean and standard deviation, averaged over rows and horizons (with its 0.5 log 2 pi constant,
so it compares with the baselines'). Directional accuracy is averaged over the horizons.

A lower NLL promotes only when it is significant: the Diebold-Mariano test of the two models' per-row NLL
(averaged over horizons), one differential per date, Newey-West variance with H - 1 = 29 lags (the 30-day
targets of consecutive days overlap), two-sided p below `retrain_max_p_value`.
"""

from __future__ import annotations

import numpy as np

import training.scoring
from training.evaluation import directional_accuracy
from training.forecaster import HORIZONS
from training.scoring import diebold_mariano_losses, dm_lags


def gaussian_nll(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(training.scoring.gaussian_nll(mean, np.maximum(std, 1e-12), target)))


def mean_accuracy(sign: np.ndarray, target: np.ndarray) -> float | None:
    per_horizon = directional_accuracy(sign, target)
    return float(np.nanmean(per_horizon)) if np.isfinite(per_horizon).any() else None


def score(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> dict:
    return {"nll": gaussian_nll(mean, std, target), "directional_accuracy": mean_accuracy(np.sign(mean), target),
            "rows": int(len(target))}


def row_nll(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(N,) the NLL of each row, averaged over its horizons."""
    return training.scoring.gaussian_nll(mean, np.maximum(std, 1e-12), target).mean(axis=1)


def nll_test(challenger_nll: np.ndarray, champion_nll: np.ndarray, dates: np.ndarray) -> dict:
    """Diebold-Mariano of the challenger's row NLL against the champion's (statistic < 0: the challenger's is lower)."""
    return diebold_mariano_losses(challenger_nll, champion_nll, dates, dm_lags(HORIZONS))


def baseline_scores(train_targets: np.ndarray, target: np.ndarray) -> dict:
    """Random walk (zero return, the train rows' constant std per horizon) and always up, on the same rows."""
    zero = np.zeros_like(target, dtype=np.float64)
    std = np.broadcast_to(train_targets.std(axis=0), target.shape)
    return {
        "random_walk": {"nll": gaussian_nll(zero, std, target), "directional_accuracy": None},
        "always_up": {"directional_accuracy": mean_accuracy(np.ones_like(target), target)},
    }


def challenger_wins(champion: dict, challenger: dict, test: dict, rows: dict, accuracy_tolerance: float,
                    max_p_value: float) -> tuple[bool, str]:
    """Promote only when the challenger's NLL is lower, significantly (DM p < max_p_value), and its accuracy is
    not worse beyond the tolerance. The reason names the figures and the rows they come from."""
    nll_better = challenger["nll"] < champion["nll"]
    p_value = test.get("p_value")
    significant = p_value is not None and p_value < max_p_value and (test.get("statistic") or 0.0) < 0
    champion_da, challenger_da = champion["directional_accuracy"] or 0.0, challenger["directional_accuracy"] or 0.0
    accuracy_kept = challenger_da >= champion_da - accuracy_tolerance
    p_text = "n/a (identical forecasts)" if p_value is None else f"{p_value:.3g}"
    figures = (f"NLL {challenger['nll']:.4f} vs champion {champion['nll']:.4f} (Diebold-Mariano p {p_text}, "
               f"promotion needs < {max_p_value:g}), directional accuracy {challenger_da:.3f} vs {champion_da:.3f} "
               f"(tolerance {accuracy_tolerance:.3f}); scored on {rows['count']} rows of {rows['dates']} dates "
               f"{rows['first']}..{rows['last']}")
    if nll_better and significant and accuracy_kept:
        return True, f"challenger wins: {figures}"
    why = ("its NLL is not lower" if not nll_better else "its lower NLL is not significant" if not significant
           else "its directional accuracy is worse beyond the tolerance")
    return False, f"challenger rejected, {why}: {figures}"

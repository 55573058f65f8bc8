"""Champion and challenger scored on the same rows: predictive NLL and directional accuracy, beside baselines.

NLL is the Gaussian negative log-likelihood of the realised forward log returns under each model's
predicted mean and standard deviation, averaged over rows and horizons (with its 0.5 log 2 pi constant,
so it compares with the baselines'). Directional accuracy is averaged over the horizons.
"""

from __future__ import annotations

import numpy as np

import training.scoring
from training.evaluation import directional_accuracy


def gaussian_nll(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(training.scoring.gaussian_nll(mean, np.maximum(std, 1e-12), target)))


def mean_accuracy(sign: np.ndarray, target: np.ndarray) -> float | None:
    per_horizon = directional_accuracy(sign, target)
    return float(np.nanmean(per_horizon)) if np.isfinite(per_horizon).any() else None


def score(mean: np.ndarray, std: np.ndarray, target: np.ndarray) -> dict:
    return {"nll": gaussian_nll(mean, std, target), "directional_accuracy": mean_accuracy(np.sign(mean), target),
            "rows": int(len(target))}


def baseline_scores(train_targets: np.ndarray, target: np.ndarray) -> dict:
    """Random walk (zero return, the train rows' constant std per horizon) and always up, on the same rows."""
    zero = np.zeros_like(target, dtype=np.float64)
    std = np.broadcast_to(train_targets.std(axis=0), target.shape)
    return {
        "random_walk": {"nll": gaussian_nll(zero, std, target), "directional_accuracy": None},
        "always_up": {"directional_accuracy": mean_accuracy(np.ones_like(target), target)},
    }


def challenger_wins(champion: dict, challenger: dict, accuracy_tolerance: float) -> tuple[bool, str]:
    """Promote only when the challenger's NLL is lower and its accuracy is not worse beyond the tolerance."""
    nll_better = challenger["nll"] < champion["nll"]
    champion_da, challenger_da = champion["directional_accuracy"] or 0.0, challenger["directional_accuracy"] or 0.0
    accuracy_kept = challenger_da >= champion_da - accuracy_tolerance
    figures = (f"NLL {challenger['nll']:.4f} vs champion {champion['nll']:.4f}, directional accuracy "
               f"{challenger_da:.3f} vs {champion_da:.3f} (tolerance {accuracy_tolerance:.3f})")
    if nll_better and accuracy_kept:
        return True, f"challenger wins: {figures}"
    why = "its NLL is not lower" if not nll_better else "its directional accuracy is worse beyond the tolerance"
    return False, f"challenger rejected, {why}: {figures}"

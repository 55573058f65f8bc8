"""Grade 0 of the forecaster: a linear map of the scaled features to (mean, log-variance) per horizon.

Fitted before any deep grade, on the train split, with every choice made on validation:

1. the mean: ridge regression of each standardised target z_h on the scaled features, in closed form,
   its penalty alpha chosen per horizon by validation squared error;
2. the log-variance: a linear model l_h = x w_h + b_h of the ridge residuals e, started in closed form
   (ridge of log(e^2 + c) on x, intercept shifted so that the mean of e^2 exp(-l) is 1), then a few
   L-BFGS steps on the Gaussian NLL, which is convex in (w_h, b_h); the L2 penalty (or the start
   itself) is chosen per horizon by validation NLL.

A weighted ridge refit of the mean (weights exp(-l_h)) was tried on validation (docs/training.md,
"Tuning"): it changed the 1-day validation NLL by 0.0004 or less and lowered the direction on stooq's
files, so the mean stays the plain ridge fit, the same as the ridge baseline.

The deep grades then learn only what this leaves over.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from training.forecaster import LOGVAR_RANGE

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 1e4, 1e5)
LOGVAR_PENALTIES = (1e-3, 1e-2)  # L2 on the log-variance slopes (the loss is a mean over rows and horizons)
LOG_SQUARE_ALPHA = 1e4
LOG_SQUARE_FLOOR = 0.01  # log(e^2 + 1% of its mean): a zero residual must not give log 0
LBFGS_ITERATIONS = 30


def with_bias(x: np.ndarray) -> np.ndarray:
    return np.hstack([x.astype(np.float64), np.ones((len(x), 1))])


def _penalty(size: int, alpha: float) -> np.ndarray:
    penalty = alpha * np.eye(size)
    penalty[-1, -1] = 0.0  # the intercept is not shrunk
    return penalty


def _ridge_solve(design: np.ndarray, target: np.ndarray, alpha: float) -> np.ndarray:
    """(F+1, H) coefficients."""
    return _ridge_path(design, target, (alpha,))[0]


def _ridge_path(design: np.ndarray, target: np.ndarray, alphas: tuple[float, ...]) -> list[np.ndarray]:
    """Coefficients (F+1, H) for each alpha; the Gram matrix is computed once."""
    size = design.shape[1]
    gram, moment = design.T @ design, design.T @ target
    return [np.linalg.solve(gram + _penalty(size, a), moment) for a in alphas]


def gaussian_nll_per_horizon(mean: np.ndarray, logvar: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean over rows of 0.5 * (l + (z - m)^2 exp(-l)) per horizon (the training NLL, constant dropped)."""
    logvar = np.clip(logvar, *LOGVAR_RANGE)
    return np.mean(0.5 * (logvar + (target - mean) ** 2 * np.exp(-logvar)), axis=0)


def fit_ridge_mean(x, z, x_val, z_val) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients (F+1, H) and the alpha chosen per horizon by validation MSE (plain ridge)."""
    design, design_val = with_bias(x), with_bias(x_val)
    best_score, best_w, best_alpha = None, None, None
    for alpha, coef in zip(RIDGE_ALPHAS, _ridge_path(design, z, RIDGE_ALPHAS), strict=True):
        mean_val = design_val @ coef
        score = np.mean((mean_val - z_val) ** 2, axis=0)
        if best_score is None:
            best_score, best_w, best_alpha = score, coef, np.full(z.shape[1], alpha)
            continue
        better = score < best_score
        best_score = np.where(better, score, best_score)
        best_w[:, better] = coef[:, better]
        best_alpha[better] = alpha
    return best_w, best_alpha


def log_square_start(design: np.ndarray, squared: np.ndarray, alpha: float = LOG_SQUARE_ALPHA) -> np.ndarray:
    """Closed-form start: ridge of log(e^2 + c) on the features, intercept shifted so mean e^2 exp(-l) = 1."""
    coef = _ridge_solve(design, np.log(squared + LOG_SQUARE_FLOOR * squared.mean(axis=0)), alpha)
    coef[-1] += np.log(np.mean(squared * np.exp(-(design @ coef)), axis=0))
    return coef


def _refine_logvar(design: torch.Tensor, squared: torch.Tensor, start: np.ndarray, penalty: float) -> np.ndarray:
    """A few L-BFGS steps on the (convex) NLL of the log-variance coefficients, from `start`."""
    coef = torch.from_numpy(start.copy()).requires_grad_(True)
    optimizer = torch.optim.LBFGS([coef], lr=1.0, max_iter=LBFGS_ITERATIONS, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-7, tolerance_change=1e-9)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logvar = design @ coef
        loss = torch.mean(0.5 * (logvar + squared * torch.exp(-logvar))) + penalty * (coef[:-1] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return coef.detach().numpy()


def fit_log_variance(x, residual, x_val, residual_val) -> np.ndarray:
    """Coefficients (F+1, H) of the log-variance, the L2 penalty (or the closed-form start kept as it is)
    chosen per horizon by validation NLL."""
    design, design_val = with_bias(x), with_bias(x_val)
    squared = np.asarray(residual, dtype=np.float64) ** 2
    start = log_square_start(design, squared)
    candidates = [start] + [_refine_logvar(torch.from_numpy(design), torch.from_numpy(squared), start, penalty)
                            for penalty in LOGVAR_PENALTIES]
    best_score, best_w = None, None
    for coef in candidates:
        score = gaussian_nll_per_horizon(residual_val, design_val @ coef, 0.0)
        if best_score is None:
            best_score, best_w = score, coef.copy()
            continue
        better = score < best_score
        best_score = np.where(better, score, best_score)
        best_w[:, better] = coef[:, better]
    return best_w


@dataclass
class LinearGrade:
    mean_coef: np.ndarray  # (F+1, H), last row the intercept
    logvar_coef: np.ndarray  # (F+1, H)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised mean and log-variance, each (N, H)."""
        design = with_bias(x)
        return design @ self.mean_coef, design @ self.logvar_coef

    def as_module(self) -> nn.Linear:
        """x (B, F) -> [mean (B, H), log-variance (B, H)]: the network's grade 0."""
        features, horizons = self.mean_coef.shape[0] - 1, self.mean_coef.shape[1]
        layer = nn.Linear(features, 2 * horizons)
        coef = np.hstack([self.mean_coef, self.logvar_coef])  # (F+1, 2H)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(coef[:-1].T.copy()))
            layer.bias.copy_(torch.from_numpy(coef[-1].copy()))
        return layer


def fit_linear_grade(x: np.ndarray, z: np.ndarray, x_val: np.ndarray, z_val: np.ndarray) -> LinearGrade:
    """See the module docstring; `z`: standardised targets (N, H)."""
    z, z_val = np.asarray(z, dtype=np.float64), np.asarray(z_val, dtype=np.float64)
    design, design_val = with_bias(x), with_bias(x_val)
    mean_coef, _ = fit_ridge_mean(x, z, x_val, z_val)
    logvar_coef = fit_log_variance(x, z - design @ mean_coef, x_val, z_val - design_val @ mean_coef)
    return LinearGrade(mean_coef, logvar_coef)

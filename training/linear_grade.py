"""Grade 0 of the forecaster: a linear map of the scaled features to the network's raw output, per-step
mean increments and log step variances (training.forecaster.TermStructure), so that grade 0 alone is
already a coherent forecast: its variance never falls with the horizon.

Fitted before any deep grade, on the train split, with every choice made on validation:

1. the mean: ridge regression of each standardised target z_h on the scaled features, in closed form,
   its penalty alpha chosen per horizon by validation squared error, then mapped exactly to step
   increments (the mean map is linear and invertible);
2. the variance: a linear model of each step's log-variance, b_k = x w_k + c_k, with
   l_h = log sum_{k<=h} exp(b_k) + 2 log(s_1 / s_h), fitted step by step: step 1 is horizon 1's
   log-variance, fitted as before the term structure; step k is fitted on horizon k's Gaussian NLL with
   steps 1..k-1 fixed. Each starts in closed form (the ridge of log(e^2 + c) on x, intercept shifted so
   the mean of e^2 exp(-l) is 1, less the variance the earlier steps already give) and is refined by a
   few L-BFGS steps; the L2 penalty (or the start itself) is chosen per step by horizon k's validation
   NLL. (A joint L-BFGS fit of all steps at once, from the same start, was 0.01 worse in validation NLL
   averaged over horizons and 0.026 worse at horizon 1 on the stooq files, and slower.)

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

from training.forecaster import LOGVAR_RANGE, TermStructure

RIDGE_ALPHAS = (0.1, 1.0, 10.0, 100.0, 1000.0, 1e4, 1e5)
LOGVAR_PENALTIES = (1e-3, 1e-2)  # L2 on the log-variance slopes (the loss is a mean over rows and horizons)
LOG_SQUARE_ALPHA = 1e4
LOG_SQUARE_FLOOR = 0.01  # log(e^2 + 1% of its mean): a zero residual must not give log 0
LBFGS_ITERATIONS = 30
MIN_STEP_SHARE = 1e-3  # the closed-form start gives each step at least this share of its horizon's variance


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
    """Closed-form start per horizon: ridge of log(e^2 + c) on the features, intercept shifted so mean e^2 exp(-l) = 1."""
    coef = _ridge_solve(design, np.log(squared + LOG_SQUARE_FLOOR * squared.mean(axis=0)), alpha)
    coef[-1] += np.log(np.mean(squared * np.exp(-(design @ coef)), axis=0))
    return coef


def _step_nll(design: torch.Tensor, squared: torch.Tensor, earlier: torch.Tensor, coef: torch.Tensor,
              log_ratio: float) -> torch.Tensor:
    """Mean NLL of one horizon whose variance (step units) is the earlier steps' plus exp(design @ coef)."""
    logvar = torch.log(earlier + torch.exp((design @ coef).clamp(*LOGVAR_RANGE))) + log_ratio
    return torch.mean(0.5 * (logvar + squared * torch.exp(-logvar)))


def _refine_step(design: torch.Tensor, squared: torch.Tensor, earlier: torch.Tensor, start: np.ndarray,
                 penalty: float, log_ratio: float) -> np.ndarray:
    """A few L-BFGS steps on one step's coefficients, from `start`, in the precision of `design` (float32:
    the same coefficients to 4 decimals of the validation NLL as float64, in half the time)."""
    coef = torch.from_numpy(start.copy()).to(design.dtype).requires_grad_(True)
    optimizer = torch.optim.LBFGS([coef], lr=1.0, max_iter=LBFGS_ITERATIONS, line_search_fn="strong_wolfe",
                                  tolerance_grad=1e-7, tolerance_change=1e-9)
    squared, earlier = squared.to(design.dtype), earlier.to(design.dtype)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = _step_nll(design, squared, earlier, coef, log_ratio) + penalty * (coef[:-1] ** 2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return coef.detach().double().numpy()


def fit_log_variance(x, residual, x_val, residual_val, term: TermStructure) -> np.ndarray:
    """Coefficients (F+1, H) of the log step variances, fitted step by step: step k's on horizon k's NLL with
    the earlier steps fixed, started from horizon k's closed-form log-square fit less what the earlier steps
    already give, its L2 penalty (or that start kept as it is) chosen by horizon k's validation NLL."""
    design, design_val = (torch.from_numpy(with_bias(a)) for a in (x, x_val))
    squared, squared_val = (torch.from_numpy(np.asarray(r, dtype=np.float64) ** 2) for r in (residual, residual_val))
    design32, squared32 = design.float(), squared.float()
    horizon_start = log_square_start(design.numpy(), squared.numpy())
    earlier, earlier_val = torch.zeros(len(design), dtype=torch.float64), torch.zeros(len(design_val), dtype=torch.float64)
    coef = np.empty_like(horizon_start)
    for k in range(term.horizons):
        log_ratio = float(term.log_ratio[k])
        start = horizon_start[:, k].copy()
        start[-1] -= log_ratio  # horizon k's variance in step units
        level = float(squared[:, k].mean()) * np.exp(-log_ratio)  # its mean squared residual, in step units
        start[-1] += np.log(max(1.0 - float(earlier.mean()) / level, MIN_STEP_SHARE))  # only what is still missing
        candidates = [start] + [_refine_step(design32, squared32[:, k], earlier, start, penalty, log_ratio)
                                for penalty in LOGVAR_PENALTIES]
        coef[:, k] = min(candidates, key=lambda c: float(_step_nll(design_val, squared_val[:, k], earlier_val,
                                                                    torch.from_numpy(c), log_ratio)))
        step = torch.from_numpy(coef[:, k])
        earlier = earlier + torch.exp((design @ step).clamp(*LOGVAR_RANGE))
        earlier_val = earlier_val + torch.exp((design_val @ step).clamp(*LOGVAR_RANGE))
    return coef


@dataclass
class LinearGrade:
    mean_coef: np.ndarray  # (F+1, H) of the step mean increments, last row the intercept
    logvar_coef: np.ndarray  # (F+1, H) of the log step variances
    term: TermStructure

    def output(self, x: np.ndarray) -> np.ndarray:
        """The raw network output (N, 2H) of grade 0: what `as_module()` computes."""
        design = with_bias(x)
        return np.hstack([design @ self.mean_coef, design @ self.logvar_coef])

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Standardised mean and log-variance of every horizon, each (N, H)."""
        mean, logvar = self.term.standardised(torch.from_numpy(self.output(x)))
        return mean.numpy(), logvar.numpy()

    def as_module(self) -> nn.Linear:
        """x (B, F) -> [step means (B, H), log step variances (B, H)]: the network's grade 0."""
        features, horizons = self.mean_coef.shape[0] - 1, self.mean_coef.shape[1]
        layer = nn.Linear(features, 2 * horizons)
        coef = np.hstack([self.mean_coef, self.logvar_coef])  # (F+1, 2H)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(coef[:-1].T.copy()))
            layer.bias.copy_(torch.from_numpy(coef[-1].copy()))
        return layer


def fit_linear_grade(x: np.ndarray, z: np.ndarray, x_val: np.ndarray, z_val: np.ndarray,
                     term: TermStructure | None = None) -> LinearGrade:
    """See the module docstring; `z`: standardised targets (N, H); `term`: the target scaler's term
    structure (per-step units, s_h = 1, when None)."""
    z, z_val = np.asarray(z, dtype=np.float64), np.asarray(z_val, dtype=np.float64)
    term = term or TermStructure.in_steps(z.shape[1])
    design, design_val = with_bias(x), with_bias(x_val)
    mean_coef, _ = fit_ridge_mean(x, z, x_val, z_val)
    logvar_coef = fit_log_variance(x, z - design @ mean_coef, x_val, z_val - design_val @ mean_coef, term)
    return LinearGrade(term.mean_steps(mean_coef), logvar_coef, term)

"""The market model: per horizon h = 1..30 a mean and a variance of the forward log return, coherent by
construction across the horizons.

Training works in standardised units: features `x = clip((f - mu_f) / s_f, -10, 10)` (NaN -> 0) and
targets `z_h = (r_h - mu_h) / s_h`, both scalers fitted on the train split only. The MGDL network
outputs 2H raw numbers per sample: `a` (H per-step mean increments) and `b` (H per-step log-variances,
clamped to LOGVAR_RANGE), both in units of the 1-day train scale s_1. The term structure
(`TermStructure`) sums the steps:

    mean of r_h     = mu_h + s_1 * sum_{k<=h} a_k
    variance of r_h = s_1^2 * sum_{k<=h} exp(b_k)

so the variance of the cumulative return rises with every step (each increment is positive) and the
mean path is the sum of its daily steps. In standardised units that is `m_h = (s_1 / s_h) sum_{k<=h} a_k`
and `l_h = log sum_{k<=h} exp(b_k) + 2 log(s_1 / s_h)`. The loss per batch of B samples is

    L = NLL + sum_b lambda_b * P_b
    NLL = mean_{i,h} 0.5 * (l_ih + (z_ih - m_ih)^2 * exp(-l_ih))          (constant 0.5 log 2pi dropped)
    e_i = z_i - m_i                                 the error path across the H horizons, (B, H)
    E_ik = sum_h e_ih exp(-2 pi i k h / H)           its real FFT, k = 0..H/2
    P_b = mean_i (1 / H^2) sum_{k in band b} w_k |E_ik|^2,   w_k = 1 at k = 0 and k = H/2, else 2

so that P_low + P_mid + P_high is exactly the mean squared error of the path (Parseval). The bands
split the frequency k / H (cycles per horizon step, 0..0.5) into thirds: low [0, 1/6), mid
[1/6, 1/3), high [1/3, 1/2]; lambdas default to 0.01 / 0.02 / 0.03, so a jagged error path across
horizons costs more than a smooth offset. (They were 0.1 / 0.2 / 0.3 before the term structure; with the
mean built from steps, that much penalty on the mean's error path kept every deep grade from lowering
the validation NLL on the stooq files; docs/training.md, "Tuning".)

`Forecaster` is the exportable module: raw features float32 (B, F) -> (mean, std), each (B, H), in
log-return units, with both scalers and the term structure folded in; only ops ONNX opset 17 /
onnxruntime have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from training.mgdl import GradeNetwork, MultiGradeNetwork

HORIZONS = 30
# per-step log-variance b_k in units of the 1-day train variance: a step's std from 0.7% to 20x s_1
LOGVAR_RANGE = (-10.0, 6.0)
FEATURE_CLIP = 10.0  # scaled features beyond +-10 train std are clipped: one broken bar cannot blow up a forecast


HORIZON_WEIGHTINGS = ("equal", "inverse_sqrt", "inverse")


@dataclass
class ForecastLossConfig:
    spectral_lambda_low: float = 0.01
    spectral_lambda_mid: float = 0.02
    spectral_lambda_high: float = 0.03
    # NLL weight of horizon h, normalised to mean 1: equal, 1/sqrt(h) or 1/h; 1/h chosen on validation
    # (docs/training.md, "Tuning"): the 1-day head is otherwise 1/30 of the loss
    horizon_weighting: str = "inverse"

    @property
    def lambdas(self) -> tuple[float, float, float]:
        return self.spectral_lambda_low, self.spectral_lambda_mid, self.spectral_lambda_high


def band_weights(horizons: int = HORIZONS) -> Tensor:
    """(3, K) weights over the rfft bins: row b holds w_k / H^2 for the bins of band b, else 0."""
    bins = torch.arange(horizons // 2 + 1)
    frequency = bins / horizons
    one_sided = torch.full((len(bins),), 2.0)
    one_sided[0] = 1.0
    if horizons % 2 == 0:
        one_sided[-1] = 1.0
    band = torch.bucketize(frequency, torch.tensor([1 / 6, 1 / 3]), right=True)  # 0 low, 1 mid, 2 high
    weights = torch.zeros(3, len(bins))
    weights[band, bins] = one_sided / horizons**2
    return weights


def band_energies(error: Tensor) -> Tensor:
    """Mean energy of the error path (B, H) in the low/mid/high bands, (3,); they sum to its MSE."""
    power = torch.fft.rfft(error, dim=-1).abs() ** 2  # (B, K)
    return (power @ band_weights(error.shape[-1]).T.to(error.dtype)).mean(dim=0)


def spectral_loss(error: Tensor, lambdas: tuple[float, float, float] = ForecastLossConfig().lambdas) -> Tensor:
    return (band_energies(error) * torch.tensor(lambdas, dtype=error.dtype)).sum()


class TermStructure:
    """Raw network output (B, 2H) of per-step mean increments `a` and log step variances `b` -> the
    standardised mean `m` and log-variance `l` of every horizon, by summing the steps (module docstring).

    `target_scale`: the train std s_h of each horizon's return (the target scaler's); `in_steps(H)` is the
    same map with every s_h = 1, for data without a scaler.
    """

    def __init__(self, target_scale: np.ndarray):
        scale = np.asarray(target_scale, dtype=np.float64)
        self.horizons = len(scale)
        self.unit = float(scale[0])  # s_1: one step's scale in log-return units
        self.ratio = scale[0] / scale
        cumulative = np.triu(np.ones((self.horizons, self.horizons)))  # [k, h] = 1: step k is in horizon h
        self.mean_map = cumulative * self.ratio  # m = a @ mean_map
        self.log_ratio = 2.0 * np.log(self.ratio)
        self._tensors: dict[torch.dtype, tuple[Tensor, Tensor]] = {}

    @classmethod
    def in_steps(cls, horizons: int) -> TermStructure:
        return cls(np.ones(horizons))

    def _as_tensors(self, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        if dtype not in self._tensors:
            self._tensors[dtype] = (torch.as_tensor(self.ratio, dtype=dtype),
                                    torch.as_tensor(self.log_ratio, dtype=dtype))
        return self._tensors[dtype]

    def standardised(self, output: Tensor) -> tuple[Tensor, Tensor]:
        """(B, 2H) raw -> standardised mean (B, H) and log-variance (B, H), non-decreasing in variance."""
        return self.mean(output[:, : self.horizons]), self.logvar(output[:, self.horizons :])

    def mean(self, steps_mean: Tensor) -> Tensor:
        return torch.cumsum(steps_mean, dim=1) * self._as_tensors(steps_mean.dtype)[0]

    def logvar(self, steps_logvar: Tensor) -> Tensor:
        # the clamp bounds each step, so the plain running sum of exp cannot overflow (30 e^6 at most)
        log_ratio = self._as_tensors(steps_logvar.dtype)[1]
        return torch.log(torch.cumsum(torch.exp(steps_logvar.clamp(*LOGVAR_RANGE)), dim=1)) + log_ratio

    def to_returns(self, output: np.ndarray, target_mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 2H) raw -> (mean, std) of the forward log return per horizon, as the exported module computes."""
        output = np.asarray(output, dtype=np.float64)
        steps_mean, steps_logvar = output[:, : self.horizons], np.clip(output[:, self.horizons :], *LOGVAR_RANGE)
        mean = np.asarray(target_mean, dtype=np.float64) + self.unit * np.cumsum(steps_mean, axis=1)
        return mean, self.unit * np.sqrt(np.cumsum(np.exp(steps_logvar), axis=1))

    def mean_steps(self, mean: np.ndarray) -> np.ndarray:
        """Standardised means (..., H) -> the step increments `a` that give them (the inverse of the mean map)."""
        return np.linalg.solve(self.mean_map.T, np.asarray(mean, dtype=np.float64).T).T


def gaussian_nll(mean: Tensor, logvar: Tensor, target: Tensor, weights: Tensor | None = None) -> Tensor:
    nll = 0.5 * (logvar + (target - mean) ** 2 * torch.exp(-logvar))  # (B, H)
    return torch.mean(nll if weights is None else nll * weights)


def horizon_weights(weighting: str, horizons: int = HORIZONS) -> Tensor:
    """(H,) NLL weights with mean 1."""
    h = torch.arange(1, horizons + 1, dtype=torch.float32)
    if weighting not in HORIZON_WEIGHTINGS:
        raise ValueError(f"unknown horizon_weighting {weighting!r}; choose one of {', '.join(HORIZON_WEIGHTINGS)}")
    if weighting == "equal":
        raw = torch.ones_like(h)
    elif weighting == "inverse_sqrt":
        raw = h**-0.5
    else:  # "inverse"
        raw = 1.0 / h
    return raw / raw.mean()


class ForecastLoss:
    """Gaussian NLL (weighted per horizon) + spectral regularisation of the mean's error path, on the
    horizons' mean and variance that `term` makes of the network's steps (per-step units when None)."""

    def __init__(self, config: ForecastLossConfig | None = None, term: TermStructure | None = None):
        config = config or ForecastLossConfig()
        self.lambdas = config.lambdas
        self.weighting = config.horizon_weighting
        self.term = term
        # built once per output width; an unknown weighting fails here, not mid-training
        self._weights = {HORIZONS: horizon_weights(self.weighting)}
        self._terms: dict[int, TermStructure] = {}

    def standardised(self, output: Tensor) -> tuple[Tensor, Tensor]:
        width = output.shape[-1] // 2
        if self.term is not None:
            return self.term.standardised(output)
        if width not in self._terms:
            self._terms[width] = TermStructure.in_steps(width)
        return self._terms[width].standardised(output)

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        mean, logvar = self.standardised(output)
        target = target[:, : mean.shape[1]]  # targets may be padded to the output width (see pipeline)
        width = mean.shape[1]
        if width not in self._weights:
            self._weights[width] = horizon_weights(self.weighting, width)
        weights = self._weights[width].to(mean.dtype)
        return gaussian_nll(mean, logvar, target, weights) + spectral_loss(target - mean, self.lambdas)

    def selection_nll(self, output: Tensor, target: Tensor) -> Tensor:
        """The plain Gaussian NLL (every horizon alike): what decides whether a grade is kept."""
        mean, logvar = self.standardised(output)
        return gaussian_nll(mean, logvar, target[:, : mean.shape[1]])

    def keep_helpful_mean_heads(self, grade: GradeNetwork, out_val: Tensor, base_val: Tensor,
                                target_val: Tensor) -> None:
        """Remove a deep grade's mean correction from each horizon where it does not lower the validation NLL.

        With the grade's variance in place, horizon h's NLL is compared with and without the grade's mean
        correction of horizon h; where it is no better, that correction is removed, so the grade corrects only
        the variance there. The head outputs step increments, so the correction is edited in horizon space
        (the mean map applied to the head's rows) and mapped back exactly. A deep grade's mean correction is
        mostly fitted noise on daily returns, its variance correction is not.
        """
        mean_base, _ = self.standardised(base_val)
        _, logvar = self.standardised(base_val + out_val)
        horizons = mean_base.shape[1]
        term = self.term or self._terms.get(horizons) or TermStructure.in_steps(horizons)
        correction = out_val[:, :horizons] @ torch.as_tensor(term.mean_map, dtype=out_val.dtype)
        target = target_val[:, :horizons]
        with_mean = (0.5 * (target - mean_base - correction) ** 2 * torch.exp(-logvar)).mean(dim=0)
        without = (0.5 * (target - mean_base) ** 2 * torch.exp(-logvar)).mean(dim=0)
        drop = (with_mean >= without).numpy()
        with torch.no_grad():
            weight = grade.head.weight[:horizons].double().numpy()  # (H, width): a = hidden @ W.T + bias
            bias = grade.head.bias[:horizons].double().numpy()
            weight_h, bias_h = term.mean_map.T @ weight, term.mean_map.T @ bias  # the same rows per horizon
            weight_h[drop], bias_h[drop] = 0.0, 0.0
            grade.head.weight[:horizons] = torch.from_numpy(np.linalg.solve(term.mean_map.T, weight_h))
            grade.head.bias[:horizons] = torch.from_numpy(np.linalg.solve(term.mean_map.T, bias_h))


@dataclass
class Architecture:
    """What it takes to rebuild the module before loading its weights."""

    in_features: int
    width: int
    layers_per_grade: int
    grades: int  # deep grades (0 when only the linear grade was kept)
    horizons: int = HORIZONS
    linear_grade: bool = False


def build_network(arch: Architecture) -> MultiGradeNetwork:
    in_dims = ([arch.in_features] + [arch.width] * (arch.grades - 1))[: arch.grades]
    linear = nn.Linear(arch.in_features, 2 * arch.horizons) if arch.linear_grade else None
    return MultiGradeNetwork([GradeNetwork(d, arch.width, arch.layers_per_grade, 2 * arch.horizons)
                              for d in in_dims], linear)


class Forecaster(nn.Module):
    """Raw features (B, F) -> (mean, std) of the forward log return, each (B, H); scalers and the term
    structure folded in: mean = mu_h + s_1 sum_{k<=h} a_k, std = s_1 sqrt(sum_{k<=h} exp(b_k))."""

    def __init__(self, network: MultiGradeNetwork, feature_mean: np.ndarray, feature_scale: np.ndarray,
                 target_mean: np.ndarray, target_scale: np.ndarray):
        super().__init__()
        self.network = network
        self.register_buffer("feature_mean", torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer("feature_scale", torch.as_tensor(feature_scale, dtype=torch.float32))
        self.register_buffer("target_mean", torch.as_tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_scale", torch.as_tensor(target_scale, dtype=torch.float32))
        self.horizons = len(target_mean)

    @classmethod
    def empty(cls, arch: Architecture) -> Forecaster:
        """A module of the right shapes whose weights and scalers `load_state_dict` fills in."""
        ones_f, ones_h = np.ones(arch.in_features), np.ones(arch.horizons)
        return cls(build_network(arch), 0 * ones_f, ones_f, 0 * ones_h, ones_h)

    def term_structure(self) -> TermStructure:
        return TermStructure(self.target_scale.double().numpy())

    def scale_features(self, features: Tensor) -> Tensor:
        x = (features - self.feature_mean) / self.feature_scale  # (B, F)
        x = torch.where(torch.isnan(x), torch.zeros_like(x), x)
        return x.clamp(-FEATURE_CLIP, FEATURE_CLIP)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        output = self.network(self.scale_features(features))  # (B, 2H)
        steps_mean, steps_logvar = output[:, : self.horizons], output[:, self.horizons :].clamp(*LOGVAR_RANGE)
        unit = self.target_scale[:1]  # s_1
        # a running sum (ONNX CumSum): each horizon adds a non-negative float to the previous one, so the
        # variance cannot fall even by a rounding error, which a matrix product's blocked sums could allow
        mean = self.target_mean + unit * torch.cumsum(steps_mean, dim=1)
        std = unit * torch.sqrt(torch.cumsum(torch.exp(steps_logvar), dim=1))
        return mean, std

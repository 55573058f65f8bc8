"""The market model: per horizon h = 1..30 a mean and a log-variance of the forward log return.

Training works in standardised units: features `x = clip((f - mu_f) / s_f, -10, 10)` (NaN -> 0) and
targets `z_h = (r_h - mu_h) / s_h`, both scalers fitted on the train split only. The MGDL network
outputs 2H numbers per sample: `m` (H standardised means) and `l` (H standardised log-variances,
clamped to LOGVAR_RANGE). The loss per batch of B samples is

    L = NLL + sum_b lambda_b * P_b
    NLL = mean_{i,h} 0.5 * (l_ih + (z_ih - m_ih)^2 * exp(-l_ih))          (constant 0.5 log 2pi dropped)
    e_i = z_i - m_i                                 the error path across the H horizons, (B, H)
    E_ik = sum_h e_ih exp(-2 pi i k h / H)           its real FFT, k = 0..H/2
    P_b = mean_i (1 / H^2) sum_{k in band b} w_k |E_ik|^2,   w_k = 1 at k = 0 and k = H/2, else 2

so that P_low + P_mid + P_high is exactly the mean squared error of the path (Parseval). The bands
split the frequency k / H (cycles per horizon step, 0..0.5) into thirds: low [0, 1/6), mid
[1/6, 1/3), high [1/3, 1/2]; lambdas default to 0.1 / 0.2 / 0.3, so a jagged error path across
horizons costs more than a smooth offset.

`Forecaster` is the exportable module: raw features float32 (B, F) -> (mean, std), each (B, H), in
log-return units, with both scalers folded in; only ops ONNX opset 17 / onnxruntime have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from training.mgdl import GradeNetwork, MultiGradeNetwork

HORIZONS = 30
LOGVAR_RANGE = (-10.0, 6.0)  # standardised units: std from 0.7% to 20x the train std of each horizon
FEATURE_CLIP = 10.0  # scaled features beyond +-10 train std are clipped: one broken bar cannot blow up a forecast


HORIZON_WEIGHTINGS = ("equal", "inverse_sqrt", "inverse")


@dataclass
class ForecastLossConfig:
    spectral_lambda_low: float = 0.1
    spectral_lambda_mid: float = 0.2
    spectral_lambda_high: float = 0.3
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


def spectral_loss(error: Tensor, lambdas: tuple[float, float, float] = (0.1, 0.2, 0.3)) -> Tensor:
    return (band_energies(error) * torch.tensor(lambdas, dtype=error.dtype)).sum()


def split_output(output: Tensor) -> tuple[Tensor, Tensor]:
    """Network output (B, 2H) -> standardised mean (B, H) and clamped log-variance (B, H)."""
    horizons = output.shape[-1] // 2
    return output[:, :horizons], output[:, horizons:].clamp(*LOGVAR_RANGE)


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
    """Gaussian NLL (weighted per horizon) + spectral regularisation of the mean's error path."""

    def __init__(self, config: ForecastLossConfig | None = None):
        config = config or ForecastLossConfig()
        self.lambdas = config.lambdas
        self.weighting = config.horizon_weighting
        # built once per output width; an unknown weighting fails here, not mid-training
        self._weights = {HORIZONS: horizon_weights(self.weighting)}

    def __call__(self, output: Tensor, target: Tensor) -> Tensor:
        mean, logvar = split_output(output)
        target = target[:, : mean.shape[1]]  # targets may be padded to the output width (see pipeline)
        width = mean.shape[1]
        if width not in self._weights:
            self._weights[width] = horizon_weights(self.weighting, width)
        weights = self._weights[width].to(mean.dtype)
        return gaussian_nll(mean, logvar, target, weights) + spectral_loss(target - mean, self.lambdas)


def validation_nll(output: Tensor, target: Tensor) -> Tensor:
    """The plain Gaussian NLL (every horizon alike): what decides whether a grade is kept."""
    mean, logvar = split_output(output)
    return gaussian_nll(mean, logvar, target[:, : mean.shape[1]])


def keep_helpful_mean_heads(grade: GradeNetwork, out_val: Tensor, base_val: Tensor, target_val: Tensor) -> None:
    """Zero a deep grade's mean output for each horizon where it does not lower the validation NLL.

    With the grade's log-variance in place, horizon h's NLL is compared with and without the grade's mean
    correction; where it is no better, that row of the head is zeroed, so the grade corrects only the
    variance there. A deep grade's mean correction is mostly fitted noise on daily returns, its variance
    correction is not; the row is zero in the exported graph too.
    """
    horizons = out_val.shape[1] // 2
    mean0, logvar = base_val[:, :horizons], split_output(base_val + out_val)[1]
    target = target_val[:, :horizons]
    with_mean = (0.5 * (target - mean0 - out_val[:, :horizons]) ** 2 * torch.exp(-logvar)).mean(dim=0)
    without = (0.5 * (target - mean0) ** 2 * torch.exp(-logvar)).mean(dim=0)
    drop = torch.nonzero(with_mean >= without).flatten()
    with torch.no_grad():
        grade.head.weight[drop] = 0.0
        grade.head.bias[drop] = 0.0


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
    """Raw features (B, F) -> (mean, std) of the forward log return, each (B, H); scalers folded in."""

    def __init__(self, network: MultiGradeNetwork, feature_mean: np.ndarray, feature_scale: np.ndarray,
                 target_mean: np.ndarray, target_scale: np.ndarray):
        super().__init__()
        self.network = network
        self.register_buffer("feature_mean", torch.as_tensor(feature_mean, dtype=torch.float32))
        self.register_buffer("feature_scale", torch.as_tensor(feature_scale, dtype=torch.float32))
        self.register_buffer("target_mean", torch.as_tensor(target_mean, dtype=torch.float32))
        self.register_buffer("target_scale", torch.as_tensor(target_scale, dtype=torch.float32))

    @classmethod
    def empty(cls, arch: Architecture) -> Forecaster:
        """A module of the right shapes whose weights and scalers `load_state_dict` fills in."""
        ones_f, ones_h = np.ones(arch.in_features), np.ones(arch.horizons)
        return cls(build_network(arch), 0 * ones_f, ones_f, 0 * ones_h, ones_h)

    def scale_features(self, features: Tensor) -> Tensor:
        x = (features - self.feature_mean) / self.feature_scale  # (B, F)
        x = torch.where(torch.isnan(x), torch.zeros_like(x), x)
        return x.clamp(-FEATURE_CLIP, FEATURE_CLIP)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        mean_z, logvar_z = split_output(self.network(self.scale_features(features)))  # (B, H) each
        mean = self.target_mean + self.target_scale * mean_z
        std = self.target_scale * torch.exp(0.5 * logvar_z)
        return mean, std

"""Grade 0: the closed-form linear fit of mean and log-variance, and the deep grades kept only on top of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.config import forecaster_mgdl
from training.forecaster import ForecastLoss, TermStructure
from training.linear_grade import fit_linear_grade, gaussian_nll_per_horizon
from training.mgdl import MGDLRegressor

validation_nll = ForecastLoss().selection_nll  # per-step units: the targets here have no scaler


@pytest.fixture(scope="module")
def heteroskedastic() -> tuple[np.ndarray, ...]:
    """z = 0.3 x0 + exp(0.5 * (0.8 x1 - 0.2)) * noise, two horizons alike; x2 is pure noise."""
    rng = np.random.default_rng(3)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, 3))
        std = np.exp(0.5 * (0.8 * x[:, 1] - 0.2))
        z = 0.3 * x[:, 0] + std * rng.normal(size=n)
        return x.astype(np.float32), np.column_stack([z, z]).astype(np.float32)

    return (*draw(6000), *draw(3000))


def test_linear_grade_recovers_a_planted_mean_and_log_variance(heteroskedastic) -> None:
    grade = fit_linear_grade(*heteroskedastic)
    assert grade.mean_coef[:3, 0] == pytest.approx([0.3, 0.0, 0.0], abs=0.05)  # step 1 is horizon 1
    assert grade.logvar_coef[:3, 0] == pytest.approx([0.0, 0.8, 0.0], abs=0.08)
    assert grade.logvar_coef[3, 0] == pytest.approx(-0.2, abs=0.08)
    assert np.abs(grade.mean_coef[:, 1]).max() < 0.05  # horizon 2 = horizon 1: its step adds no mean
    x_val, z_val = heteroskedastic[2:]
    mean, logvar = grade.predict(x_val)
    constant = gaussian_nll_per_horizon(np.full_like(z_val, z_val.mean()), np.log(z_val.var(axis=0)), z_val)
    assert (gaussian_nll_per_horizon(mean, logvar, z_val) < constant - 0.1).all()


def test_the_linear_module_computes_the_same_as_the_coefficients(heteroskedastic) -> None:
    grade = fit_linear_grade(*heteroskedastic)
    x_val = heteroskedastic[2]
    mean, logvar = grade.predict(x_val)
    out = grade.as_module()(torch.from_numpy(x_val)).detach().numpy()
    np.testing.assert_allclose(out, grade.output(x_val), atol=1e-4)
    np.testing.assert_allclose(np.hstack(grade.term.standardised(torch.from_numpy(out).double())),
                               np.hstack([mean, logvar]), atol=1e-4)


def test_grade_0_alone_is_a_coherent_forecast() -> None:
    """Horizons whose train variance falls (mean reversion in the sample) still get a variance that never does."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(4000, 3)).astype(np.float32)
    scale = np.array([1.0, 1.3, 1.2, 1.6])  # horizon 3's train std is below horizon 2's
    z = rng.normal(size=(4000, 4)) * np.exp(0.3 * x[:, :1])
    term = TermStructure(scale)
    grade = fit_linear_grade(x[:3000], z[:3000], x[3000:], z[3000:], term)
    _, logvar = grade.predict(x)
    assert (np.diff(np.exp(logvar) * scale**2, axis=1) > 0).all()


def _padded(z: np.ndarray) -> np.ndarray:
    return np.hstack([z, np.zeros_like(z)])


def test_a_deep_grade_that_does_not_beat_the_linear_grade_is_not_kept(heteroskedastic) -> None:
    x, z, x_val, z_val = heteroskedastic
    grade = fit_linear_grade(x, z, x_val, z_val)
    config = forecaster_mgdl(max_grades=2, width=8, epochs_per_grade=2, learning_rate=0.0, show_progress=False)
    regressor = MGDLRegressor(config, validation_nll, selection_loss=validation_nll).fit(
        x, _padded(z), x_val, _padded(z_val), linear=grade.as_module())
    assert [(g.grade, g.accepted) for g in regressor.result.grades] == [(0, True), (1, False)]
    assert len(regressor.network.grades) == 0
    np.testing.assert_allclose(regressor.predict(x_val), grade.output(x_val), atol=1e-4)


def test_the_composed_network_is_never_worse_than_its_linear_grade_on_validation(heteroskedastic) -> None:
    x, z, x_val, z_val = heteroskedastic
    z, z_val = z + np.sin(3 * x[:, :1]), z_val + np.sin(3 * x_val[:, :1])  # something left for the deep grades
    grade = fit_linear_grade(x, z, x_val, z_val)
    config = forecaster_mgdl(max_grades=2, width=16, epochs_per_grade=6, learning_rate=3e-3, show_progress=False)
    regressor = MGDLRegressor(config, validation_nll, selection_loss=validation_nll).fit(
        x, _padded(z), x_val, _padded(z_val), linear=grade.as_module())
    target = torch.from_numpy(_padded(z_val))
    linear_nll = float(validation_nll(torch.from_numpy(grade.output(x_val)).float(), target))
    served_nll = float(validation_nll(torch.from_numpy(regressor.predict(x_val)), target))
    assert regressor.result.grades[1].accepted  # the sine is nonlinear: grade 1 earns its place
    assert served_nll < linear_nll


def test_a_deep_grade_keeps_its_mean_correction_only_where_it_lowers_the_validation_nll() -> None:
    from training.mgdl import GradeNetwork

    rng = np.random.default_rng(5)
    target = torch.from_numpy(rng.normal(size=(4000, 2))).float()
    base = torch.zeros(4000, 4)
    base[:, 3] = -10.0  # horizon 2's variance = horizon 1's (its step adds almost nothing)
    grade = GradeNetwork(3, 4, 1, 4, zero_head=False)
    helpful = torch.zeros(4000, 4)
    helpful[:, 0] = 0.5 * target[:, 0]  # horizon 1: the grade's mean moves towards the target
    helpful[:, 1] = torch.from_numpy(rng.normal(size=4000)).float() - helpful[:, 0]  # horizon 2: pure noise
    variance_rows = grade.head.weight[2:].clone()
    ForecastLoss().keep_helpful_mean_heads(grade, helpful, base, torch.hstack([target, torch.zeros_like(target)]))
    # in horizon space (step 1 + step 2 for horizon 2): horizon 1's correction kept, horizon 2's removed
    weight, bias = grade.head.weight[:2].detach(), grade.head.bias[:2].detach()
    assert weight[0].abs().sum() > 0 and bias[0] != 0
    assert torch.allclose(weight[0] + weight[1], torch.zeros(4), atol=1e-6)
    assert abs(float(bias[0] + bias[1])) < 1e-6
    assert torch.equal(grade.head.weight[2:], variance_rows)  # log-variance rows are never touched

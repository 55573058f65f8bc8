"""Grade 0: the closed-form linear fit of mean and log-variance, and the deep grades kept only on top of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from training.forecaster import validation_nll
from training.linear_grade import fit_linear_grade, gaussian_nll_per_horizon
from training.mgdl import MGDLConfig, MGDLRegressor


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
    assert grade.mean_coef[:3, 0] == pytest.approx([0.3, 0.0, 0.0], abs=0.05)
    assert grade.logvar_coef[:3, 0] == pytest.approx([0.0, 0.8, 0.0], abs=0.08)
    assert grade.logvar_coef[3, 0] == pytest.approx(-0.2, abs=0.08)
    x_val, z_val = heteroskedastic[2:]
    mean, logvar = grade.predict(x_val)
    constant = gaussian_nll_per_horizon(np.full_like(z_val, z_val.mean()), np.log(z_val.var(axis=0)), z_val)
    assert (gaussian_nll_per_horizon(mean, logvar, z_val) < constant - 0.1).all()


def test_the_linear_module_computes_the_same_as_the_coefficients(heteroskedastic) -> None:
    grade = fit_linear_grade(*heteroskedastic)
    x_val = heteroskedastic[2]
    mean, logvar = grade.predict(x_val)
    out = grade.as_module()(torch.from_numpy(x_val)).detach().numpy()
    np.testing.assert_allclose(out, np.hstack([mean, logvar]), atol=1e-4)


def _padded(z: np.ndarray) -> np.ndarray:
    return np.hstack([z, np.zeros_like(z)])


def test_a_deep_grade_that_does_not_beat_the_linear_grade_is_not_kept(heteroskedastic) -> None:
    x, z, x_val, z_val = heteroskedastic
    grade = fit_linear_grade(x, z, x_val, z_val)
    config = MGDLConfig(max_grades=2, width=8, epochs_per_grade=2, learning_rate=0.0, show_progress=False)
    regressor = MGDLRegressor(config, validation_nll, selection_loss=validation_nll).fit(
        x, _padded(z), x_val, _padded(z_val), linear=grade.as_module())
    assert [(g.grade, g.accepted) for g in regressor.result.grades] == [(0, True), (1, False)]
    assert len(regressor.network.grades) == 0
    np.testing.assert_allclose(regressor.predict(x_val), np.hstack(grade.predict(x_val)), atol=1e-4)


def test_the_composed_network_is_never_worse_than_its_linear_grade_on_validation(heteroskedastic) -> None:
    x, z, x_val, z_val = heteroskedastic
    z, z_val = z + np.sin(3 * x[:, :1]), z_val + np.sin(3 * x_val[:, :1])  # something left for the deep grades
    grade = fit_linear_grade(x, z, x_val, z_val)
    config = MGDLConfig(max_grades=2, width=16, epochs_per_grade=6, learning_rate=3e-3, show_progress=False)
    regressor = MGDLRegressor(config, validation_nll, selection_loss=validation_nll).fit(
        x, _padded(z), x_val, _padded(z_val), linear=grade.as_module())
    target = torch.from_numpy(_padded(z_val))
    linear_nll = float(validation_nll(torch.from_numpy(np.hstack(grade.predict(x_val))).float(), target))
    served_nll = float(validation_nll(torch.from_numpy(regressor.predict(x_val)), target))
    assert regressor.result.grades[1].accepted  # the sine is nonlinear: grade 1 earns its place
    assert served_nll < linear_nll


def test_a_deep_grade_keeps_its_mean_correction_only_where_it_lowers_the_validation_nll() -> None:
    from training.forecaster import keep_helpful_mean_heads
    from training.mgdl import GradeNetwork

    rng = np.random.default_rng(5)
    target = torch.from_numpy(rng.normal(size=(4000, 2))).float()
    base = torch.zeros(4000, 4)
    grade = GradeNetwork(3, 4, 1, 4, zero_head=False)
    helpful = torch.zeros(4000, 4)
    helpful[:, 0] = 0.5 * target[:, 0]  # horizon 1: the grade's mean moves towards the target
    helpful[:, 1] = torch.from_numpy(rng.normal(size=4000)).float()  # horizon 2: pure noise
    keep_helpful_mean_heads(grade, helpful, base, torch.hstack([target, torch.zeros_like(target)]))
    assert grade.head.weight[0].abs().sum() > 0 and grade.head.bias[0] != 0
    assert grade.head.weight[1].abs().sum() == 0 and grade.head.bias[1] == 0
    assert grade.head.weight[2:].abs().sum() > 0  # log-variance rows are never touched

"""Distribution scores, the Diebold-Mariano test and the variance baselines, on data with known answers."""

from __future__ import annotations

import datetime

import numpy as np
import pytest

from market_data.bars import BarSeries
from training.scoring import diebold_mariano, distribution_scores, gaussian_nll
from training.volatility import ewma_variance, garch_parameters, garch_path_variance, rolling_variance


def test_a_true_gaussian_covers_each_interval_at_its_level_and_beats_a_wrong_one() -> None:
    rng = np.random.default_rng(0)
    std = rng.uniform(0.01, 0.03, (40000, 5))
    target = std * rng.normal(size=std.shape)
    right = distribution_scores(np.zeros_like(std), std, target)
    wrong = distribution_scores(np.zeros_like(std), np.full_like(std, std.mean()), target)
    assert set(right) == {"h1", "h5"}  # h30 only where there are 30 horizons
    for level in ("50", "80", "95"):
        assert right["h1"]["coverage"][level] == pytest.approx(int(level) / 100, abs=0.01)
    assert right["h1"]["nll"] < wrong["h1"]["nll"] and right["h1"]["crps"] < wrong["h1"]["crps"]
    assert gaussian_nll(np.zeros(1), np.ones(1), np.zeros(1))[0] == pytest.approx(0.5 * np.log(2 * np.pi))


def test_diebold_mariano_sees_a_better_forecast_and_not_an_equal_one() -> None:
    rng = np.random.default_rng(1)
    dates = np.repeat(np.arange(300), 20)
    signal = rng.normal(size=len(dates))
    target = 0.5 * signal + rng.normal(size=len(dates))
    better = diebold_mariano(target - 0.5 * signal, target, dates)
    assert better["statistic"] < -5 and better["p_value"] < 1e-6 and better["days"] == 300
    same = diebold_mariano(target, target.copy(), dates)
    assert same["statistic"] is None  # no loss differential at all: nothing to test


def test_ewma_and_rolling_use_returns_up_to_the_day_only() -> None:
    returns = np.array([0.0, 0.01, -0.02, 0.03, 0.0, 0.01])
    ewma = ewma_variance(returns, 0.9)
    assert ewma[3] * (1 - 0.9**4) == pytest.approx(0.9 * ewma[2] * (1 - 0.9**3) + 0.1 * 0.03**2)
    assert rolling_variance(returns, 2)[3] == pytest.approx((0.02**2 + 0.03**2) / 2)
    changed = returns.copy()
    changed[4:] = 0.5  # the future must not move today's forecasts
    np.testing.assert_array_equal(ewma_variance(changed, 0.9)[:4], ewma[:4])
    np.testing.assert_array_equal(rolling_variance(changed, 2)[:4], rolling_variance(returns, 2)[:4])


def test_garch_is_recovered_from_its_own_path_and_its_multi_step_variance_adds_up() -> None:
    rng = np.random.default_rng(2)
    omega, alpha, beta = 2e-6, 0.08, 0.9
    n, variance, returns = 6000, omega / (1 - alpha - beta), np.empty(6000)
    for t in range(n):
        returns[t] = np.sqrt(variance) * rng.normal()
        variance = omega + alpha * returns[t] ** 2 + beta * variance
    fitted = garch_parameters(returns)
    assert fitted[1] == pytest.approx(alpha, abs=0.03) and fitted[2] == pytest.approx(beta, abs=0.04)
    path = garch_path_variance(returns[:3], (omega, alpha, beta), 3, 1e-4)
    one_step = omega + alpha * returns[2] ** 2 + beta * (omega + alpha * returns[1] ** 2 + beta * path[0, 0])
    assert path[2, 0] == pytest.approx(one_step)
    assert path[2, 1] == pytest.approx(one_step + omega + (alpha + beta) * one_step)


def test_bar_series_helper_is_what_the_baselines_read() -> None:
    dates = np.array([np.datetime64(datetime.date(2024, 1, d)) for d in (2, 3, 4)])
    ohlcv = np.array([[1, 1, 1, 10.0, 1], [1, 1, 1, 11.0, 1], [1, 1, 1, 9.9, 1]])
    from training.volatility import daily_log_returns

    np.testing.assert_allclose(daily_log_returns(BarSeries("ABC", dates, ohlcv)), [0.0, np.log(1.1), np.log(0.9)])

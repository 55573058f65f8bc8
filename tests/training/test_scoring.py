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


def test_distribution_tests_use_overlap_lags_and_see_a_better_variance() -> None:
    from training.scoring import distribution_tests, dm_lags

    assert (dm_lags(1), dm_lags(5), dm_lags(30)) == (5, 5, 29)
    rng = np.random.default_rng(4)
    dates = np.repeat(np.arange(400), 10)
    std = rng.uniform(0.01, 0.04, (len(dates), 30))
    target = std * rng.normal(size=std.shape)
    zero = np.zeros_like(std)
    gaussians = {"mgdl": (zero, std), "garch": (zero, np.full_like(std, std.mean())), "ewma": (zero, 1.5 * std)}
    tests = distribution_tests(gaussians, target, dates)
    assert set(tests) == {"h1", "h5", "h30"} and tests["h30"]["garch"]["nll"]["lags"] == 29
    for horizon in tests.values():
        for name in ("garch", "ewma"):
            assert horizon[name]["nll"]["statistic"] < -3 and horizon[name]["nll"]["p_value"] < 0.01
            assert horizon[name]["crps"]["statistic"] < 0


def test_the_constant_baseline_is_each_symbols_own_train_variance() -> None:
    from training.dataset import Samples
    from training.volatility import constant_variance

    def samples(symbols: list[str], targets: np.ndarray) -> Samples:
        n = len(symbols)
        return Samples(np.zeros((n, 1)), targets, np.array(symbols, dtype=object), np.zeros(n, "datetime64[D]"),
                       np.zeros(n, "datetime64[D]"), np.zeros(n))

    train = samples(["A"] * 4 + ["B"] * 4, np.array([[1.0], [-1.0], [1.0], [-1.0], [3.0], [-3.0], [3.0], [-3.0]]))
    out = constant_variance(train, samples(["A", "B", "C"], np.zeros((3, 1))))
    assert out[:, 0].tolist() == pytest.approx([1.0, 9.0, np.var(train.targets)])  # C has no train rows: pooled


def test_ewma_lambda_is_chosen_on_validation() -> None:
    from training.dataset import Samples
    from training.volatility import choose_ewma_lambda

    rng = np.random.default_rng(5)
    n = 3000
    dates = np.arange(n).astype("datetime64[D]")
    fast = np.where((np.arange(n) // 40) % 2 == 0, 0.01, 0.04) * rng.normal(size=n)  # a new regime every 40 days
    calm = 0.02 * rng.normal(size=n)  # one variance throughout
    for returns, best in ((fast, min), (calm, max)):
        rows = np.arange(1000, n - 1)
        val = Samples(np.zeros((len(rows), 1)), returns[rows + 1][:, None], np.full(len(rows), "A", dtype=object),
                      dates[rows], dates[rows + 1], np.zeros(len(rows)))
        from training.volatility import EWMA_LAMBDAS

        assert choose_ewma_lambda({"A": (dates, returns)}, val) == best(EWMA_LAMBDAS)


def test_garch_for_the_test_rows_is_refitted_through_validation_without_later_returns() -> None:
    from training.volatility import _garch

    rng = np.random.default_rng(6)
    n = 1500
    dates = np.arange(np.datetime64("2000-01-03"), np.datetime64("2000-01-03") + n)
    returns = np.concatenate([0.01 * rng.normal(size=1000), 0.03 * rng.normal(size=500)])
    series = BarSeries("A", dates, np.ones((n, 5)))
    train_end, val_end = dates[799].item(), dates[1199].item()
    on_train, on_val = _garch(series, returns, train_end, 3), _garch(series, returns, val_end, 3)
    assert not np.allclose(on_train[1300:], on_val[1300:])  # the validation days moved the parameters
    later = returns.copy()
    later[1200:] = 0.5  # what comes after the fit must not move the parameters, only the path from then on
    np.testing.assert_array_equal(_garch(series, later, val_end, 3)[:1200], on_val[:1200])

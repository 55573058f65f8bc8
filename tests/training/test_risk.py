"""VaR backtests against published tables and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from training.risk import (
    christoffersen_independence,
    coverage_tests,
    kupiec_pof,
    traffic_light,
    var_backtest,
    var_exceptions,
    zones,
)


def _not_rejected(days: int, p: float) -> tuple[int, int]:
    accepted = [x for x in range(days // 5) if kupiec_pof(x, days, p)["p_value"] >= 0.05]
    return min(accepted), max(accepted)


@pytest.mark.parametrize(("p", "days", "region"), [
    (0.01, 510, (2, 10)), (0.01, 1000, (5, 16)),
    (0.05, 255, (7, 20)), (0.05, 510, (17, 35)), (0.05, 1000, (38, 64)),
])
def test_kupiec_non_rejection_regions_are_the_published_ones(p, days, region) -> None:
    """Kupiec (1995) as tabulated by Jorion, Value at Risk, table 6-2 (5% test): e.g. 4 < N < 17 at p 1%, T 1000."""
    assert _not_rejected(days, p) == region


def test_kupiec_by_hand() -> None:
    # 7 exceptions in 250 days at 1%: LR = -2 [243 log .99 + 7 log .01 - 243 log(243/250) - 7 log(7/250)]
    lr = -2 * (243 * np.log(0.99) + 7 * np.log(0.01) - 243 * np.log(243 / 250) - 7 * np.log(7 / 250))
    assert kupiec_pof(7, 250, 0.01)["lr"] == pytest.approx(lr)
    assert kupiec_pof(7, 250, 0.01)["p_value"] == pytest.approx(0.01905, abs=1e-4)
    assert kupiec_pof(0, 255, 0.01)["lr"] == pytest.approx(-2 * 255 * np.log(0.99))  # 0 log 0 = 0


def test_basel_traffic_light_is_the_published_table() -> None:
    """BCBS (1996): 250 days at 99% VaR: green 0-4 exceptions, yellow 5-9, red 10 or more."""
    assert [traffic_light(x, 250, 0.01) for x in range(13)] == ["green"] * 5 + ["yellow"] * 5 + ["red"] * 3
    hits = np.zeros(600, dtype=bool)
    hits[:10] = True  # window 1: 10 exceptions (red); window 2: none; the last 100 days are not a window
    assert zones(hits, 0.01) == ["red", "green"]
    assert zones(hits[:100], 0.01) == ["red"]  # a shorter span is one window of its own length


def test_christoffersen_independence_by_hand() -> None:
    hits = np.array([0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0], dtype=bool)
    # transitions: 00: 5, 01: 2, 10: 2, 11: 2
    n00, n01, n10, n11 = 5, 2, 2, 2
    pi, pi01, pi11 = 4 / 11, 2 / 7, 2 / 4
    restricted = (n00 + n10) * np.log(1 - pi) + (n01 + n11) * np.log(pi)
    unrestricted = n00 * np.log(1 - pi01) + n01 * np.log(pi01) + n10 * np.log(1 - pi11) + n11 * np.log(pi11)
    result = christoffersen_independence([hits])
    assert result["transitions"] == [[5, 2], [2, 2]]
    assert result["lr"] == pytest.approx(-2 * (restricted - unrestricted))
    # two runs: no transition from the first run's last day to the second's first
    assert christoffersen_independence([hits[:3], hits[3:]])["transitions"] == [[5, 2], [2, 1]]  # the 1 -> 1 at 2|3 is gone


def test_clustered_exceptions_fail_independence_and_spread_ones_pass() -> None:
    spread = np.zeros(1000, dtype=bool)
    spread[::20] = True  # 5%, never two in a row
    clustered = np.zeros(1000, dtype=bool)
    for start in range(0, 1000, 200):
        clustered[start : start + 10] = True  # 5%, in bursts
    assert coverage_tests([spread], 0.05)["kupiec"]["p_value"] > 0.5
    assert coverage_tests([clustered], 0.05)["independence"]["p_value"] < 1e-6
    assert coverage_tests([clustered], 0.05)["conditional_coverage"]["p_value"] < 1e-6


def test_a_true_gaussian_var_passes_and_a_too_narrow_one_fails() -> None:
    rng = np.random.default_rng(0)
    n_days, symbols = 1000, ["A", "B", "C"]
    std = rng.uniform(0.01, 0.03, (n_days * 3))
    target = std * rng.normal(size=std.shape)
    names = np.repeat(symbols, n_days)
    dates = np.tile(np.arange(n_days), 3)
    right = var_backtest(np.zeros_like(std), std, target, names, dates)
    narrow = var_backtest(np.zeros_like(std), 0.7 * std, target, names, dates)
    for level, p in (("95", 0.05), ("99", 0.01)):
        assert right[level]["pooled"]["rate"] == pytest.approx(p, abs=0.35 * p)
        assert right[level]["pooled"]["kupiec"]["p_value"] > 0.01
        assert narrow[level]["pooled"]["kupiec"]["p_value"] < 1e-6
        assert set(right[level]["per_symbol"]) == set(symbols)
    assert sum(right["99"]["pooled"]["zones"].values()) == 12  # 4 windows of 250 days x 3 symbols
    assert var_exceptions(np.zeros(2), np.ones(2), np.array([-1.7, -1.6]), 0.95).tolist() == [True, False]

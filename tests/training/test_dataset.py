"""No look-ahead: a sample at day t, its features and the train scalers never see bars after t."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from market_data.bars import BarSeries
from market_data.corporate_actions import rebased
from market_data.synthetic import synthesize
from training.dataset import (
    SplitConfig,
    chronological_split,
    forward_log_returns,
    make_dataset,
    split_rows,
    symbol_samples,
)

WINDOW = 64


@pytest.fixture(scope="module")
def market() -> list[BarSeries]:
    return synthesize(4, 420, seed=3)


def perturbed_after(series: BarSeries, day: np.datetime64, seed: int = 0) -> BarSeries:
    """The same series with every bar after `day` scaled by a random factor (still valid OHLC; below the size of
    a split-like move, which would drop the samples around it)."""
    later = series.dates > day
    factors = np.random.default_rng(seed).uniform(0.8, 1.25, later.sum())
    ohlcv = series.ohlcv.copy()
    ohlcv[later, :4] *= factors[:, None]
    ohlcv[later, 4] *= 2.0
    return dataclasses.replace(series, ohlcv=ohlcv)


def test_forward_log_returns_look_forward_only_by_h() -> None:
    close = np.array([1.0, 2.0, 4.0, 8.0])
    returns = forward_log_returns(close, horizons=2)
    np.testing.assert_allclose(returns[0], np.log([2.0, 4.0]))
    assert np.isnan(returns[3]).all() and np.isnan(returns[2, 1])


def test_sample_at_t_is_unchanged_by_bars_after_t(market) -> None:
    series = market[0]
    original = symbol_samples(series, WINDOW)
    row = len(original) // 2
    day = original.dates[row]
    changed = symbol_samples(perturbed_after(series, day), WINDOW)
    assert changed.dates[row] == day
    np.testing.assert_array_equal(changed.features[: row + 1], original.features[: row + 1])
    np.testing.assert_array_equal(changed.last_return[: row + 1], original.last_return[: row + 1])
    assert not np.array_equal(changed.features[row + 1 :], original.features[row + 1 :])  # the perturbation bites
    assert not np.array_equal(changed.targets[row], original.targets[row])  # targets are forward, as they must be


def test_train_rows_and_scalers_ignore_everything_after_the_train_targets(market) -> None:
    dataset = make_dataset(market, WINDOW, show_progress=False)
    last_used = dataset.train.target_end.max()
    assert last_used < np.datetime64(dataset.split.val[0])
    changed = make_dataset([perturbed_after(s, last_used, seed=i) for i, s in enumerate(market)], WINDOW,
                           show_progress=False)
    for name in ("mean", "scale"):
        np.testing.assert_array_equal(getattr(changed.feature_scaler, name), getattr(dataset.feature_scaler, name))
        np.testing.assert_array_equal(getattr(changed.target_scaler, name), getattr(dataset.target_scaler, name))
    np.testing.assert_array_equal(changed.train.features, dataset.train.features)
    np.testing.assert_array_equal(changed.train.targets, dataset.train.targets)
    assert not np.array_equal(changed.test.features, dataset.test.features)


def test_split_boundaries_leave_the_purge_gap(market) -> None:
    dataset = make_dataset(market, WINDOW, SplitConfig(purge_days=30), show_progress=False)
    calendar = np.unique(np.concatenate([dataset.train.dates, dataset.val.dates, dataset.test.dates,
                                         np.concatenate([s.dates for s in market])]))
    split = dataset.split
    for (_, end), (start, _) in ((split.train, split.val), (split.val, split.test)):
        between = calendar[(calendar > np.datetime64(end)) & (calendar < np.datetime64(start))]
        assert len(between) >= 30
    assert dataset.train.dates.max() <= np.datetime64(split.train[1]) < np.datetime64(split.val[0])
    assert dataset.train.target_end.max() < dataset.val.dates.min()
    assert dataset.val.target_end.max() < dataset.test.dates.min()


def test_a_sample_whose_targets_reach_the_next_split_is_dropped(market) -> None:
    samples = symbol_samples(market[0], WINDOW)
    split = chronological_split(samples.dates, SplitConfig(purge_days=5))  # a purge shorter than the horizon
    rows = split_rows(samples, split)
    assert (samples.target_end[rows["train"]] < np.datetime64(split.val[0])).all()
    inside = (samples.dates >= np.datetime64(split.train[0])) & (samples.dates <= np.datetime64(split.train[1]))
    assert inside.sum() > len(rows["train"])  # some train-period days were purged for their targets


def test_too_little_history_is_a_clear_error(market) -> None:
    short = [dataclasses.replace(s, dates=s.dates[:80], ohlcv=s.ohlcv[:80]) for s in market]
    with pytest.raises(ValueError, match="bars a sample needs"):
        make_dataset(short, WINDOW, show_progress=False)


def unadjusted(series: BarSeries, day: int, ratio: float) -> BarSeries:
    """`series` as an exchange printed it had the company split `ratio`:1 at bar `day` (history not adjusted)."""
    ohlcv = series.ohlcv.copy()
    ohlcv[:day] = rebased(ohlcv[:day], 1 / ratio)
    return dataclasses.replace(series, ohlcv=ohlcv)


def test_samples_an_unadjusted_split_corrupts_are_dropped_and_counted(market) -> None:
    clean = make_dataset(market, WINDOW, show_progress=False)
    assert clean.dropped.total == 0 and "no sample dropped" in clean.dropped.describe()
    day = 250
    raw = [unadjusted(market[0], day, 10.0), *market[1:]]
    dataset = make_dataset(raw, WINDOW, show_progress=False)
    (jump,) = dataset.dropped.jumps
    assert (jump.symbol, jump.date, jump.ratio) == (market[0].symbol, market[0].dates[day].item(), 10)
    assert dataset.dropped.in_targets == 30 and dataset.dropped.in_windows == WINDOW - 1
    assert dataset.split == clean.split  # dropped samples still date the split
    for part in (dataset.train, dataset.val, dataset.test):
        assert np.abs(part.targets).max() < 1.0  # no target carries the x10 move
    assert sum(map(len, (clean.train, clean.val, clean.test))) - sum(
        map(len, (dataset.train, dataset.val, dataset.test))) <= dataset.dropped.total
    summary = dataset.dropped.as_dict()
    assert summary["total"] == 93 and summary["days"][0]["ratio"] == "10"
    assert "93 samples dropped (30 with the day in their targets, 63 in their feature window)" in dataset.dropped.describe()

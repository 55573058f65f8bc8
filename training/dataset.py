"""Samples for the market model and their chronological split.

A sample is a (symbol, trading day t) with at least W bars up to t and H bars after it: its input is
`feature_kernels.compute_features` of the raw window of the W bars ending at t (the one feature
pipeline, shared with serving) and its targets are the forward log returns log(close[t+h] / close[t])
for h = 1..H. Bars after t never reach the sample's features.

The split is by date across all symbols: the calendar of sample dates is cut into train, validation
and test with `purge_days` trading days left out at each boundary, and a sample whose last target day
reaches into the next split is dropped as well (a symbol with missing days can stretch t+H past the
purge). The scalers are fitted on the train rows only.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from tqdm.auto import tqdm

from market_data.bars import BarSeries
from training.forecaster import FEATURE_CLIP, HORIZONS

FEATURE_CHUNK = 4096  # windows per compute_features call: bounds memory at W x 5 x 4 bytes each


@dataclass
class Samples:
    features: np.ndarray  # float32 (N, F), raw (unscaled)
    targets: np.ndarray  # float32 (N, H), forward log returns
    symbols: np.ndarray  # str (N,)
    dates: np.ndarray  # datetime64[D] (N,), the day t
    target_end: np.ndarray  # datetime64[D] (N,), the day t+H
    last_return: np.ndarray  # float32 (N,), log(close[t] / close[t-1]), for the reversal baseline

    def __len__(self) -> int:
        return len(self.dates)

    def subset(self, rows: np.ndarray) -> Samples:
        return Samples(*(getattr(self, name)[rows] for name in self.__dataclass_fields__))

    @classmethod
    def concatenate(cls, parts: list[Samples]) -> Samples:
        return cls(*(np.concatenate([getattr(p, name) for p in parts]) for name in cls.__dataclass_fields__))


def forward_log_returns(close: np.ndarray, horizons: int = HORIZONS) -> np.ndarray:
    """(n, H): row t holds log(close[t+h] / close[t]) for h = 1..H; NaN where t+h is past the end."""
    log_close = np.log(close)
    out = np.full((len(close), horizons), np.nan)
    for h in range(1, horizons + 1):
        out[: len(close) - h, h - 1] = log_close[h:] - log_close[:-h]
    return out


def sample_days(n_bars: int, window: int, horizons: int = HORIZONS) -> np.ndarray:
    """Indices t with a full window behind and all H targets ahead."""
    return np.arange(window - 1, n_bars - horizons)


def symbol_samples(series: BarSeries, window: int, horizons: int = HORIZONS) -> Samples:
    from feature_kernels import compute_features

    days = sample_days(len(series), window, horizons)
    if len(days) == 0:
        return _empty_samples(horizons)
    windows = sliding_window_view(series.ohlcv.astype(np.float32), (window, 5))[:, 0]  # (n-W+1, W, 5)
    starts = days - (window - 1)
    features = np.concatenate([compute_features(np.ascontiguousarray(windows[starts[i : i + FEATURE_CHUNK]]))
                               for i in range(0, len(starts), FEATURE_CHUNK)])
    close = series.close
    last_return = np.log(close[days] / close[days - 1]) if window >= 2 else np.zeros(len(days))
    return Samples(features.astype(np.float32), forward_log_returns(close, horizons)[days].astype(np.float32),
                   np.full(len(days), series.symbol, dtype=object), series.dates[days],
                   series.dates[days + horizons], last_return.astype(np.float32))


def _empty_samples(horizons: int) -> Samples:
    return Samples(np.zeros((0, 0), np.float32), np.zeros((0, horizons), np.float32), np.zeros(0, dtype=object),
                   np.zeros(0, "datetime64[D]"), np.zeros(0, "datetime64[D]"), np.zeros(0, np.float32))


def build_samples(series_list: list[BarSeries], window: int, horizons: int = HORIZONS,
                  show_progress: bool = False) -> Samples:
    parts = [symbol_samples(s, window, horizons)
             for s in tqdm(series_list, desc="features", unit="symbol", leave=False,
                           disable=None if show_progress else True)]
    parts = [p for p in parts if len(p)]
    if not parts:
        need = window + horizons
        raise ValueError(f"no symbol has the {need} bars a sample needs (window {window} + {horizons} horizons)")
    return Samples.concatenate(parts)


@dataclass
class SplitConfig:
    train_fraction: float = 0.70
    val_fraction: float = 0.15
    purge_days: int = HORIZONS  # trading days left out at each boundary, so no target crosses it


@dataclass
class SplitDates:
    train: tuple[datetime.date, datetime.date]
    val: tuple[datetime.date, datetime.date]
    test: tuple[datetime.date, datetime.date]
    purge_days: int

    def as_dict(self) -> dict:
        return {name: [str(a), str(b)] for name, (a, b) in
                (("train", self.train), ("val", self.val), ("test", self.test))} | {"purge_days": self.purge_days}

    @classmethod
    def from_dict(cls, data: dict) -> SplitDates:
        """The dates a run stored (`as_dict`): evaluating it again uses them, not a split of today's store."""
        def span(name: str) -> tuple[datetime.date, datetime.date]:
            first, last = data[name]
            return datetime.date.fromisoformat(first), datetime.date.fromisoformat(last)

        return cls(span("train"), span("val"), span("test"), int(data["purge_days"]))


def chronological_split(dates: np.ndarray, config: SplitConfig) -> SplitDates:
    """Cut the calendar of sample dates into train | purge | validation | purge | test."""
    calendar = np.unique(dates)
    usable = len(calendar) - 2 * config.purge_days
    n_train = int(round(config.train_fraction * usable))
    n_val = int(round(config.val_fraction * usable))
    if min(n_train, n_val, usable - n_train - n_val) < 1:
        raise ValueError(f"{len(calendar)} sample dates are too few for a train/validation/test split "
                         f"with {config.purge_days}-day purges; use more days of history")
    val_start = n_train + config.purge_days
    test_start = val_start + n_val + config.purge_days

    def span(a: int, b: int) -> tuple[datetime.date, datetime.date]:
        return calendar[a].item(), calendar[b - 1].item()

    return SplitDates(span(0, n_train), span(val_start, val_start + n_val), span(test_start, len(calendar)),
                      config.purge_days)


def split_rows(samples: Samples, split: SplitDates) -> dict[str, np.ndarray]:
    """Row indices of each split; a row whose target end reaches the next split is dropped."""
    d, end = samples.dates, samples.target_end

    def within(span: tuple[datetime.date, datetime.date]) -> np.ndarray:
        return (d >= np.datetime64(span[0])) & (d <= np.datetime64(span[1]))

    train = within(split.train) & (end < np.datetime64(split.val[0]))
    val = within(split.val) & (end < np.datetime64(split.test[0]))
    return {"train": np.flatnonzero(train), "val": np.flatnonzero(val), "test": np.flatnonzero(within(split.test))}


@dataclass
class Scaler:
    """Per-column standardisation fitted on train rows; NaN-aware, a constant column gets scale 1."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        finite = np.where(np.isfinite(values), values, np.nan).astype(np.float64)
        mean = np.nan_to_num(np.nanmean(finite, axis=0))
        scale = np.nan_to_num(np.nanstd(finite, axis=0))
        return cls(mean.astype(np.float32), np.where(scale > 1e-12, scale, 1.0).astype(np.float32))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.scale

    def transform_features(self, values: np.ndarray) -> np.ndarray:
        """The same arithmetic as `Forecaster.scale_features`: NaN -> 0, clipped to +-FEATURE_CLIP."""
        with np.errstate(invalid="ignore"):
            scaled = self.transform(values)
        return np.clip(np.nan_to_num(scaled, nan=0.0), -FEATURE_CLIP, FEATURE_CLIP).astype(np.float32)

    def as_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}


@dataclass
class MarketDataset:
    train: Samples
    val: Samples
    test: Samples
    split: SplitDates
    feature_scaler: Scaler
    target_scaler: Scaler
    feature_names: tuple[str, ...]
    window: int


def make_dataset(series_list: list[BarSeries], window: int, split_config: SplitConfig | None = None,
                 show_progress: bool = False, split_dates: SplitDates | None = None) -> MarketDataset:
    """Samples split by date: `split_dates` when given (a stored run's), else a fresh chronological split."""
    from feature_kernels import FEATURE_NAMES, MIN_WINDOW

    if window < MIN_WINDOW:
        raise ValueError(f"window {window} is below feature_kernels.MIN_WINDOW={MIN_WINDOW}")
    samples = build_samples(series_list, window, show_progress=show_progress)
    split = split_dates or chronological_split(samples.dates, split_config or SplitConfig())
    rows = split_rows(samples, split)
    empty = [name for name, r in rows.items() if len(r) == 0]
    if empty:
        raise ValueError(f"the {', '.join(empty)} split(s) have no samples; use more symbols or days")
    train = samples.subset(rows["train"])
    return MarketDataset(train, samples.subset(rows["val"]), samples.subset(rows["test"]), split,
                         Scaler.fit(train.features), Scaler.fit(train.targets), tuple(FEATURE_NAMES), window)

"""Test series: real WIG80 bars from the shared stooq files, and seeded random walks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.fixtures.requirements import requirement_missing

STOOQ_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "wig80" / "stooq"
STOOQ_SYMBOLS = ("ABE", "AMC", "BRS", "DCR")


def load_stooq(symbol: str) -> np.ndarray:
    """float64 (n, 5) open, high, low, close, volume from stooq's Polish export."""
    path = STOOQ_DIR / f"{symbol}.csv"
    if not path.exists():
        requirement_missing(f"real data not found at {path} (the shared data next to the checkout)")
    return np.loadtxt(path, delimiter=";", skiprows=1, usecols=(1, 2, 3, 4, 5))


def random_walk(n: int, seed: int, start: float = 20.0, daily_vol: float = 0.02) -> np.ndarray:
    """float64 (n, 5) OHLCV bars of a geometric random walk with consistent high/low."""
    rng = np.random.default_rng(seed)
    close = start * np.exp(np.cumsum(rng.normal(0.0, daily_vol, n)))
    open_ = np.concatenate([[start], close[:-1]]) * np.exp(rng.normal(0.0, daily_vol / 4, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, daily_vol / 2, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, daily_vol / 2, n)))
    volume = rng.lognormal(10.0, 1.0, n)
    return np.column_stack([open_, high, low, close, volume])


def windows_of(bars: np.ndarray, days: int, count: int) -> np.ndarray:
    """float32 (count, days, 5): windows ending at evenly spread days of `bars`."""
    ends = np.linspace(days, bars.shape[0], count).astype(int)
    return np.stack([bars[end - days:end] for end in ends]).astype(np.float32)

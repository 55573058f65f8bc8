"""Feature rows for the export's parity check: features of real bar windows from the bars store.

The "real" inputs are the same kind of rows the server will see: `compute_features` of the last bar
windows of stored symbols. Only when the store holds no symbol with a full window do we fall back to a
synthetic market, and the parity report says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from feature_kernels import compute_features
from market_data.bars import BarSeries
from market_data.stores.sync import run_sync

WINDOWS_PER_SYMBOL = 8
MAX_SYMBOLS = 16


def windows_of(series: list[BarSeries], window: int, per_symbol: int = WINDOWS_PER_SYMBOL) -> np.ndarray:
    """The last `per_symbol` windows (W bars each) of every series that has a full one, (N, W, 5) float32."""
    parts = []
    for s in series:
        if len(s) >= window:
            tail = s.ohlcv[-(window + per_symbol - 1) :]
            parts.append(sliding_window_view(tail, (window, 5))[:, 0])
    if not parts:
        return np.empty((0, window, 5), dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(parts), dtype=np.float32)


async def _stored_series(url: str | None, home: Path, n_bars: int) -> list[BarSeries]:
    from market_data.stores import open_store

    async with open_store(url, home) as store:
        symbols = list(await store.list_symbols())[:MAX_SYMBOLS]
        return [await store.last_bars(symbol, n_bars) for symbol in symbols]


def stored_windows(url: str | None, home: Path, window: int) -> np.ndarray:
    series = run_sync(_stored_series(url, home, window + WINDOWS_PER_SYMBOL - 1))
    return windows_of(series, window)


def synthetic_windows(window: int, seed: int = 7) -> np.ndarray:
    from market_data.synthetic import synthesize

    return windows_of(synthesize(4, window + 2 * WINDOWS_PER_SYMBOL, seed), window)


def real_feature_rows(url: str | None, home: Path, window: int) -> tuple[np.ndarray, str]:
    """(feature rows (N, F) float32, where they came from)."""
    try:
        windows, source = stored_windows(url, home, window), f"bars store ({url or home})"
    except Exception as error:  # an unreachable store must not block an export: say so and go on
        windows, source = np.empty((0, window, 5), np.float32), f"bars store unreadable: {error}"
    if len(windows) == 0:
        windows, source = synthetic_windows(window), f"synthetic market ({source} had no full window)"
    return compute_features(windows), source

"""The gateway's hot state: per symbol, the last window of bars the model needs, held in memory.

Loaded from the store at start-up and kept current by the store's change feed (`ChangeFeedFollower`:
every write path, whichever process made it), so a warm request reads no store. A symbol not yet held is read once,
and concurrent readers of it share that one read. A longer history than the window (`/forecast`'s
bars, `/spectrum`'s days) is read once per symbol and window, then held while it ends with the held window.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import numpy as np

from market_data.bars import BarSeries


class WindowMoved(Exception):
    """The store's bars changed under a held window; it was re-read, ask again."""


def _ends_with(series: BarSeries, window: BarSeries) -> bool:
    """Whether `series`' last bars are exactly `window` (same dates and prices)."""
    if len(series) < len(window):
        return False
    tail = series.tail(len(window))
    return bool(np.array_equal(tail.dates, window.dates) and np.array_equal(tail.ohlcv, window.ohlcv))


class HotWindows:
    def __init__(self, store) -> None:
        self.store = store  # market_data.stores.BarStore
        self.size = 0  # bars per window: the model's window, set by `load_all`
        self._series: dict[str, BarSeries] = {}
        self._reads: dict[str, asyncio.Task[BarSeries]] = {}
        self._histories: dict[str, tuple[int, BarSeries]] = {}  # ticker -> (bars asked of the store, what it gave)
        self.newest_date: dt.date | None = None  # of any held symbol: the market's last day as the store knows it

    @property
    def tickers(self) -> list[str]:
        return sorted(self._series)

    async def load_all(self, size: int) -> None:
        """Hold the last `size` bars of every stored symbol (again, when the model's window changes)."""
        self.size = size
        self._series.clear()
        self._histories.clear()
        self.newest_date = None
        for ticker in await self.store.list_symbols():
            self._keep(await self.store.last_bars(ticker, size))

    async def get(self, ticker: str) -> BarSeries:
        """The held window; a symbol not held yet is read from the store (once, however many ask)."""
        series = self._series.get(ticker)
        if series is not None:
            return series
        read = self._reads.get(ticker)
        if read is None:
            read = asyncio.ensure_future(self._read(ticker))
            self._reads[ticker] = read
            read.add_done_callback(lambda _: self._reads.pop(ticker, None))
        return await asyncio.shield(read)

    async def refresh(self, ticker: str) -> BarSeries:
        """Read the symbol's window again: a new bar was stored (here or by another replica)."""
        self._histories.pop(ticker, None)
        return await self._read(ticker)

    async def history(self, ticker: str, n: int, window: BarSeries | None = None) -> BarSeries:
        """The last `n` bars of the symbol ending with `window` (default: the held window): its tail, or,
        when more are asked, a history read from the store once and held while it ends with that window.
        WindowMoved when the store's bars no longer end with `window` (the window is re-read then: ask
        again), so an answer never joins bars of two different snapshots."""
        window = window if window is not None else await self.get(ticker)
        if n <= len(window) or len(window) == 0:
            return window.tail(n)
        asked, held = self._histories.get(ticker, (0, None))
        if held is None or asked < n or not _ends_with(held, window):
            held = await self.store.last_bars(ticker, n)
            if not _ends_with(held, window):
                await self.refresh(ticker)
                raise WindowMoved(f"{ticker}'s stored bars changed while its history was read")
            self._histories[ticker] = (n, held)
        return held.tail(n)

    async def _read(self, ticker: str) -> BarSeries:
        series = await self.store.last_bars(ticker, self.size or 1)
        return self._keep(series)

    def _keep(self, series: BarSeries) -> BarSeries:
        """Hold `series` unless a window ending later is held already (reads may finish out of order)."""
        if len(series) == 0:
            return series
        held = self._series.get(series.symbol)
        if held is not None and held.dates[-1] > series.dates[-1]:
            return held
        self._series[series.symbol] = series
        last = series.dates[-1].astype(dt.date)
        if self.newest_date is None or last > self.newest_date:
            self.newest_date = last
        return series

"""The embedded default: one SQLite file (WAL mode) under WIG80_HOME/data, no server needed.

SQLite calls block, so they run on one dedicated worker thread; that also serialises them, which is
what a single SQLite connection requires.
"""

from __future__ import annotations

import asyncio
import datetime
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from market_data.bars import BarSeries
from market_data.stores.base import AppendResult, BarStore, SymbolSummary

T = TypeVar("T")
EPOCH = datetime.date(1970, 1, 1)

SCHEMA = """
CREATE TABLE IF NOT EXISTS bars (
    symbol TEXT NOT NULL,
    day INTEGER NOT NULL,  -- days since 1970-01-01
    open REAL NOT NULL,
    high REAL NOT NULL,
    low REAL NOT NULL,
    close REAL NOT NULL,
    volume REAL NOT NULL,
    PRIMARY KEY (symbol, day)
) WITHOUT ROWID
"""
COLUMNS = "day, open, high, low, close, volume"


def _day_number(day: datetime.date) -> int:
    return (day - EPOCH).days


def _series_from_rows(symbol: str, rows: list[tuple]) -> BarSeries:
    if not rows:
        return BarSeries.empty(symbol)
    table = np.array(rows, dtype=np.float64)
    return BarSeries(symbol, table[:, 0].astype(np.int64).astype("datetime64[D]"), table[:, 1:])


def _rows_of(series: BarSeries) -> list[tuple]:
    days = series.dates.astype(np.int64).tolist()
    columns = series.ohlcv.T.tolist()
    return list(zip([series.symbol] * len(days), days, *columns, strict=True))


class EmbeddedBarStore(BarStore):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wig80-sqlite")
        self._connection: sqlite3.Connection | None = None
        self._closed = False

    @property
    def description(self) -> str:
        return f"embedded SQLite file {self.path}"

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            connection.execute(SCHEMA)
            self._connection = connection
        return self._connection

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError(f"{self.description} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self._connect()))

    async def append_many(self, series: Sequence[BarSeries]) -> AppendResult:
        rows = [row for one in series for row in _rows_of(one)]

        def insert(connection: sqlite3.Connection) -> int:
            before = connection.total_changes
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(f"INSERT OR IGNORE INTO bars (symbol, {COLUMNS}) VALUES (?,?,?,?,?,?,?)", rows)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return connection.total_changes - before

        stored = await self._run(insert) if rows else 0
        return AppendResult(stored=stored, duplicates=len(rows) - stored)

    async def last_bars(self, symbol: str, n: int) -> BarSeries:
        query = f"SELECT {COLUMNS} FROM bars WHERE symbol = ? ORDER BY day DESC LIMIT ?"
        rows = await self._run(lambda connection: connection.execute(query, (symbol, max(n, 0))).fetchall())
        return _series_from_rows(symbol, rows[::-1])

    async def read_range(
        self, symbol: str, start: datetime.date | None = None, end: datetime.date | None = None
    ) -> BarSeries:
        low = _day_number(start) if start else -(2**62)
        high = _day_number(end) if end else 2**62
        query = f"SELECT {COLUMNS} FROM bars WHERE symbol = ? AND day BETWEEN ? AND ? ORDER BY day"
        rows = await self._run(lambda connection: connection.execute(query, (symbol, low, high)).fetchall())
        return _series_from_rows(symbol, rows)

    async def list_symbols(self) -> dict[str, SymbolSummary]:
        query = "SELECT symbol, count(*), min(day), max(day) FROM bars GROUP BY symbol ORDER BY symbol"
        rows = await self._run(lambda connection: connection.execute(query).fetchall())
        return {
            symbol: SymbolSummary(count, EPOCH + datetime.timedelta(first), EPOCH + datetime.timedelta(last))
            for symbol, count, first, last in rows
        }

    async def ping(self) -> None:
        await self._run(lambda connection: connection.execute("SELECT 1 FROM bars LIMIT 1").fetchall())

    async def close(self) -> None:
        if self._closed:
            return

        def close_connection(connection: sqlite3.Connection) -> None:
            connection.close()

        if self._connection is not None:
            await self._run(close_connection)
        self._closed = True
        self._executor.shutdown(wait=True)

"""The embedded default: one SQLite file (WAL mode) under WIG80_HOME/data, no server needed.

SQLite calls block, so they run on one dedicated worker thread; that also serialises them, which is
what a single SQLite connection requires.

Beside `bars`, the file holds `bar_changes` (the change feed: one row per symbol per committed write)
and `corporate_actions`. A write takes SQLite's write lock first (BEGIN IMMEDIATE), so change numbers
(max + 1) are assigned in commit order across every process using the file. Wake-ups: this process's
own writes at once, other processes' commits within WAKEUP_POLL_S (`PRAGMA data_version`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np

from market_data.bars import BarSeries
from market_data.corporate_actions import CorporateAction, reconcile_steps
from market_data.stores.base import (
    AppendResult,
    BarStore,
    ChangeWakeups,
    SymbolChange,
    SymbolSummary,
    WriteLedger,
)

T = TypeVar("T")
EPOCH = datetime.date(1970, 1, 1)
WAKEUP_POLL_S = 0.25

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
CHANGES_SCHEMA = """
CREATE TABLE IF NOT EXISTS bar_changes (
    change INTEGER PRIMARY KEY,  -- max + 1 under the write lock: increasing in commit order
    symbol TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('bars', 'adjustment')),
    first_date TEXT NOT NULL,  -- ISO dates, readable in any SQLite shell
    last_date TEXT NOT NULL,
    rows INTEGER NOT NULL,
    changed_at TEXT NOT NULL  -- ISO, UTC
)
"""
ACTIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS corporate_actions (
    symbol TEXT NOT NULL,
    ex_date TEXT NOT NULL CHECK (date(ex_date) = ex_date),
    ratio REAL NOT NULL CHECK (ratio > 0),
    kind TEXT NOT NULL CHECK (kind IN ('split', 'level')),
    status TEXT NOT NULL CHECK (status IN ('active', 'pending', 'dismissed')),
    source TEXT NOT NULL CHECK (source IN ('detected', 'manual', 'file')),
    note TEXT NOT NULL DEFAULT '',
    applied REAL NOT NULL DEFAULT 1.0 CHECK (applied > 0),
    PRIMARY KEY (symbol, ex_date)
) WITHOUT ROWID
"""
COLUMNS = "day, open, high, low, close, volume"
ACTION_COLUMNS = "symbol, ex_date, ratio, kind, status, source, note, applied"


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


def _action_from_row(row: tuple) -> CorporateAction:
    symbol, ex_date, ratio, kind, status, source, note, applied = row
    return CorporateAction(symbol, datetime.date.fromisoformat(ex_date), ratio, kind, status, source, note, applied)


def _change_from_row(row: tuple) -> SymbolChange:
    change, symbol, kind, first, last, rows, at = row
    return SymbolChange(change, symbol, kind, datetime.date.fromisoformat(first), datetime.date.fromisoformat(last),
                        rows, datetime.datetime.fromisoformat(at))


class EmbeddedChangeWakeups(ChangeWakeups):
    """This process's writes wake at once; another process's commit within WAKEUP_POLL_S (data_version)."""

    def __init__(self, store: EmbeddedBarStore) -> None:
        self.store = store
        self.event = asyncio.Event()
        self._version: int | None = None
        store._wakeups.add(self)

    async def wait(self, timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self._version is None:
            self._version = await self.store._data_version()
        while True:
            slice_s = min(WAKEUP_POLL_S, deadline - loop.time())
            if slice_s <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.event.wait(), slice_s)
            if self.event.is_set():
                self.event.clear()
                return True
            version = await self.store._data_version()
            if version != self._version:
                self._version = version
                return True

    async def close(self) -> None:
        self.store._wakeups.discard(self)


class EmbeddedBarStore(BarStore):
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wig80-sqlite")
        self._connection: sqlite3.Connection | None = None
        self._closed = False
        self._wakeups: set[EmbeddedChangeWakeups] = set()

    @property
    def description(self) -> str:
        return f"embedded SQLite file {self.path}"

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            for schema in (SCHEMA, CHANGES_SCHEMA, ACTIONS_SCHEMA):
                connection.execute(schema)
            self._connection = connection
        return self._connection

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError(f"{self.description} is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self._connect()))

    async def _write(self, work: Callable[[sqlite3.Connection, WriteLedger], T]) -> tuple[T, list[SymbolChange]]:
        """`work` in one write transaction that also records a change row per symbol it touched."""

        def transaction(connection: sqlite3.Connection) -> tuple[T, list[SymbolChange]]:
            connection.execute("BEGIN IMMEDIATE")
            try:
                touched = WriteLedger()
                result = work(connection, touched)
                changes = self._record_changes(connection, touched)
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
            return result, changes

        result, changes = await self._run(transaction)
        if changes:
            for wakeup in list(self._wakeups):
                wakeup.event.set()
        return result, changes

    @staticmethod
    def _record_changes(connection: sqlite3.Connection, touched: WriteLedger) -> list[SymbolChange]:
        (number,) = connection.execute("SELECT coalesce(max(change), 0) FROM bar_changes").fetchone()
        at = datetime.datetime.now(datetime.UTC)
        changes = []
        for symbol in sorted(touched.rows):
            (last,) = connection.execute("SELECT max(day) FROM bars WHERE symbol = ?", (symbol,)).fetchone()
            number += 1
            changes.append(SymbolChange(number, symbol, touched.kind(symbol), touched.first[symbol],
                                        EPOCH + datetime.timedelta(last), touched.rows[symbol], at))
        connection.executemany(
            "INSERT INTO bar_changes (change, symbol, kind, first_date, last_date, rows, changed_at)"
            " VALUES (?,?,?,?,?,?,?)",
            [(c.change, c.symbol, c.kind, c.first_date.isoformat(), c.last_date.isoformat(), c.rows,
              c.changed_at.isoformat()) for c in changes],
        )
        return changes

    async def append_many(self, series: Sequence[BarSeries], actions: Sequence[CorporateAction] = ()) -> AppendResult:
        series = [one for one in series if len(one)]
        total = sum(len(one) for one in series)

        def insert(connection: sqlite3.Connection, touched: WriteLedger) -> int:
            stored = 0
            for one in series:
                rows = _rows_of(one)
                query = "SELECT day FROM bars WHERE symbol = ? AND day BETWEEN ? AND ?"
                existing = {day for (day,) in connection.execute(query, (one.symbol, rows[0][1], rows[-1][1]))}
                new = [row for row in rows if row[1] not in existing]
                before = connection.total_changes
                connection.executemany(f"INSERT OR IGNORE INTO bars (symbol, {COLUMNS}) VALUES (?,?,?,?,?,?,?)", new)
                written = connection.total_changes - before
                touched.add(one.symbol, written, EPOCH + datetime.timedelta(min((row[1] for row in new), default=0)))
                stored += written
            if actions:
                self._put_actions(connection, actions)
                self._reconcile(connection, {a.symbol for a in actions}, touched)
            return stored

        if not total and not actions:
            return AppendResult(0, 0)
        stored, changes = await self._write(insert)
        return AppendResult(stored=stored, duplicates=total - stored, changes=tuple(changes))

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

    # ---- the change feed ----------------------------------------------------------------------------

    async def latest_change(self) -> int:
        query = "SELECT coalesce(max(change), 0) FROM bar_changes"
        return await self._run(lambda connection: connection.execute(query).fetchone()[0])

    async def changes_since(self, change: int, limit: int = 1000) -> list[SymbolChange]:
        query = ("SELECT change, symbol, kind, first_date, last_date, rows, changed_at FROM bar_changes"
                 " WHERE change > ? ORDER BY change LIMIT ?")
        rows = await self._run(lambda connection: connection.execute(query, (int(change), int(limit))).fetchall())
        return [_change_from_row(row) for row in rows]

    def change_wakeups(self) -> EmbeddedChangeWakeups:
        return EmbeddedChangeWakeups(self)

    async def _data_version(self) -> int:
        return await self._run(lambda connection: connection.execute("PRAGMA data_version").fetchone()[0])

    # ---- corporate actions --------------------------------------------------------------------------

    async def corporate_actions(self, symbol: str | None = None) -> list[CorporateAction]:
        where, args = ("WHERE symbol = ?", (symbol,)) if symbol else ("", ())
        query = f"SELECT {ACTION_COLUMNS} FROM corporate_actions {where} ORDER BY symbol, ex_date"
        rows = await self._run(lambda connection: connection.execute(query, args).fetchall())
        return [_action_from_row(row) for row in rows]

    async def put_actions(self, actions: Sequence[CorporateAction]) -> list[SymbolChange]:
        def put(connection: sqlite3.Connection, touched: WriteLedger) -> None:
            self._put_actions(connection, actions)
            self._reconcile(connection, {a.symbol for a in actions}, touched)

        return (await self._write(put))[1]

    async def remove_actions(self, keys: Sequence[tuple[str, datetime.date]]) -> list[SymbolChange]:
        def remove(connection: sqlite3.Connection, touched: WriteLedger) -> None:
            self._reconcile(connection, {symbol for symbol, _ in keys}, touched, removing=set(keys))

        return (await self._write(remove))[1]

    async def apply_actions(self, symbol: str | None = None) -> list[SymbolChange]:
        def apply(connection: sqlite3.Connection, touched: WriteLedger) -> None:
            symbols = [symbol] if symbol else [s for (s,) in connection.execute(
                "SELECT DISTINCT symbol FROM corporate_actions")]
            self._reconcile(connection, set(symbols), touched)

        return (await self._write(apply))[1]

    @staticmethod
    def _put_actions(connection: sqlite3.Connection, actions: Sequence[CorporateAction]) -> None:
        """Insert or replace each action's row; a replaced row keeps the ratio its prices reflect (`applied`)."""
        connection.executemany(
            f"INSERT INTO corporate_actions ({ACTION_COLUMNS}) VALUES (?,?,?,?,?,?,?,1.0)"
            " ON CONFLICT (symbol, ex_date) DO UPDATE SET ratio = excluded.ratio, kind = excluded.kind,"
            " status = excluded.status, source = excluded.source, note = excluded.note",
            [(a.symbol, a.ex_date.isoformat(), a.ratio, a.kind, a.status, a.source, a.note) for a in actions],
        )

    @staticmethod
    def _reconcile(connection: sqlite3.Connection, symbols: Iterable[str], touched: WriteLedger,
                   removing: set[tuple[str, datetime.date]] = frozenset()) -> None:
        """Rewrite the stored prices of `symbols` so they reflect each action's wanted ratio (1 for the
        actions being removed, whose rows then go)."""
        for symbol in sorted(symbols):
            rows = connection.execute(f"SELECT {ACTION_COLUMNS} FROM corporate_actions WHERE symbol = ?", (symbol,))
            actions = [_action_from_row(row) for row in rows.fetchall()]
            leaving = [a for a in actions if a.key in removing]
            actions = [replace(a, status="dismissed") if a in leaving else a for a in actions]  # wanted: 1
            for action, delta in reconcile_steps(actions):
                ex_day = _day_number(action.ex_date)
                before = connection.total_changes
                connection.execute(
                    "UPDATE bars SET open = open / ?1, high = high / ?1, low = low / ?1, close = close / ?1,"
                    " volume = volume * ?1 WHERE symbol = ?2 AND day < ?3", (delta, symbol, ex_day))
                rewritten = connection.total_changes - before
                (first,) = connection.execute("SELECT min(day) FROM bars WHERE symbol = ?", (symbol,)).fetchone()
                touched.add(symbol, rewritten, EPOCH + datetime.timedelta(first if first is not None else ex_day),
                            adjusted=True)
                connection.execute("UPDATE corporate_actions SET applied = ? WHERE symbol = ? AND ex_date = ?",
                                   (action.wanted, symbol, action.ex_date.isoformat()))
            connection.executemany("DELETE FROM corporate_actions WHERE symbol = ? AND ex_date = ?",
                                   [(a.symbol, a.ex_date.isoformat()) for a in leaving])

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

"""The PostgreSQL-wire store over asyncpg, for PostgreSQL and for QuestDB (production).

The server is detected from `SELECT version()` (QuestDB names itself there). Each gets its own DDL:
PostgreSQL a plain table with primary key (symbol, ts); QuestDB a WAL table with `ts` as designated
timestamp, `symbol` as SYMBOL, `PARTITION BY YEAR` and `DEDUP UPSERT KEYS(ts, symbol)`. The
reading queries are the same for both. Bulk writes into PostgreSQL use binary COPY into a temporary
staging table, then one `INSERT ... ON CONFLICT DO NOTHING`, all in one transaction. QuestDB does not
speak COPY over the wire, so there the new rows go as one batched (pipelined) prepared INSERT, after
leaving out the (symbol, date) pairs already stored, because QuestDB's dedup would overwrite them.

Write semantics, the same on both as far as each server allows: a stored bar is kept, a second write of
the same (symbol, date) is counted as a duplicate and changes nothing. PostgreSQL enforces this in the
database (the primary key). On QuestDB it rests on the filter above, whose read sees only committed
and applied WAL rows: two writers of the same bar racing (or a re-send before QuestDB applied the first
write, normally milliseconds) both count it as stored, and DEDUP UPSERT keeps the last one written.
The importer's and POST /bars' counts are exact on PostgreSQL, and exact on QuestDB but for that race.

The change feed and corporate actions (PostgreSQL): tables `<table>_changes`, `<table>_change_counter`
(one row) and `<table>_corporate_actions` beside the bars. A write ends by incrementing the counter row,
whose row lock is held to the commit, so change numbers are assigned in commit order even between
concurrent writers (a plain sequence is not: a later number could commit first and a follower that saw
it would skip the earlier one); in the same transaction it inserts the change rows and sends
`NOTIFY <table>_changes` (delivered at commit, payload the newest change number). QuestDB has no
multi-statement transaction across tables, no row locks and no LISTEN/NOTIFY: on QuestDB the change feed
and the corporate actions raise `ChangeFeedUnsupported` (docs/market_data.md says what a follower does).

Every wait is bounded: connecting (CONNECT_TIMEOUT_S), taking a pooled connection (ACQUIRE_TIMEOUT_S)
and each statement (COMMAND_TIMEOUT_S). A failure to reach the server, or a connection lost mid-call,
raises `StoreUnavailable` (a write's transaction is then rolled back by the server: nothing half-written).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import numpy as np

from market_data.bars import BarSeries
from market_data.corporate_actions import CorporateAction, reconcile_steps
from market_data.stores.base import (
    AppendResult,
    BarStore,
    ChangeWakeups,
    StoreUnavailable,
    SymbolChange,
    SymbolSummary,
    WriteLedger,
)

DEFAULT_TABLE = "bars"
TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()
COLUMNS = ("symbol", "ts", "open", "high", "low", "close", "volume")
CONNECT_TIMEOUT_S = 5.0
ACQUIRE_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 30.0  # a bulk import's COPY of a large file stays well within this
UNAVAILABLE = (
    asyncpg.PostgresConnectionError,  # refused, lost, does not exist
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, crash, query canceled (statement timeout)
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, disk full
    asyncpg.InterfaceError,  # the connection was closed under us
    OSError,  # includes TimeoutError: connect, acquire and command timeouts
)

POSTGRES_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    symbol TEXT NOT NULL,
    ts TIMESTAMP NOT NULL,
    open DOUBLE PRECISION NOT NULL,
    high DOUBLE PRECISION NOT NULL,
    low DOUBLE PRECISION NOT NULL,
    close DOUBLE PRECISION NOT NULL,
    volume DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (symbol, ts)
)
"""
FEED_DDL = (
    """CREATE TABLE IF NOT EXISTS {table}_changes (
        change BIGINT PRIMARY KEY,
        symbol TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('bars', 'adjustment')),
        first_date DATE NOT NULL,
        last_date DATE NOT NULL,
        rows INTEGER NOT NULL,
        changed_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS {table}_change_counter (
        only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
        change BIGINT NOT NULL
    )""",
    "INSERT INTO {table}_change_counter (only_row, change) VALUES (TRUE, 0) ON CONFLICT DO NOTHING",
    """CREATE TABLE IF NOT EXISTS {table}_corporate_actions (
        symbol TEXT NOT NULL,
        ex_date DATE NOT NULL,
        ratio DOUBLE PRECISION NOT NULL CHECK (ratio > 0),
        kind TEXT NOT NULL CHECK (kind IN ('split', 'level')),
        status TEXT NOT NULL CHECK (status IN ('active', 'pending', 'dismissed')),
        source TEXT NOT NULL CHECK (source IN ('detected', 'manual', 'file')),
        note TEXT NOT NULL DEFAULT '',
        applied DOUBLE PRECISION NOT NULL DEFAULT 1.0 CHECK (applied > 0),
        PRIMARY KEY (symbol, ex_date)
    )""",
)
ACTION_COLUMNS = "symbol, ex_date, ratio, kind, status, source, note, applied"
CHANGE_COLUMNS = "change, symbol, kind, first_date, last_date, rows, changed_at"
WAKEUP_PING_TIMEOUT_S = 2.0
QUESTDB_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    symbol SYMBOL,
    ts TIMESTAMP,
    open DOUBLE,
    high DOUBLE,
    low DOUBLE,
    close DOUBLE,
    volume DOUBLE
) TIMESTAMP(ts) PARTITION BY YEAR WAL DEDUP UPSERT KEYS(ts, symbol)
"""


class ChangeFeedUnsupported(NotImplementedError):
    """QuestDB cannot record a change in the same transaction as the bars (see the module docstring)."""


def _action_from_record(row: asyncpg.Record) -> CorporateAction:
    return CorporateAction(row["symbol"], row["ex_date"], row["ratio"], row["kind"], row["status"], row["source"],
                           row["note"], row["applied"])


def _change_from_record(row: asyncpg.Record) -> SymbolChange:
    return SymbolChange(row["change"], row["symbol"], row["kind"], row["first_date"], row["last_date"], row["rows"],
                        row["changed_at"])


class PostgresChangeWakeups(ChangeWakeups):
    """LISTEN on a connection of its own. A lost connection is noticed (termination callback, or a failed
    ping after a quiet `wait`) and opened again on the next `wait`, which then answers True: changes may
    have been committed while nobody listened, and the follower catches up from its last number."""

    def __init__(self, store: PostgresBarStore) -> None:
        self.store = store
        self.event = asyncio.Event()
        self._connection: asyncpg.Connection | None = None

    async def wait(self, timeout: float) -> bool:
        if self._connection is None or self._connection.is_closed():
            return await self._listen() or await self._sleep(timeout)
        try:
            await asyncio.wait_for(self.event.wait(), timeout)
        except TimeoutError:
            await self._check_alive()
            return False
        self.event.clear()
        return True

    async def _listen(self) -> bool:
        await self._drop()
        try:
            connection = await asyncpg.connect(self.store._url, timeout=CONNECT_TIMEOUT_S)
        except UNAVAILABLE:
            return False
        await connection.add_listener(self.store.channel, self._notified)
        connection.add_termination_listener(lambda _: self.event.set())
        self._connection = connection
        return True

    async def _check_alive(self) -> None:
        try:
            await self._connection.fetchval("SELECT 1", timeout=WAKEUP_PING_TIMEOUT_S)
        except (*UNAVAILABLE, asyncpg.PostgresError):
            await self._drop()

    async def _sleep(self, timeout: float) -> bool:
        await asyncio.sleep(timeout)
        return False

    def _notified(self, *_: object) -> None:
        self.event.set()

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.terminate()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            try:
                await connection.close(timeout=WAKEUP_PING_TIMEOUT_S)
            except (*UNAVAILABLE, asyncpg.PostgresError):
                connection.terminate()


def split_table_from_url(url: str) -> tuple[str, str]:
    """(url without our `table` parameter, table name). asyncpg would pass unknown parameters to the server."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    tables = [value for key, value in query if key == "table"]
    table = tables[-1] if tables else DEFAULT_TABLE
    if not TABLE_NAME.match(table):
        raise ValueError(f"table name {table!r} in MARKET_DB_URL is not a plain SQL identifier")
    rest = urlencode([(key, value) for key, value in query if key != "table"])
    return urlunsplit(parts._replace(query=rest)), table


def _timestamps(series: BarSeries) -> list[datetime.datetime]:
    return series.dates.astype("datetime64[us]").astype(object).tolist()


def _records(series: BarSeries, keep: np.ndarray | None = None) -> list[tuple]:
    dates, ohlcv = (series.dates, series.ohlcv) if keep is None else (series.dates[keep], series.ohlcv[keep])
    stamps = dates.astype("datetime64[us]").astype(object).tolist()
    return list(zip([series.symbol] * len(stamps), stamps, *ohlcv.T.tolist(), strict=True))


def _series_from_records(symbol: str, rows: Sequence[asyncpg.Record]) -> BarSeries:
    """Columns from (ts, open, high, low, close, volume) records; ordinals avoid slow datetime parsing."""
    if not rows:
        return BarSeries.empty(symbol)
    days = np.array([row[0].toordinal() for row in rows], dtype=np.int64) - EPOCH_ORDINAL
    flat = np.fromiter(itertools.chain.from_iterable(rows), dtype=object, count=len(rows) * 6)
    return BarSeries(symbol, days.astype("datetime64[D]"), flat.reshape(-1, 6)[:, 1:].astype(np.float64))


def _start_of(day: datetime.date | None, default: datetime.datetime) -> datetime.datetime:
    return default if day is None else datetime.datetime(day.year, day.month, day.day)


class PostgresBarStore(BarStore):
    """Connects on first use; `is_questdb` is known after that."""

    def __init__(
        self, url: str, table: str | None = None, *, acquire_timeout_s: float = ACQUIRE_TIMEOUT_S,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
    ) -> None:
        self.acquire_timeout_s, self.command_timeout_s = acquire_timeout_s, command_timeout_s
        self._url, url_table = split_table_from_url(url)
        self.table = table or url_table
        if not TABLE_NAME.match(self.table):
            raise ValueError(f"table name {self.table!r} is not a plain SQL identifier")
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()
        self.is_questdb = False

    @property
    def description(self) -> str:
        parts = urlsplit(self._url)
        server = "QuestDB" if self.is_questdb else "PostgreSQL"
        return f"{server} at {parts.hostname}:{parts.port or 5432}{parts.path}, table {self.table}"

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection within ACQUIRE_TIMEOUT_S; driver failures to reach the server become StoreUnavailable."""
        try:
            pool = await self._connection_pool()
            async with pool.acquire(timeout=self.acquire_timeout_s) as connection:
                yield connection
        except UNAVAILABLE as error:
            if isinstance(error, StoreUnavailable):
                raise
            raise StoreUnavailable(f"{self.description}: {type(error).__name__}: {error}") from error

    async def _connection_pool(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                pool = await asyncpg.create_pool(
                    self._url, min_size=1, max_size=4, timeout=CONNECT_TIMEOUT_S,
                    command_timeout=self.command_timeout_s,
                )
                try:
                    async with pool.acquire(timeout=self.acquire_timeout_s) as connection:
                        version = await connection.fetchval("SELECT version()")
                        self.is_questdb = "questdb" in str(version).lower()
                        await self._create_tables(connection)
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel of this table's change feed."""
        return f"{self.table}_changes"

    def _feed(self) -> None:
        if self.is_questdb:
            raise ChangeFeedUnsupported(
                f"{self.description}: QuestDB cannot record changes or rewrite prices in the bars' transaction"
                " (no multi-table transactions, row locks or NOTIFY); see docs/market_data.md")

    async def _create_tables(self, connection: asyncpg.Connection) -> None:
        if self.is_questdb:
            await connection.execute(QUESTDB_DDL.format(table=self.table))
            return
        # two processes creating the same table at once collide in PostgreSQL's catalogue: one at a time
        async with connection.transaction():
            await connection.fetchval("SELECT pg_advisory_xact_lock(hashtext($1))", f"wig80 tables {self.table}")
            for statement in (POSTGRES_DDL, *FEED_DDL):
                await connection.execute(statement.format(table=self.table))

    async def append_many(self, series: Sequence[BarSeries], actions: Sequence[CorporateAction] = ()) -> AppendResult:
        series = [one for one in series if len(one)]
        total = sum(len(one) for one in series)
        if not total and not actions:
            return AppendResult(0, 0)
        async with self._connection() as connection, connection.transaction():
            if self.is_questdb:
                if actions:
                    self._feed()
                stored = await self._insert_new_rows(connection, series)
                return AppendResult(stored, total - stored)
            touched = WriteLedger()
            stored = await self._copy_then_merge(connection, series, touched) if total else 0
            if actions:
                await self._put_actions(connection, actions)
                await self._reconcile(connection, {a.symbol for a in actions}, touched)
            changes = await self._record_changes(connection, touched)
        return AppendResult(stored=stored, duplicates=total - stored, changes=tuple(changes))

    async def _copy_then_merge(self, connection: asyncpg.Connection, series: Sequence[BarSeries], touched: WriteLedger) -> int:
        staging = "wig80_bars_staging"
        await connection.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {self.table} INCLUDING DEFAULTS)"
            " ON COMMIT DELETE ROWS"
        )
        records = [record for one in series for record in _records(one)]
        await connection.copy_records_to_table(staging, records=records, columns=COLUMNS)
        inserted = await connection.fetch(
            f"WITH inserted AS (INSERT INTO {self.table} ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)}"
            f" FROM {staging} ON CONFLICT DO NOTHING RETURNING symbol, ts)"
            " SELECT symbol, count(*) AS rows, min(ts) AS first FROM inserted GROUP BY symbol"
        )
        for row in inserted:
            touched.add(row["symbol"], row["rows"], row["first"].date())
        return sum(row["rows"] for row in inserted)

    async def _record_changes(self, connection: asyncpg.Connection, touched: WriteLedger) -> list[SymbolChange]:
        """The change rows of this transaction, numbered under the counter's row lock (held to the commit),
        and the NOTIFY that PostgreSQL delivers when it commits."""
        if not touched.rows:
            return []
        symbols = sorted(touched.rows)
        top = await connection.fetchval(
            f"UPDATE {self.table}_change_counter SET change = change + $1 RETURNING change", len(symbols))
        last = dict(await connection.fetch(
            f"SELECT symbol, max(ts)::date FROM {self.table} WHERE symbol = ANY($1::text[]) GROUP BY symbol", symbols))
        at = datetime.datetime.now(datetime.UTC)
        changes = [SymbolChange(top - len(symbols) + 1 + i, symbol, touched.kind(symbol),
                                touched.first[symbol], last[symbol], touched.rows[symbol], at)
                   for i, symbol in enumerate(symbols)]
        await connection.executemany(
            f"INSERT INTO {self.table}_changes ({CHANGE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [(c.change, c.symbol, c.kind, c.first_date, c.last_date, c.rows, c.changed_at) for c in changes])
        await connection.execute("SELECT pg_notify($1, $2)", self.channel, str(top))
        return changes

    # ---- the change feed ----------------------------------------------------------------------------

    async def latest_change(self) -> int:
        async with self._connection() as connection:
            self._feed()
            return await connection.fetchval(f"SELECT change FROM {self.table}_change_counter")

    async def changes_since(self, change: int, limit: int = 1000) -> list[SymbolChange]:
        async with self._connection() as connection:
            self._feed()
            rows = await connection.fetch(
                f"SELECT {CHANGE_COLUMNS} FROM {self.table}_changes WHERE change > $1 ORDER BY change LIMIT $2",
                int(change), int(limit))
        return [_change_from_record(row) for row in rows]

    def change_wakeups(self) -> PostgresChangeWakeups:
        return PostgresChangeWakeups(self)

    # ---- corporate actions --------------------------------------------------------------------------

    async def corporate_actions(self, symbol: str | None = None) -> list[CorporateAction]:
        async with self._connection() as connection:
            self._feed()
            where, args = ("WHERE symbol = $1", (symbol,)) if symbol else ("", ())
            rows = await connection.fetch(
                f"SELECT {ACTION_COLUMNS} FROM {self.table}_corporate_actions {where} ORDER BY symbol, ex_date", *args)
        return [_action_from_record(row) for row in rows]

    async def put_actions(self, actions: Sequence[CorporateAction]) -> list[SymbolChange]:
        return await self._rewrite(lambda connection, touched: self._put_then_reconcile(connection, actions, touched))

    async def remove_actions(self, keys: Sequence[tuple[str, datetime.date]]) -> list[SymbolChange]:
        return await self._rewrite(lambda connection, touched: self._reconcile(
            connection, {symbol for symbol, _ in keys}, touched, removing=set(keys)))

    async def apply_actions(self, symbol: str | None = None) -> list[SymbolChange]:
        async def apply(connection: asyncpg.Connection, touched: WriteLedger) -> None:
            symbols = [symbol] if symbol else [row[0] for row in await connection.fetch(
                f"SELECT DISTINCT symbol FROM {self.table}_corporate_actions")]
            await self._reconcile(connection, set(symbols), touched)

        return await self._rewrite(apply)

    async def _rewrite(self, work) -> list[SymbolChange]:
        async with self._connection() as connection, connection.transaction():
            self._feed()
            touched = WriteLedger()
            await work(connection, touched)
            return await self._record_changes(connection, touched)

    async def _put_then_reconcile(self, connection: asyncpg.Connection, actions: Sequence[CorporateAction],
                                  touched: WriteLedger) -> None:
        await self._put_actions(connection, actions)
        await self._reconcile(connection, {a.symbol for a in actions}, touched)

    async def _put_actions(self, connection: asyncpg.Connection, actions: Sequence[CorporateAction]) -> None:
        """Insert or replace each action's row; a replaced row keeps the ratio its prices reflect (`applied`)."""
        await connection.executemany(
            f"INSERT INTO {self.table}_corporate_actions ({ACTION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 1.0)"
            " ON CONFLICT (symbol, ex_date) DO UPDATE SET ratio = excluded.ratio, kind = excluded.kind,"
            " status = excluded.status, source = excluded.source, note = excluded.note",
            [(a.symbol, a.ex_date, a.ratio, a.kind, a.status, a.source, a.note) for a in actions])

    async def _reconcile(self, connection: asyncpg.Connection, symbols, touched: WriteLedger,
                         removing: set[tuple[str, datetime.date]] = frozenset()) -> None:
        """Rewrite the stored prices of `symbols` so they reflect each action's wanted ratio (1 for the
        actions being removed, whose rows then go)."""
        for symbol in sorted(symbols):
            rows = await connection.fetch(
                f"SELECT {ACTION_COLUMNS} FROM {self.table}_corporate_actions WHERE symbol = $1 FOR UPDATE", symbol)
            actions = [_action_from_record(row) for row in rows]
            leaving = [a for a in actions if a.key in removing]
            actions = [replace(a, status="dismissed") if a in leaving else a for a in actions]  # wanted: 1
            for action, delta in reconcile_steps(actions):
                status = await connection.execute(
                    f"UPDATE {self.table} SET open = open / $1, high = high / $1, low = low / $1, close = close / $1,"
                    " volume = volume * $1 WHERE symbol = $2 AND ts < $3",
                    delta, symbol, _start_of(action.ex_date, datetime.datetime.min))
                first = await connection.fetchval(f"SELECT min(ts) FROM {self.table} WHERE symbol = $1", symbol)
                touched.add(symbol, int(status.split()[-1]), first.date() if first else action.ex_date, adjusted=True)
                await connection.execute(
                    f"UPDATE {self.table}_corporate_actions SET applied = $1 WHERE symbol = $2 AND ex_date = $3",
                    action.wanted, symbol, action.ex_date)
            await connection.executemany(
                f"DELETE FROM {self.table}_corporate_actions WHERE symbol = $1 AND ex_date = $2",
                [a.key for a in leaving])

    async def _insert_new_rows(self, connection: asyncpg.Connection, series: Sequence[BarSeries]) -> int:
        records: list[tuple] = []
        for one in series:
            first, last = _timestamps(one)[0], _timestamps(one)[-1]
            existing = await connection.fetch(
                f"SELECT ts FROM {self.table} WHERE symbol = $1 AND ts >= $2 AND ts <= $3", one.symbol, first, last
            )
            stored_days = np.array([row[0] for row in existing], dtype="datetime64[us]").astype("datetime64[D]")
            keep = ~np.isin(one.dates, stored_days)
            _, first_of_each = np.unique(one.dates, return_index=True)
            unique = np.zeros(len(one), dtype=bool)
            unique[first_of_each] = True
            records.extend(_records(one, keep & unique))
        placeholders = ", ".join(f"${i + 1}" for i in range(len(COLUMNS)))
        await connection.executemany(
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({placeholders})", records
        )
        return len(records)

    async def last_bars(self, symbol: str, n: int) -> BarSeries:
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT ts, open, high, low, close, volume FROM {self.table} WHERE symbol = $1"
                f" ORDER BY ts DESC LIMIT {max(int(n), 0)}",
                symbol,
            )
        return _series_from_records(symbol, rows[::-1])

    async def read_range(
        self, symbol: str, start: datetime.date | None = None, end: datetime.date | None = None
    ) -> BarSeries:
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT ts, open, high, low, close, volume FROM {self.table}"
                " WHERE symbol = $1 AND ts >= $2 AND ts <= $3 ORDER BY ts",
                symbol,
                _start_of(start, datetime.datetime(1, 1, 1)),
                _start_of(end, datetime.datetime(9999, 12, 31)),
            )
        return _series_from_records(symbol, rows)

    async def list_symbols(self) -> dict[str, SymbolSummary]:
        async with self._connection() as connection:
            rows = await connection.fetch(
                f"SELECT symbol, count(*), min(ts), max(ts) FROM {self.table} GROUP BY symbol ORDER BY symbol"
            )
        return {row[0]: SymbolSummary(int(row[1]), row[2].date(), row[3].date()) for row in rows}

    async def ping(self) -> None:
        async with self._connection() as connection:
            await connection.fetch(f"SELECT 1 FROM {self.table} LIMIT 1")

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def drop_table(self) -> None:
        """Remove the table, its bars, change feed and actions (tests and benchmarks clean up with this)."""
        async with self._connection() as connection:
            for suffix in ("", "_changes", "_change_counter", "_corporate_actions"):
                await connection.execute(f"DROP TABLE IF EXISTS {self.table}{suffix}")

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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg
import numpy as np

from market_data.bars import BarSeries
from market_data.stores.base import AppendResult, BarStore, StoreUnavailable, SymbolSummary

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
                        ddl = QUESTDB_DDL if self.is_questdb else POSTGRES_DDL
                        await connection.execute(ddl.format(table=self.table))
                except BaseException:
                    await pool.close()
                    raise
                self._pool = pool
        return self._pool

    async def append_many(self, series: Sequence[BarSeries]) -> AppendResult:
        series = [one for one in series if len(one)]
        total = sum(len(one) for one in series)
        if not total:
            return AppendResult(0, 0)
        async with self._connection() as connection, connection.transaction():
            if self.is_questdb:
                stored = await self._insert_new_rows(connection, series)
            else:
                stored = await self._copy_then_merge(connection, series)
        return AppendResult(stored=stored, duplicates=total - stored)

    async def _copy_then_merge(self, connection: asyncpg.Connection, series: Sequence[BarSeries]) -> int:
        staging = "wig80_bars_staging"
        await connection.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} (LIKE {self.table} INCLUDING DEFAULTS)"
            " ON COMMIT DELETE ROWS"
        )
        records = [record for one in series for record in _records(one)]
        await connection.copy_records_to_table(staging, records=records, columns=COLUMNS)
        status = await connection.execute(
            f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) SELECT {', '.join(COLUMNS)} FROM {staging}"
            " ON CONFLICT DO NOTHING"
        )
        return int(status.split()[-1])  # "INSERT 0 <rows>"

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
        """Remove the table and its bars (tests and benchmarks clean up with this)."""
        async with self._connection() as connection:
            await connection.execute(f"DROP TABLE IF EXISTS {self.table}")

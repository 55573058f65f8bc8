"""The one interface every bar store implements (embedded file, PostgreSQL, QuestDB)."""

from __future__ import annotations

import abc
import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

from market_data.bars import BarSeries


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Bars written, and bars not written because that symbol and date were already stored."""

    stored: int
    duplicates: int

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(self.stored + other.stored, self.duplicates + other.duplicates)


class StoreUnavailable(ConnectionError):
    """The store could not be reached, or failed mid-operation (a write then is rolled back, never partial)."""


@dataclass(frozen=True, slots=True)
class SymbolSummary:
    rows: int
    first: datetime.date
    last: datetime.date


class BarStore(abc.ABC):
    """Async store of daily bars keyed by (symbol, date). A stored bar is never overwritten."""

    async def append(self, series: BarSeries) -> AppendResult:
        """Store the series' bars atomically; bars whose (symbol, date) is already stored are skipped."""
        return await self.append_many([series])

    @abc.abstractmethod
    async def append_many(self, series: Sequence[BarSeries]) -> AppendResult:
        """Like `append`, for several series in one transaction: all are written or none."""

    @abc.abstractmethod
    async def last_bars(self, symbol: str, n: int) -> BarSeries:
        """The last `n` bars of `symbol`, oldest first; an empty series for an unknown symbol."""

    @abc.abstractmethod
    async def read_range(
        self, symbol: str, start: datetime.date | None = None, end: datetime.date | None = None
    ) -> BarSeries:
        """Bars of `symbol` with start <= date <= end (either bound may be open), oldest first."""

    @abc.abstractmethod
    async def list_symbols(self) -> dict[str, SymbolSummary]:
        """Every stored symbol with its row count and first/last date, in symbol order."""

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise unless the store answers a query (a cheap one: health checks call this often)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and files. The store is unusable afterwards."""

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """Where the bars live, for humans (a path or a server and table, never a password)."""

    async def __aenter__(self) -> BarStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

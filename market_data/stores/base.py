"""The one interface every bar store implements (embedded file, PostgreSQL, QuestDB)."""

from __future__ import annotations

import abc
import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from market_data.bars import BarSeries
from market_data.corporate_actions import CorporateAction

CHANGE_KINDS = ("bars", "adjustment")  # new bars stored | stored prices rewritten by corporate actions


@dataclass(frozen=True, slots=True)
class SymbolChange:
    """One committed write that changed a symbol's stored bars: the change feed's record.

    `change` is store-wide and strictly increasing in commit order: a reader that has seen change n has
    seen every change below n. `first_date` is the earliest date written or rewritten (an adjustment
    rewrites history from the symbol's first bar), `last_date` the symbol's newest stored date after it.
    """

    change: int
    symbol: str
    kind: str
    first_date: datetime.date
    last_date: datetime.date
    rows: int  # bars written or rewritten
    changed_at: datetime.datetime  # UTC


class WriteLedger:
    """What one write transaction did to each symbol: the store turns it into that transaction's change rows."""

    def __init__(self) -> None:
        self.rows: dict[str, int] = {}
        self.first: dict[str, datetime.date] = {}
        self.adjusted: set[str] = set()

    def add(self, symbol: str, rows: int, first: datetime.date, adjusted: bool = False) -> None:
        if rows <= 0:
            return
        self.rows[symbol] = self.rows.get(symbol, 0) + rows
        self.first[symbol] = min(self.first.get(symbol, first), first)
        if adjusted:
            self.adjusted.add(symbol)

    def kind(self, symbol: str) -> str:
        return "adjustment" if symbol in self.adjusted else "bars"


@dataclass(frozen=True, slots=True)
class AppendResult:
    """Bars written, and bars not written because that symbol and date were already stored; `changes`
    are the change-feed records this write committed (none when nothing was stored)."""

    stored: int
    duplicates: int
    changes: tuple[SymbolChange, ...] = field(default=(), compare=False)

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(self.stored + other.stored, self.duplicates + other.duplicates,
                            self.changes + other.changes)

    @property
    def change(self) -> int:
        """The highest change number this write committed (0: it changed nothing)."""
        return max((c.change for c in self.changes), default=0)


class StoreUnavailable(ConnectionError):
    """The store could not be reached, or failed mid-operation (a write then is rolled back, never partial)."""


@dataclass(frozen=True, slots=True)
class SymbolSummary:
    rows: int
    first: datetime.date
    last: datetime.date


class ChangeWakeups(abc.ABC):
    """Early wake-ups of a change-feed follower. A wake-up only says "look now": the follower reads
    `changes_since(last seen)` after every `wait`, woken or not, so a missed wake-up delays, never loses."""

    @abc.abstractmethod
    async def wait(self, timeout: float) -> bool:
        """Until a wake-up arrives (True) or `timeout` seconds pass (False). True also right after the
        listener was (re)connected, since changes may have been committed while it was not listening."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> ChangeWakeups:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class BarStore(abc.ABC):
    """Async store of daily bars keyed by (symbol, date). A stored bar is never overwritten by an append;
    only corporate actions rewrite stored prices. Every write that changes bars records a `SymbolChange`
    per symbol in the same transaction (the change feed)."""

    async def append(self, series: BarSeries) -> AppendResult:
        """Store the series' bars atomically; bars whose (symbol, date) is already stored are skipped."""
        return await self.append_many([series])

    @abc.abstractmethod
    async def append_many(self, series: Sequence[BarSeries], actions: Sequence[CorporateAction] = ()) -> AppendResult:
        """Like `append`, for several series in one transaction: all are written or none. `actions` are
        recorded (or replace the row of the same symbol and ex_date) and the stored prices brought in
        line with them, in that same transaction, after the bars are inserted."""

    # ---- the change feed ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def latest_change(self) -> int:
        """The newest committed change number (0 for a store never written)."""

    @abc.abstractmethod
    async def changes_since(self, change: int, limit: int = 1000) -> list[SymbolChange]:
        """The changes numbered above `change`, oldest first, at most `limit` (ask again from the last)."""

    @abc.abstractmethod
    def change_wakeups(self) -> ChangeWakeups:
        """A listener for early wake-ups (PostgreSQL: LISTEN/NOTIFY; embedded: this process's writes)."""

    # ---- corporate actions --------------------------------------------------------------------------

    @abc.abstractmethod
    async def corporate_actions(self, symbol: str | None = None) -> list[CorporateAction]:
        """The recorded actions (of one symbol), by symbol and ex_date."""

    @abc.abstractmethod
    async def put_actions(self, actions: Sequence[CorporateAction]) -> list[SymbolChange]:
        """Record `actions` (replacing rows of the same symbol and ex_date) and bring the stored prices of
        their symbols in line, atomically; returns the changes recorded (one per rewritten symbol)."""

    @abc.abstractmethod
    async def remove_actions(self, keys: Sequence[tuple[str, datetime.date]]) -> list[SymbolChange]:
        """Undo the (symbol, ex_date) actions in the stored prices and delete their rows, atomically."""

    @abc.abstractmethod
    async def apply_actions(self, symbol: str | None = None) -> list[SymbolChange]:
        """Bring the stored prices (of one symbol) in line with the table, after it was edited by hand."""

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

"""The daily bar: its schema, its validation, and the columnar `BarSeries` the stores and models use."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

OHLCV_COLUMNS = ("open", "high", "low", "close", "volume")
OPEN, HIGH, LOW, CLOSE, VOLUME = (OHLCV_COLUMNS.index(name) for name in OHLCV_COLUMNS)  # columns of `ohlcv`


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    date: datetime.date
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(frozen=True, slots=True)
class BarRejection:
    """A bar that failed validation: its position in the validated list and the reason."""

    index: int
    bar: Bar
    reason: str


def is_no_trade_day(open_: float, high: float, low: float, volume: float) -> bool:
    """The GPW archive's marker of a day without trades: open=high=low=0 and volume 0. Not a bar."""
    return open_ == 0 and high == 0 and low == 0 and volume == 0


def validate_bar(bar: Bar, today: datetime.date | None = None) -> str | None:
    """The reason `bar` cannot be stored, or None. A repeated date is checked by `validate_bars`."""
    today = today or datetime.date.today()
    prices = {"open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close}
    for name, value in {**prices, "volume": bar.volume}.items():
        if not math.isfinite(value):
            return f"{name} is not a finite number ({value})"
    for name, value in prices.items():
        if value <= 0:
            return f"non-positive price: {name}={value:g}"
    if bar.volume < 0:
        return f"negative volume: {bar.volume:g}"
    if bar.high < max(bar.open, bar.close, bar.low):
        return f"high {bar.high:g} is below open/close/low (open={bar.open:g}, close={bar.close:g}, low={bar.low:g})"
    if bar.low > min(bar.open, bar.close):
        return f"low {bar.low:g} is above open/close (open={bar.open:g}, close={bar.close:g})"
    if bar.date > today:
        return f"date {bar.date.isoformat()} is in the future (today is {today.isoformat()})"
    return None


def validate_bars(
    bars: Iterable[Bar], today: datetime.date | None = None, positions: Sequence[str] | None = None
) -> tuple[list[Bar], list[BarRejection]]:
    """Split bars into (accepted, rejections). Also rejects a second bar with the same symbol and date.

    The one validation used by the importers and by the gateway's `POST /bars`. `positions` names
    where each bar came from (e.g. "line 12"), for the message about a repeated date.
    """
    today = today or datetime.date.today()
    accepted: list[Bar] = []
    rejections: list[BarRejection] = []
    first_index: dict[tuple[str, datetime.date], int] = {}
    for index, bar in enumerate(bars):
        reason = validate_bar(bar, today)
        key = (bar.symbol, bar.date)
        if reason is None and key in first_index:
            first = positions[first_index[key]] if positions else f"item {first_index[key]}"
            reason = f"repeated date {bar.date.isoformat()} for {bar.symbol} (first at {first})"
        if reason is None:
            first_index[key] = index
            accepted.append(bar)
        else:
            rejections.append(BarRejection(index, bar, reason))
    return accepted, rejections


@dataclass(frozen=True, eq=False)
class BarSeries:
    """Bars of one symbol as columns: `dates` datetime64[D] ascending, `ohlcv` float64 (n, 5)."""

    symbol: str
    dates: np.ndarray
    ohlcv: np.ndarray

    def __post_init__(self) -> None:
        dates = np.asarray(self.dates, dtype="datetime64[D]")
        ohlcv = np.asarray(self.ohlcv, dtype=np.float64).reshape(-1, len(OHLCV_COLUMNS))
        if len(dates) != len(ohlcv):
            raise ValueError(f"{self.symbol}: {len(dates)} dates but {len(ohlcv)} OHLCV rows")
        if len(dates) > 1 and not bool(np.all(dates[1:] >= dates[:-1])):
            raise ValueError(f"{self.symbol}: dates are not in ascending order")
        object.__setattr__(self, "dates", dates)
        object.__setattr__(self, "ohlcv", ohlcv)

    def __len__(self) -> int:
        return len(self.dates)

    @classmethod
    def empty(cls, symbol: str) -> BarSeries:
        return cls(symbol, np.empty(0, dtype="datetime64[D]"), np.empty((0, len(OHLCV_COLUMNS))))

    @classmethod
    def from_bars(cls, bars: Sequence[Bar]) -> BarSeries:
        """Columns from bars of one symbol, sorted by date (stable, so repeated dates keep their order)."""
        if not bars:
            raise ValueError("from_bars needs at least one bar (use BarSeries.empty(symbol))")
        symbols = {bar.symbol for bar in bars}
        if len(symbols) != 1:
            raise ValueError(f"from_bars needs bars of one symbol, got {sorted(symbols)}")
        dates = np.array([bar.date for bar in bars], dtype="datetime64[D]")
        ohlcv = np.array([[bar.open, bar.high, bar.low, bar.close, bar.volume] for bar in bars], dtype=np.float64)
        order = np.argsort(dates, kind="stable")
        return cls(bars[0].symbol, dates[order], ohlcv[order])

    def tail(self, n: int) -> BarSeries:
        """The last `n` bars (all of them when there are fewer)."""
        start = max(len(self) - n, 0)
        return self if start == 0 else BarSeries(self.symbol, self.dates[start:], self.ohlcv[start:])

    def bars(self) -> list[Bar]:
        return [
            Bar(self.symbol, day, *map(float, row))
            for day, row in zip(self.dates.astype(object), self.ohlcv, strict=True)
        ]

    @property
    def open(self) -> np.ndarray:
        return self.ohlcv[:, OPEN]

    @property
    def high(self) -> np.ndarray:
        return self.ohlcv[:, HIGH]

    @property
    def low(self) -> np.ndarray:
        return self.ohlcv[:, LOW]

    @property
    def close(self) -> np.ndarray:
        return self.ohlcv[:, CLOSE]

    @property
    def volume(self) -> np.ndarray:
        return self.ohlcv[:, VOLUME]

    def __repr__(self) -> str:
        span = f"{self.dates[0]}..{self.dates[-1]}" if len(self) else "empty"
        return f"BarSeries({self.symbol!r}, {len(self)} bars, {span})"

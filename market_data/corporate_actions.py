"""Corporate actions: the recorded adjustments that put a symbol's whole history on one price basis.

An action (symbol, ex_date, ratio) says: bars dated before `ex_date` are on an old basis; dividing their
prices by `ratio` (and multiplying their volume by it, so turnover is kept) puts them on the basis of
the bars from `ex_date` on. A 1:10 split has ratio 10; a 100:1 consolidation ratio 0.01; a `level`
action joins two sources whose price levels differ (raw exchange prices topped up with adjusted ones).

The store keeps the actions in a table beside the bars, with the ratio its stored prices reflect now
(`applied`); applying the table brings the stored prices in line with it, in one transaction that also
records a change for every symbol it rewrote. Status:
- `active`: in the stored prices;
- `pending`: found at import, evidence ambiguous; the symbol is quarantined until an operator decides
  (`wig80 data actions add` makes it active, `... dismiss` says the move was real);
- `dismissed`: a real move; never applied, never flagged again.
"""

from __future__ import annotations

import csv
import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from market_data.bars import CLOSE, OPEN, VOLUME, BarSeries

STATUSES = ("active", "pending", "dismissed")
KINDS = ("split", "level")
SOURCES = ("detected", "manual", "file")
KNOWN_ACTIONS_HEADER = ("symbol", "ex_date", "ratio")  # then an optional `note` column


@dataclass(frozen=True, slots=True)
class CorporateAction:
    symbol: str
    ex_date: datetime.date  # the first day on the new basis
    ratio: float  # bars before ex_date: prices / ratio, volume * ratio
    kind: str = "split"
    status: str = "active"
    source: str = "manual"
    note: str = ""
    applied: float = 1.0  # the ratio the stored prices reflect now (kept by the store)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.ratio) and self.ratio > 0):
            raise ValueError(f"{self.symbol} {self.ex_date}: the ratio must be a positive number, got {self.ratio}")
        for name, allowed in (("kind", KINDS), ("status", STATUSES), ("source", SOURCES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    @property
    def wanted(self) -> float:
        """The ratio the stored prices should reflect: the ratio when active, else 1 (none)."""
        return self.ratio if self.status == "active" else 1.0

    @property
    def key(self) -> tuple[str, datetime.date]:
        return self.symbol, self.ex_date

    def describe(self) -> str:
        return f"{self.symbol} {self.ex_date} {self.kind} ratio {format_ratio(self.ratio)} ({self.status}, {self.source})"


def format_ratio(ratio: float) -> str:
    """`10` for a 1:10 split, `1/100` for a 100:1 consolidation, else the number."""
    if ratio >= 1:
        return f"{ratio:g}"
    inverse = 1 / ratio
    return f"1/{inverse:g}" if abs(inverse - round(inverse)) < 1e-9 else f"{ratio:.6g}"


def parse_ratio(text: str) -> float:
    """`10`, `0.01` or `1/100` (what `format_ratio` writes)."""
    text = text.strip()
    try:
        if "/" in text:
            numerator, denominator = text.split("/", 1)
            return float(numerator) / float(denominator)
        return float(text)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"not a ratio: {text!r} (e.g. 10 for a 1:10 split, 1/100 for a 100:1 consolidation)") from None


def adjustment_factors(dates: np.ndarray, actions: Iterable[CorporateAction], ratio_of=lambda a: a.wanted) -> np.ndarray:
    """Per bar, the product of `ratio_of(action)` over the actions dated after it: what its prices are divided by."""
    factors = np.ones(len(dates))
    for action in actions:
        factors[dates < np.datetime64(action.ex_date, "D")] *= ratio_of(action)
    return factors


def rebased(ohlcv: np.ndarray, divisor: np.ndarray | float) -> np.ndarray:
    """A copy of `ohlcv` with its prices divided by `divisor` (one per row, or one for all) and its volume
    multiplied by it, so turnover is kept: what an action does to the bars before its ex_date."""
    divisor = np.broadcast_to(np.asarray(divisor, dtype=np.float64), (len(ohlcv),))
    out = ohlcv.copy()
    out[:, OPEN : CLOSE + 1] /= divisor[:, None]
    out[:, VOLUME] *= divisor
    return out


def adjusted(series: BarSeries, actions: Iterable[CorporateAction]) -> BarSeries:
    """`series` with the active `actions` of its symbol applied (prices / factor, volume * factor)."""
    mine = [a for a in actions if a.symbol == series.symbol]
    return BarSeries(series.symbol, series.dates, rebased(series.ohlcv, adjustment_factors(series.dates, mine)))


def read_known_actions(path: Path, source: str = "file") -> list[CorporateAction]:
    """A CSV of known actions, `symbol,ex_date,ratio[,note]` (ratio as `10` or `1/100`); ValueError naming the line."""
    actions = []
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = csv.reader(handle)
        header = [name.strip().lower() for name in next(rows, [])]
        if tuple(header[:3]) != KNOWN_ACTIONS_HEADER:
            raise ValueError(f"{path}:1: expected the header {','.join(KNOWN_ACTIONS_HEADER)}[,note], got {','.join(header)!r}")
        for line, row in enumerate(rows, start=2):
            if not any(cell.strip() for cell in row):
                continue
            try:
                symbol, day, ratio = (cell.strip() for cell in row[:3])
                note = row[3].strip() if len(row) > 3 else ""
                actions.append(CorporateAction(symbol.upper(), datetime.date.fromisoformat(day), parse_ratio(ratio),
                                               source=source, note=note))
            except ValueError as error:
                raise ValueError(f"{path}:{line}: {error}") from None
    return actions


def reconcile_steps(actions: Sequence[CorporateAction]) -> list[tuple[CorporateAction, float]]:
    """(action, delta) for each action whose stored prices differ from what it wants: dividing the bars
    before its ex_date by delta (volume times delta) brings them in line; then `applied` becomes `wanted`."""
    return [(a, a.wanted / a.applied) for a in actions if not math.isclose(a.wanted, a.applied, rel_tol=1e-12)]


def as_applied(action: CorporateAction) -> CorporateAction:
    return replace(action, applied=action.wanted)

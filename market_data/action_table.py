"""The operator's work on the corporate-actions table: add, dismiss, remove, import known actions, re-apply,
and scan stored history for jumps an earlier import did not judge. Each call is one store transaction
whose rewrites the change feed records (every adjusted symbol is re-forecast)."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from market_data.corporate_actions import CorporateAction, read_known_actions
from market_data.splits import INDEX_SYMBOL, Jump, find_jumps
from market_data.stores.base import BarStore, SymbolChange
from market_data.symbols import resolve_ticker


def ticker(name: str) -> str:
    """The table's ticker for a ticker or GPW short name, else the name upper-cased (as the importer stores it)."""
    return resolve_ticker(name) or name.strip().upper()


async def add_action(store: BarStore, symbol: str, ex_date: datetime.date, ratio: float,
                     note: str = "") -> list[SymbolChange]:
    """Record an active action (or make the one of that symbol and date active with this ratio) and apply it."""
    return await store.put_actions([CorporateAction(ticker(symbol), ex_date, ratio, source="manual", note=note)])


async def _recorded(store: BarStore, symbol: str, ex_date: datetime.date) -> CorporateAction:
    for action in await store.corporate_actions(ticker(symbol)):
        if action.ex_date == ex_date:
            return action
    raise ValueError(f"no corporate action is recorded for {ticker(symbol)} on {ex_date} (see: wig80 data actions list)")


async def dismiss_action(store: BarStore, symbol: str, ex_date: datetime.date) -> list[SymbolChange]:
    """The move was real: keep the row as dismissed (never applied, never flagged again); prices restored."""
    action = await _recorded(store, symbol, ex_date)
    return await store.put_actions([replace(action, status="dismissed", source="manual")])


async def remove_action(store: BarStore, symbol: str, ex_date: datetime.date) -> list[SymbolChange]:
    """Undo the action in the stored prices and delete its row (an import may then judge that day again)."""
    action = await _recorded(store, symbol, ex_date)
    return await store.remove_actions([action.key])


async def import_known_actions(store: BarStore, path: Path) -> tuple[list[CorporateAction], list[SymbolChange]]:
    """Record and apply the actions of a `symbol,ex_date,ratio[,note]` file."""
    actions = [replace(action, symbol=ticker(action.symbol)) for action in read_known_actions(path)]
    return actions, await store.put_actions(actions)


@dataclass
class ScanResult:
    symbol: str
    jumps: list[Jump]
    actions: list[CorporateAction]  # what recording the jumps writes (split: active, ambiguous: pending)


async def scan_stored(store: BarStore, symbols: Sequence[str] = (), record: bool = False) -> list[ScanResult]:
    """Judge every day of the stored bars that has no recorded action (stores filled before detection existed);
    with `record`, write what was found as actions (splits applied, ambiguous days quarantined)."""
    index = await store.read_range(INDEX_SYMBOL)
    names = [ticker(s) for s in symbols] or [s for s in await store.list_symbols() if s != INDEX_SYMBOL]
    results = []
    for symbol in names:
        series = await store.read_range(symbol)
        known = np.array([a.ex_date for a in await store.corporate_actions(symbol)], dtype="datetime64[D]")
        jumps = find_jumps(series, index if len(index) else None, ~np.isin(series.dates, known))
        actions = [CorporateAction(j.symbol, j.date, j.ratio, "split", "active" if j.verdict == "split" else "pending",
                                   "detected", j.describe()) for j in jumps if j.verdict != "real"]
        results.append(ScanResult(symbol, jumps, actions))
    if record:
        await store.put_actions([action for result in results for action in result.actions])
    return results

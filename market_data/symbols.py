"""The WIG20, mWIG40 and sWIG80 constituents (2023) as the project's symbol table, shipped as package data.

Built from the exchange's 2023 index lists: `symbols/constituents_2023.csv` holds one row per ticker
with columns ticker, name, isin, index, gpw_short_name.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

SYMBOL_TABLE = "constituents_2023.csv"


@dataclass(frozen=True, slots=True)
class Symbol:
    ticker: str
    name: str
    isin: str
    index: str
    gpw_short_name: str


@lru_cache(maxsize=1)
def _symbol_table() -> tuple[Symbol, ...]:
    text = (resources.files("market_data") / "symbols" / SYMBOL_TABLE).read_text(encoding="utf-8")
    return tuple(Symbol(**row) for row in csv.DictReader(io.StringIO(text)))


def load_symbols() -> dict[str, Symbol]:
    """Ticker -> Symbol for every constituent, in ticker order."""
    return {symbol.ticker: symbol for symbol in _symbol_table()}


def index_members(index: str) -> list[str]:
    """Tickers of one index ("sWIG80", "mWIG40" or "WIG20"), sorted."""
    return [symbol.ticker for symbol in _symbol_table() if symbol.index.lower() == index.lower()]


@lru_cache(maxsize=1)
def _names_to_ticker() -> dict[str, str]:
    table: dict[str, str] = {}
    for symbol in _symbol_table():
        table[symbol.gpw_short_name.upper()] = symbol.ticker
    for symbol in _symbol_table():  # a ticker wins over a short name that happens to be spelled the same
        table[symbol.ticker.upper()] = symbol.ticker
    return table


def resolve_ticker(name: str) -> str | None:
    """The ticker for a ticker or GPW short name (case-insensitive, e.g. "amica" -> "AMC"), or None."""
    return _names_to_ticker().get(name.strip().upper())

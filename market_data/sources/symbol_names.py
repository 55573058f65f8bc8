"""Which ticker a file or a `<TICKER>` value stands for, through the symbol table."""

from __future__ import annotations

import re
from pathlib import Path

from market_data.symbols import resolve_ticker

# stooq names daily files `abe_d.csv` and may suffix tickers with the market (`ABE.PL`).
STOOQ_SUFFIXES = re.compile(r"(_d|\.pl|\.wa)$", re.IGNORECASE)


def symbol_for_ticker(name: str) -> str:
    """The table's ticker for a ticker or GPW short name, else the name upper-cased (indices, new listings)."""
    cleaned = name.strip().upper()
    return resolve_ticker(cleaned) or resolve_ticker(STOOQ_SUFFIXES.sub("", cleaned)) or STOOQ_SUFFIXES.sub("", cleaned)


def symbol_for_file(path: Path) -> str:
    return symbol_for_ticker(Path(path).stem)

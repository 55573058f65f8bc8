"""Bar stores behind one interface; `open_store` chooses by URL (None: the embedded file)."""

from __future__ import annotations

from pathlib import Path

from market_data.stores.base import AppendResult, BarStore, StoreUnavailable, SymbolSummary

EMBEDDED_FILE = Path("data") / "bars.sqlite3"

__all__ = ["AppendResult", "BarStore", "StoreUnavailable", "SymbolSummary", "open_store", "EMBEDDED_FILE"]


def open_store(url: str | None, home: Path) -> BarStore:
    """The embedded SQLite store under `home/data` when `url` is None, else the PostgreSQL/QuestDB store.

    A `postgresql://` URL may carry `?table=NAME` (default `bars`) to choose the table. Nothing connects
    until the first call, so opening is cheap and synchronous; use the store as `async with`.
    """
    if not url:
        from market_data.stores.embedded import EmbeddedBarStore

        return EmbeddedBarStore(Path(home) / EMBEDDED_FILE)
    if url.startswith(("postgresql://", "postgres://")):
        from market_data.stores.postgres import PostgresBarStore

        return PostgresBarStore(url)
    raise ValueError(f"MARKET_DB_URL must be a postgresql:// URL (PostgreSQL or QuestDB), got {url.split('://')[0]}://...")

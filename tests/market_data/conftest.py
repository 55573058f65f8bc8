"""Fixtures of the market_data tests: the bar stores (embedded and PostgreSQL) and the fixture files."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from market_data.stores import BarStore, open_store

FIXTURES = Path(__file__).parent / "fixtures"
REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "wig80"


async def _open(kind: str, request: pytest.FixtureRequest, home: Path) -> BarStore:
    if kind == "embedded":
        return open_store(None, home)
    url = request.getfixturevalue("postgres_url")
    return open_store(f"{url}?table=wig80_test_{uuid.uuid4().hex[:12]}", home)


@pytest.fixture(params=["embedded", pytest.param("postgres", marks=pytest.mark.postgres)])
async def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BarStore]:
    """Each store kind in turn; the PostgreSQL one in its own table, dropped afterwards."""
    store = await _open(request.param, request, tmp_path)
    try:
        yield store
    finally:
        if request.param == "postgres":
            await store.drop_table()
        await store.close()


@pytest.fixture
async def embedded_store(tmp_path: Path) -> AsyncIterator[BarStore]:
    async with open_store(None, tmp_path) as store:
        yield store


def twin_of(store: BarStore) -> BarStore:
    """A second store object on the same storage: another process or gateway replica, as far as the store knows."""
    from market_data.stores.embedded import EmbeddedBarStore
    from market_data.stores.postgres import PostgresBarStore

    if isinstance(store, EmbeddedBarStore):
        return EmbeddedBarStore(store.path)
    assert isinstance(store, PostgresBarStore)
    return PostgresBarStore(store._url, store.table)


async def edit_by_hand(store: BarStore, sql: str, *args) -> None:
    """Run `sql` (`{actions}` names the corporate-actions table, `?` the arguments) as an operator would, in
    a client of its own: sqlite3 on the embedded file, asyncpg on PostgreSQL."""
    import sqlite3

    import asyncpg

    from market_data.stores.embedded import EmbeddedBarStore

    if isinstance(store, EmbeddedBarStore):  # dates are ISO text there
        with sqlite3.connect(store.path) as connection:
            connection.execute(sql.format(actions="corporate_actions"),
                               [a.isoformat() if isinstance(a, datetime.date) else a for a in args])
        return
    numbered = sql.format(actions=f"{store.table}_corporate_actions")
    for i in range(len(args)):
        numbered = numbered.replace("?", f"${i + 1}", 1)
    connection = await asyncpg.connect(store._url)
    try:
        await connection.execute(numbered, *args)
    finally:
        await connection.close()

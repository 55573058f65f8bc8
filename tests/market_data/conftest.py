"""Fixtures of the market_data tests: the bar stores (embedded and PostgreSQL) and the fixture files."""

from __future__ import annotations

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

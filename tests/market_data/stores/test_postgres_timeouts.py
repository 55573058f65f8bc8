"""Every wait of the PostgreSQL store is bounded: a statement and the taking of a pooled connection time
out as StoreUnavailable instead of hanging (a table held under an exclusive lock makes them wait)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from market_data.stores import StoreUnavailable
from market_data.stores.postgres import PostgresBarStore

pytestmark = [pytest.mark.postgres]


@contextlib.asynccontextmanager
async def locked(url: str, table: str) -> AsyncIterator[None]:
    """`table` under ACCESS EXCLUSIVE lock by another session: every query on it waits."""
    connection = await asyncpg.connect(url)
    transaction = connection.transaction()
    await transaction.start()
    await connection.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        await transaction.rollback()
        await connection.close()


@pytest.fixture
async def table(postgres_url) -> AsyncIterator[str]:
    name = f"bars_timeouts_{uuid.uuid4().hex[:8]}"
    store = PostgresBarStore(postgres_url, name)
    await store.ping()  # creates the table
    yield name
    await store.drop_table()
    await store.close()


async def test_a_statement_waiting_longer_than_the_command_timeout_raises_store_unavailable(postgres_url, table):
    store = PostgresBarStore(postgres_url, table, command_timeout_s=0.5)
    await store.ping()
    try:
        async with locked(postgres_url, table):
            with pytest.raises(StoreUnavailable, match="TimeoutError"):
                await store.last_bars("ABE", 10)
        assert len(await store.last_bars("ABE", 10)) == 0  # the lock released, the same store answers
    finally:
        await store.close()


async def test_no_free_pooled_connection_within_the_acquire_timeout_raises_store_unavailable(postgres_url, table):
    store = PostgresBarStore(postgres_url, table, acquire_timeout_s=0.3, command_timeout_s=20.0)
    await store.ping()
    try:
        async with locked(postgres_url, table):
            waiting = [asyncio.create_task(store.ping()) for _ in range(4)]  # the pool's 4 connections
            await asyncio.sleep(0.5)
            with pytest.raises(StoreUnavailable, match="TimeoutError"):
                await store.ping()
        await asyncio.gather(*waiting)  # they were only waiting, and finish once the lock goes
    finally:
        await store.close()

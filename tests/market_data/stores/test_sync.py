"""run_sync: store coroutines from synchronous code, with or without an event loop already running."""

import asyncio
import threading

import pytest

from market_data.stores.sync import run_sync


async def _answer_and_thread(value: int) -> tuple[int, str]:
    await asyncio.sleep(0)
    return value, threading.current_thread().name


def test_without_a_running_loop_it_runs_in_this_thread():
    assert run_sync(_answer_and_thread(7)) == (7, threading.current_thread().name)


async def test_inside_a_running_loop_it_runs_on_a_worker_thread():
    value, thread = run_sync(_answer_and_thread(8))
    assert value == 8 and thread.startswith("run_sync")


async def test_an_error_reaches_the_caller_inside_a_running_loop():
    async def failing() -> None:
        raise LookupError("no such symbol")

    with pytest.raises(LookupError, match="no such symbol"):
        run_sync(failing())

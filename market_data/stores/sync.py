"""Running a store coroutine from synchronous code (the training pipeline, the export's parity inputs)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_sync(coroutine: Coroutine[object, object, T]) -> T:
    """Run `coroutine` to completion and return its result.

    `asyncio.run` refuses to start inside a running event loop (a notebook, an async test, a server
    calling the exporter), so there the coroutine runs on a fresh loop in a worker thread instead.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run_sync") as worker:
        return worker.submit(asyncio.run, coroutine).result()

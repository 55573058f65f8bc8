"""The gateway follows the store's change feed: every write path (`wig80 data import`, `POST /bars` on any
replica, a corporate action) reaches this process's windows, forecasts and WebSocket pushes.

The follower remembers the last change number it applied. It reads `changes_since(last)` at start-up,
after every wake-up and at least every `change_poll_seconds`. Wake-ups (PostgreSQL LISTEN/NOTIFY, the
embedded store's commits, a Redis pub/sub announcement of another replica, a reconnected listener) only
make it look sooner: a missed one delays an update by one poll at most, never loses it. A catch-up hands
each changed symbol to the listeners once (the symbol and its newest stored date), page by page, and
moves the number on only after the page was handed on, so a failing store read is retried, not skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from gateway.realtime.bar_events import notify_each

log = logging.getLogger(__name__)

Listener = Callable[[str, str], Awaitable[None]]  # (symbol, newest stored date ISO)
PAGE = 1000  # changes read per query


class ChangeFeedFollower:
    def __init__(self, store, poll_seconds: float, listeners: Sequence[Listener]) -> None:
        self.store = store  # market_data.stores.BarStore
        self.poll_seconds = poll_seconds
        self.listeners = list(listeners)
        self.last_change = 0
        self._lock = asyncio.Lock()  # one catch-up at a time: a change is handed on once
        self._woken = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._failing = False

    async def position(self) -> int:
        """The store's newest change number now: read it before loading the windows, then `start` from it."""
        return await self.store.latest_change()

    def start(self, after_change: int) -> None:
        self.last_change = after_change
        self._task = asyncio.create_task(self._follow_forever(), name="change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def on_announcement(self, symbol: str, last_date: str) -> None:
        """A bar-events listener: an announcement only wakes the follower; the feed says what changed."""
        self._woken.set()

    async def catch_up(self) -> int:
        """Hand on every change committed after the last one applied; returns how many symbols were."""
        async with self._lock:
            handed = 0
            while True:
                page = await self.store.changes_since(self.last_change, PAGE)
                newest = {change.symbol: change.last_date for change in page}  # per symbol: its latest change
                for symbol in sorted(newest):
                    await self._dispatch(symbol, newest[symbol].isoformat())
                if page:
                    self.last_change = page[-1].change
                handed += len(newest)
                if len(page) < PAGE:
                    return handed

    async def _dispatch(self, symbol: str, last_date: str) -> None:
        await notify_each(self.listeners, symbol, last_date)  # failures are logged there

    async def _follow_forever(self) -> None:
        async with self.store.change_wakeups() as wakeups:
            while True:
                try:
                    await self.catch_up()
                except asyncio.CancelledError:
                    raise
                except Exception as error:  # the store is down: keep the number, read again next time
                    if not self._failing:
                        log.warning("reading the change feed failed, retrying every %.1f s: %s",
                                    self.poll_seconds, error)
                    self._failing = True
                else:
                    if self._failing:
                        log.warning("the change feed is read again from change %d", self.last_change)
                    self._failing = False
                await self._wait(wakeups)

    async def _wait(self, wakeups) -> None:
        """Until the store's wake-up, an announcement, or `poll_seconds`, whichever comes first."""
        waits = [asyncio.ensure_future(wakeups.wait(self.poll_seconds)), asyncio.ensure_future(self._woken.wait())]
        try:
            done, _ = await asyncio.wait(waits, timeout=self.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            if waits[0] in done and waits[0].exception() is not None:  # the listener failed: a plain poll
                log.debug("change wake-ups failed: %r", waits[0].exception())
                await asyncio.wait([waits[1]], timeout=self.poll_seconds)
        finally:
            for wait in waits:
                wait.cancel()
            for wait in waits:
                with contextlib.suppress(asyncio.CancelledError, Exception):  # a failed wake-up is a poll
                    await wait
            self._woken.clear()

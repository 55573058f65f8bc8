"""The Warsaw exchange's trading calendar (XWAR, from `exchange_calendars`): sessions, not weekdays.

    calendar = trading_calendar()
    calendar.next_sessions(date(2024, 12, 20), 3)          # 2024-12-23, 2024-12-27, 2024-12-30
    calendar.sessions_between(date(2025, 4, 17), date(2025, 4, 22))   # 1: Easter Monday is no session
    calendar.last_session()                                  # the newest session whose close has passed

Range: `exchange_calendars` builds XWAR from rules (fixed holidays, Easter-based ones, the ad hoc closures
it knows). This module builds it from FIRST_SESSION (the WIG index's first session, 1991-04-16) to
YEARS_AHEAD years after today. A date after that end rebuilds the calendar further ahead from the same
rules, so forecast dates never run out; they are then exactly as good as the rules (a closure decreed
later, like 2018-11-12, is unknown until the library knows it). A date before FIRST_SESSION raises
`ValueError`: the exchange had no sessions before it.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time

import numpy as np

EXCHANGE = "XWAR"
FIRST_SESSION = dt.date(1991, 4, 16)
YEARS_AHEAD = 2


class TradingCalendar:
    """Sessions of one exchange as a sorted datetime64[D] array; every query is a binary search."""

    def __init__(self, exchange: str = EXCHANGE, first: dt.date = FIRST_SESSION, years_ahead: int = YEARS_AHEAD):
        self.exchange, self.first, self.years_ahead = exchange, first, years_ahead
        self._lock = threading.Lock()
        self._current: tuple[dt.date, float] | None = None  # last_session() now, and until when (epoch s)
        self._build(dt.date.today().replace(month=12, day=31) + dt.timedelta(days=365 * years_ahead))

    def _build(self, end: dt.date) -> None:
        import exchange_calendars

        calendar = exchange_calendars.get_calendar(self.exchange, start=self.first.isoformat(), end=end.isoformat())
        sessions = calendar.sessions.values.astype("datetime64[D]")
        closes = calendar.closes.values.astype("datetime64[s]")  # UTC, ascending with the sessions
        self._sessions, self._closes, self.end = sessions, closes, end  # one assignment: readers never mix builds

    def _cover(self, day: dt.date) -> None:
        if day < self.first:
            raise ValueError(f"{day} is before {self.exchange}'s first session {self.first}")
        if day > self.end - dt.timedelta(days=366):  # keep a year of sessions beyond any date asked about
            with self._lock:
                if day > self.end - dt.timedelta(days=366):
                    self._build(day.replace(month=12, day=31) + dt.timedelta(days=365 * self.years_ahead))

    def is_session(self, day: dt.date) -> bool:
        self._cover(day)
        at = np.searchsorted(self._sessions, np.datetime64(day, "D"))
        return bool(at < len(self._sessions) and self._sessions[at] == np.datetime64(day, "D"))

    def next_sessions(self, after: dt.date, n: int) -> list[dt.date]:
        """The `n` sessions after `after` (which need not be a session itself), oldest first."""
        self._cover(after)
        start = np.searchsorted(self._sessions, np.datetime64(after, "D"), side="right")
        while start + n > len(self._sessions):  # far ahead: build further (rarely more than once)
            with self._lock:
                self._build(self.end.replace(month=12, day=31) + dt.timedelta(days=365 * self.years_ahead))
        return self._sessions[start : start + n].astype(object).tolist()

    def sessions_between(self, start: dt.date, end: dt.date) -> int:
        """How many sessions d satisfy start < d <= end (negative when end is before start): the number of
        daily bars a series ending at `start` lacks to reach `end`."""
        if end < start:
            return -self.sessions_between(end, start)
        self._cover(start)
        self._cover(end)
        low = np.searchsorted(self._sessions, np.datetime64(start, "D"), side="right")
        high = np.searchsorted(self._sessions, np.datetime64(end, "D"), side="right")
        return int(high - low)

    def previous_session(self, day: dt.date) -> dt.date:
        """The last session strictly before `day`."""
        self._cover(day)
        at = np.searchsorted(self._sessions, np.datetime64(day, "D"), side="left")
        if at == 0:
            raise ValueError(f"no {self.exchange} session before {day}")
        return self._sessions[at - 1].astype(object)

    def last_session(self, now: dt.datetime | None = None) -> dt.date:
        """The newest session whose close has passed at `now` (aware; default: the current time): the date
        of the newest daily bar a live feed can have. For the current time the answer is kept until the next
        close passes: the gateway asks on every request, the answer changes once a session."""
        if now is None:
            held = self._current
            if held is not None and time.time() < held[1]:
                return held[0]
        moment_now = now or dt.datetime.now(dt.UTC)
        if moment_now.tzinfo is None:
            raise ValueError("last_session needs an aware datetime (a naive one has no time zone)")
        self._cover(moment_now.date())
        moment = np.datetime64(moment_now.astimezone(dt.UTC).replace(tzinfo=None), "s")
        sessions, closes = self._sessions, self._closes
        closed = np.searchsorted(closes, moment, side="right")
        if closed == 0:
            raise ValueError(f"no {self.exchange} session has closed by {moment_now.isoformat()}")
        session = sessions[closed - 1].astype(object)
        if now is None and closed < len(closes):
            self._current = (session, float(closes[closed].astype("int64")))  # valid until that close (epoch s)
        return session


@functools.cache
def trading_calendar(exchange: str = EXCHANGE) -> TradingCalendar:
    """The process's calendar of `exchange` (built once, about 0.5 s)."""
    return TradingCalendar(exchange)

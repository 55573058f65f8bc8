"""The XWAR calendar: forecast dates skip the Warsaw exchange's holidays, not only weekends."""

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest

from market_data.calendar import FIRST_SESSION, TradingCalendar, trading_calendar

D = dt.date
WARSAW = ZoneInfo("Europe/Warsaw")


@pytest.fixture(scope="module")
def xwar() -> TradingCalendar:
    return trading_calendar()


@pytest.mark.parametrize(
    ("after", "n", "sessions", "holidays"),
    [
        (D(2024, 12, 20), 4, [D(2024, 12, 23), D(2024, 12, 27), D(2024, 12, 30), D(2025, 1, 2)],
         "Christmas Eve, Christmas, St Stephen's, New Year's Eve, New Year"),
        (D(2025, 4, 17), 2, [D(2025, 4, 22), D(2025, 4, 23)], "Good Friday, Easter Monday"),
        (D(2024, 4, 30), 2, [D(2024, 5, 2), D(2024, 5, 6)], "1 May (Labour Day), 3 May (Constitution Day)"),
        (D(2025, 6, 18), 1, [D(2025, 6, 20)], "Corpus Christi"),
        (D(2023, 1, 5), 1, [D(2023, 1, 9)], "Epiphany (a Friday in 2023)"),
        (D(2023, 8, 14), 1, [D(2023, 8, 16)], "Assumption"),
        (D(2024, 11, 8), 1, [D(2024, 11, 12)], "Independence Day (a Monday in 2024)"),
    ],
)
def test_next_sessions_skip_polish_exchange_holidays(xwar, after, n, sessions, holidays):
    assert xwar.next_sessions(after, n) == sessions, holidays


def test_next_sessions_start_after_a_day_that_is_no_session(xwar):
    assert xwar.next_sessions(D(2024, 12, 25), 1) == [D(2024, 12, 27)]
    assert not xwar.is_session(D(2024, 12, 24)) and xwar.is_session(D(2024, 12, 23))


def test_sessions_between_counts_sessions_not_weekdays(xwar):
    assert xwar.sessions_between(D(2024, 12, 20), D(2025, 1, 3)) == 5  # 8 weekdays, 5 of them sessions
    assert xwar.sessions_between(D(2025, 4, 17), D(2025, 4, 22)) == 1
    assert xwar.sessions_between(D(2025, 4, 22), D(2025, 4, 17)) == -1
    assert xwar.sessions_between(D(2025, 6, 18), D(2025, 6, 18)) == 0


def test_last_session_is_the_newest_that_has_closed(xwar):
    at = lambda *when: dt.datetime(*when, tzinfo=WARSAW)  # noqa: E731
    assert xwar.last_session(at(2025, 12, 23, 12, 0)) == D(2025, 12, 22)  # still trading
    assert xwar.last_session(at(2025, 12, 23, 18, 0)) == D(2025, 12, 23)
    assert xwar.last_session(at(2025, 12, 27, 9, 0)) == D(2025, 12, 23)  # 24-26 December, then a Saturday
    assert xwar.last_session(at(2025, 6, 19, 20, 0)) == D(2025, 6, 18)  # Corpus Christi
    with pytest.raises(ValueError, match="aware"):
        xwar.last_session(dt.datetime(2025, 6, 19, 20, 0))


def test_dates_beyond_the_built_range_extend_it_from_the_rules():
    calendar = TradingCalendar(years_ahead=1)
    far = D(calendar.end.year + 20, 12, 22)
    sessions = calendar.next_sessions(far, 3)
    assert all(d.weekday() < 5 and d.day not in (24, 25, 26) for d in sessions if d.month == 12)
    assert calendar.end > far and calendar.is_session(sessions[0])


def test_dates_before_the_first_session_are_refused(xwar):
    with pytest.raises(ValueError, match="before XWAR's first session 1991-04-16"):
        xwar.next_sessions(FIRST_SESSION - dt.timedelta(days=1), 1)


def test_the_current_last_session_is_kept_until_the_next_close(xwar):
    first = xwar.last_session()
    assert first == xwar.last_session(dt.datetime.now(dt.UTC))
    session, until = xwar._current
    assert session == first and until > time.time()  # the next close is still ahead
    assert xwar.last_session(dt.datetime(2025, 12, 23, 18, 0, tzinfo=WARSAW)) == D(2025, 12, 23)  # explicit: not kept
    assert xwar.last_session() == first

"""The fan's dates are the Warsaw exchange's sessions (XWAR), not weekdays."""

import datetime as dt

import numpy as np

from gateway.forecasting.forecast_path import price_path


def test_fan_dates_skip_christmas_new_year_easter_may_and_corpus_christi():
    flat = np.zeros(30)
    dates = [point.date for point in price_path(10.0, dt.date(2024, 12, 20), flat, flat + 0.01)]
    assert dates[:4] == [dt.date(2024, 12, 23), dt.date(2024, 12, 27), dt.date(2024, 12, 30), dt.date(2025, 1, 2)]
    assert len(set(dates)) == 30 and dates == sorted(dates)
    spring = [point.date for point in price_path(10.0, dt.date(2025, 4, 14), flat, flat + 0.01)]
    holidays = {dt.date(2025, 4, 18), dt.date(2025, 4, 21), dt.date(2025, 5, 1)}
    assert not holidays & set(spring) and dt.date(2025, 5, 2) in spring
    assert spring[-1] == dt.date(2025, 5, 29)  # 30 sessions: three holidays skipped (3 May is a Saturday)
    summer = [point.date for point in price_path(10.0, dt.date(2025, 6, 17), flat, flat + 0.01)]
    assert summer[:2] == [dt.date(2025, 6, 18), dt.date(2025, 6, 20)]  # Corpus Christi

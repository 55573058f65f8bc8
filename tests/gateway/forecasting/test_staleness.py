"""`stale` against the market as the store knows it: a symbol whose bars stop while others go on is flagged."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from tests.gateway.conftest import API_KEY
from tests.gateway.forecasting.test_cache import analyze

pytestmark = pytest.mark.triton


def test_a_symbol_left_behind_by_the_newest_bars_is_stale_and_the_one_posting_them_is_not(
    start_gateway, stored_symbols
):
    gateway = start_gateway(REDIS_URL="")
    moving, left_behind = stored_symbols[0], stored_symbols[1]
    assert not analyze(gateway, moving).stale and not analyze(gateway, left_behind).stale

    first_new_day = np.busday_offset(np.datetime64(analyze(gateway, moving).data_as_of), 1, roll="forward")
    days = np.busday_offset(first_new_day, np.arange(6))  # six trading days: one more than the default 5
    bars = [{"symbol": moving, "date": str(day), "open": 20.0, "high": 21.0, "low": 19.0, "close": 20.5,
             "volume": 5000.0} for day in days]
    posted = httpx.post(f"{gateway.url}/bars", json={"bars": bars}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200, posted.text

    assert not analyze(gateway, moving).stale
    behind = analyze(gateway, left_behind)
    assert behind.stale and str(behind.data_as_of) < str(days[0])

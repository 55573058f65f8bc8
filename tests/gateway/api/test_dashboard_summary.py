"""GET /dashboard/summary: the dashboard's table in one request, whatever the member count."""

from __future__ import annotations

import httpx
import pytest

from gateway.schemas import PredictionResponse

pytestmark = pytest.mark.triton


def test_the_summary_answers_every_member_for_one_rate_limit_unit(start_gateway, stored_symbols):
    # two loads a minute: /batch_analyze of the members would cost one unit per member (4 each)
    gateway = start_gateway(REDIS_URL="", WIG80_RATE_LIMIT_PER_MINUTE="2")
    loads = [httpx.get(f"{gateway.url}/dashboard/summary", timeout=30.0) for _ in range(2)]
    assert [load.status_code for load in loads] == [200, 200], loads[-1].text
    summary = loads[0].json()
    assert [m["symbol"] for m in summary["members"]] == sorted(stored_symbols)
    for member in summary["members"]:
        prediction = PredictionResponse.model_validate(member["item"]["prediction"])
        assert prediction.symbol == member["symbol"] and prediction.prediction_horizon == summary["horizon"] == 5
    refused = httpx.get(f"{gateway.url}/dashboard/summary", timeout=30.0)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1

"""A symbol the model cannot answer (a window whose prices are not finite in float32, written to the store
by a path that did not validate them) is refused with its reason, and a batch answers the others."""

from __future__ import annotations

import dataclasses

import httpx
import numpy as np
import pytest

from market_data.stores import open_store
from market_data.stores.sync import run_sync
from market_data.synthetic import synthesize
from tests.gateway.conftest import DAYS, SEED, SYMBOL_COUNT

pytestmark = pytest.mark.triton


def test_a_batch_with_one_unanswerable_symbol_answers_the_others(start_gateway, tmp_path):
    market = synthesize(SYMBOL_COUNT, DAYS, SEED)
    broken = market[1].ohlcv.copy()
    broken[-3, :4] = 1e300  # finite in float64, inf in the model's float32
    home = tmp_path / "broken"

    async def fill() -> None:
        async with open_store(None, home) as store:  # the store itself does not validate: the importer does
            await store.append_many([market[0], dataclasses.replace(market[1], ohlcv=broken), *market[2:]])

    run_sync(fill())
    gateway = start_gateway(home=home, REDIS_URL="")
    good, bad = market[0].symbol, market[1].symbol
    body = {"symbols": [good, bad, "NOSUCH", market[2].symbol], "prediction_horizon": 5}
    response = httpx.post(f"{gateway.url}/batch_analyze", json=body, timeout=30.0)
    assert response.status_code == 200, response.text
    items = {item["requested"]: item for item in response.json()["results"]}
    assert items[good]["status_code"] == 200 and items[good]["prediction"]["symbol"] == good
    assert items[market[2].symbol]["status_code"] == 200
    assert items["NOSUCH"]["status_code"] == 404
    day = str(market[1].dates[-3])
    assert items[bad]["status_code"] == 400 and items[bad]["prediction"] is None
    assert "not finite in float32" in items[bad]["error"] and day in items[bad]["error"]

    single = httpx.post(f"{gateway.url}/analyze", json={"symbol": bad}, timeout=30.0)
    assert single.status_code == 400 and day in single.json()["detail"]
    assert np.isfinite(httpx.post(f"{gateway.url}/analyze", json={"symbol": good}, timeout=30.0)
                       .json()["predicted_price"])

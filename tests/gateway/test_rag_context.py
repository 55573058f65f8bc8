"""`include_rag_context`: /analyze returns the served version's historical analogues, fetched by the gateway
from the registry (it never sees the model repository), equal to what the index answers in process."""

from __future__ import annotations

import datetime as dt

import httpx
import numpy as np

from analogues.index import AnalogueIndex
from analogues.query import AnalogueQuery
from training.analogue_index import INDEX_FILE


def analyze(gateway, symbol: str, rag: bool) -> dict:
    body = {"symbol": symbol, "prediction_horizon": 5, "include_rag_context": rag}
    response = httpx.post(f"{gateway.url}/analyze", json=body, timeout=30.0)
    assert response.status_code == 200, response.text
    return response.json()


def test_analyze_returns_the_analogues_of_the_held_forecast(start_gateway, registry_serving, stored_symbols,
                                                          triton_server, bars_home):
    from feature_kernels import compute_features
    from market_data.stores import open_store
    from market_data.stores.sync import run_sync

    gateway = start_gateway(**registry_serving.env)
    symbol = stored_symbols[0]
    assert analyze(gateway, symbol, rag=False)["rag_context"] is None
    answer = analyze(gateway, symbol, rag=True)
    rag = answer["rag_context"]
    assert rag["symbol"] == symbol and rag["date"] == answer["data_as_of"]
    assert [f["horizon"] for f in rag["forecast"]] == [1, 5, 30] and rag["k"] > 10
    assert len(rag["analogues"]) == 10
    assert all(a["date"] < rag["admissible_before"] for a in rag["analogues"])
    distances = [a["distance"] for a in rag["analogues"]]
    assert distances == sorted(distances)

    # the same index, queried in process with the same window's features, says the same
    index = AnalogueIndex.load(triton_server.repository / "wig80" / "1" / INDEX_FILE)

    async def window():
        async with open_store(None, bars_home) as store:
            return await store.last_bars(symbol, triton_server.window)

    series = run_sync(window())
    features = compute_features(series.ohlcv[None].astype(np.float32))[0]
    expected = AnalogueQuery(index).context(symbol, dt.date.fromisoformat(rag["date"]), features).as_dict()
    assert [(a["symbol"], a["date"]) for a in rag["analogues"]] == \
        [(a["symbol"], a["date"]) for a in expected["analogues"]]
    np.testing.assert_allclose([f["mean"] for f in rag["forecast"]], [f["mean"] for f in expected["forecast"]],
                               rtol=1e-4, atol=1e-6)


def test_without_a_registry_rag_context_is_null(gateway, stored_symbols):
    assert analyze(gateway, stored_symbols[0], rag=True)["rag_context"] is None


def test_an_unreachable_registry_leaves_rag_context_null_and_the_answer_whole(start_gateway, stored_symbols):
    from tests.fixtures.services import free_port

    gateway = start_gateway(POCKETBASE_URL=f"http://127.0.0.1:{free_port()}")
    answer = analyze(gateway, stored_symbols[0], rag=True)
    assert answer["rag_context"] is None and answer["predicted_price"] > 0
    assert "no analogue index" in gateway.log_tail()

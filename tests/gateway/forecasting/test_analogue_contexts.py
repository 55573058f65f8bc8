"""The analogues kept on a held forecast, in process over the real Triton, store and PocketBase: a forecast
made for a request (nothing precomputed) gets them when asked, equal to the index's own answer; a registry
that does not answer leaves them null, and is asked again once RETRY_S has passed."""

from __future__ import annotations

import pytest

from analogues.index import AnalogueIndex
from analogues.query import AnalogueQuery
from gateway.forecasting.accuracy import DirectionalAccuracy
from gateway.forecasting.analogue_contexts import RETRY_S, AnalogueContexts
from gateway.forecasting.analysis import AnalysisService
from gateway.forecasting.forecasts import ForecastBook
from gateway.forecasting.model_watcher import ModelWatcher
from gateway.forecasting.predictions import PredictionPolicy
from gateway.forecasting.triton_client import TritonClient
from gateway.forecasting.windows import HotWindows
from gateway.schemas import AnalysisRequest
from market_data.stores import open_store
from tests.fixtures.registry import READER_EMAIL, READER_PASSWORD
from tests.fixtures.services import free_port
from training.analogue_index import INDEX_FILE

pytestmark = [pytest.mark.triton]


@pytest.fixture
async def service_with(bars_home, triton_grpc, tmp_path):
    """An AnalysisService whose analogues come from the registry at a given URL; nothing precomputed."""
    opened = []

    async def make(registry_url: str) -> AnalysisService:
        store = open_store(None, bars_home)
        triton = TritonClient(triton_grpc, default_window=0)
        opened.append((store, triton))
        analogues = AnalogueContexts(registry_url, READER_EMAIL, READER_PASSWORD, tmp_path / "gateway-home")
        return AnalysisService(HotWindows(store), ModelWatcher(triton), ForecastBook(triton, None, "test"),
                               DirectionalAccuracy(store), PredictionPolicy(), default_window=0, analogues=analogues)

    yield make
    for store, triton in opened:
        await triton.close()
        await store.close()


def asked(symbol: str, rag: bool = True) -> AnalysisRequest:
    return AnalysisRequest(symbol=symbol, include_rag_context=rag)


async def test_a_forecast_made_for_a_request_gets_the_analogues_the_index_gives(service_with, registry_serving,
                                                                             triton_server, stored_symbols):
    service = await service_with(registry_serving.url)
    symbol = stored_symbols[0]
    without, source = await service.analyze(asked(symbol, rag=False))
    assert source == "triton" and without.rag_context is None
    held, _ = await service.current_forecast(symbol)
    assert held.analogues is None  # not asked for yet: no index read, no search

    answer, source = await service.analyze(asked(symbol))
    assert source == "cache"  # the same held forecast, now with its analogues kept on it
    assert answer.rag_context is not None and held.analogues is answer.rag_context
    index = AnalogueIndex.load(triton_server.repository / "wig80" / "1" / INDEX_FILE)
    expected = AnalogueQuery(index).context(symbol, answer.data_as_of, held.forecast.features)
    assert answer.rag_context.date == answer.data_as_of == expected.date
    assert [(a.symbol, a.date) for a in answer.rag_context.analogues] == \
        [(a.symbol, a.date) for a in expected.analogues]
    assert [f.mean for f in answer.rag_context.forecast] == pytest.approx([f.mean for f in expected.forecast])


async def test_an_unanswering_registry_leaves_them_null_and_is_asked_again_after_the_retry_time(
        service_with, registry_serving, stored_symbols):
    service = await service_with(f"http://127.0.0.1:{free_port()}")
    symbol = stored_symbols[1]
    answer, _ = await service.analyze(asked(symbol))
    assert answer.rag_context is None and answer.predicted_price > 0
    assert service.analogues.query is None

    service.analogues.registry_url = registry_serving.url  # the registry answers again ...
    again, _ = await service.analyze(asked(symbol))
    assert again.rag_context is None  # ... but is not asked within RETRY_S of the failure

    service.analogues._failed_at -= RETRY_S  # RETRY_S later
    later, _ = await service.analyze(asked(symbol))
    assert later.rag_context is not None and later.rag_context.symbol == symbol

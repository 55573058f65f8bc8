"""One forecast per (symbol, last bar, model version), in-process over the real Triton and a real store:
single-flight, one Triton request for a batch's misses, warm requests that read no store."""

from __future__ import annotations

import asyncio
import datetime as dt

import httpx
import numpy as np
import pytest

from gateway.forecasting.accuracy import DirectionalAccuracy
from gateway.forecasting.analysis import AnalysisService
from gateway.forecasting.cache import RedisCache, redis_client
from gateway.forecasting.forecasts import ForecastBook, SymbolForecast
from gateway.forecasting.model_watcher import ModelWatcher
from gateway.forecasting.predictions import PredictionPolicy
from gateway.forecasting.triton_client import TritonClient
from gateway.forecasting.windows import HotWindows
from gateway.schemas import AnalysisRequest, BatchAnalysisRequest
from market_data.stores import open_store

pytestmark = [pytest.mark.triton, pytest.mark.redis]


class CountingStore:
    """The real store, with its window reads counted."""

    def __init__(self, store) -> None:
        self.store, self.reads = store, 0

    async def last_bars(self, symbol, n):
        self.reads += 1
        return await self.store.last_bars(symbol, n)

    async def list_symbols(self):
        return await self.store.list_symbols()


def wig80_stats(triton_http: str) -> tuple[int, int]:
    """(requests answered, windows inferred) by the `wig80` model so far, from Triton's statistics."""
    stats = httpx.get(f"{triton_http}/v2/models/wig80/stats", timeout=10.0).json()["model_stats"]
    return (sum(int(s["inference_stats"]["success"]["count"]) for s in stats),
            sum(int(s["inference_count"]) for s in stats))


@pytest.fixture
async def service(bars_home, triton_grpc, redis_url, redis_prefix, request):
    """An AnalysisService with empty caches (nothing precomputed), sharing a fresh Redis prefix."""
    store = CountingStore(open_store(None, bars_home))
    triton = TritonClient(triton_grpc, default_window=0)
    redis = redis_client(redis_url)
    book = ForecastBook(triton, RedisCache(redis, 60), f"{redis_prefix}-{request.node.name}")
    analysis = AnalysisService(HotWindows(store), ModelWatcher(triton), book, DirectionalAccuracy(store),
                               PredictionPolicy(), default_window=0)
    yield analysis
    await triton.close()
    await redis.aclose()
    await store.store.close()


async def test_concurrent_misses_for_one_symbol_make_one_triton_inference(service, stored_symbols, triton_http):
    before = wig80_stats(triton_http)
    answers = await asyncio.gather(*[
        service.analyze(AnalysisRequest(symbol=stored_symbols[0], prediction_horizon=h % 30 + 1)) for h in range(16)
    ])
    requests, windows = np.subtract(wig80_stats(triton_http), before)
    assert (requests, windows) == (1, 1)
    assert len({response.timestamp for response, _ in answers}) == 1  # all derived from that one forecast
    assert "triton" in [source for _, source in answers]


async def test_batch_misses_go_in_one_triton_request_and_are_then_held(service, stored_symbols, triton_http):
    before = wig80_stats(triton_http)
    request = BatchAnalysisRequest(symbols=[*stored_symbols[:3], "NOSUCH"], prediction_horizon=10)
    first = await service.analyze_batch(request)
    assert tuple(np.subtract(wig80_stats(triton_http), before)) == (1, 3)
    assert [item.status_code for item in first.results] == [200, 200, 200, 404]
    again = await service.analyze_batch(request.model_copy(update={"prediction_horizon": 3}))
    assert tuple(np.subtract(wig80_stats(triton_http), before)) == (1, 3)  # any horizon, from the held ones
    assert [item.prediction.prediction_horizon for item in again.results[:3]] == [3, 3, 3]


async def test_after_start_up_requests_read_no_store_and_ask_triton_nothing(service, stored_symbols, triton_http):
    await service.start()
    reads, before = service.store.reads, wig80_stats(triton_http)
    for symbol in stored_symbols:
        for horizon, threshold in ((1, 0.0), (17, 0.55), (30, 0.9)):
            request = AnalysisRequest(symbol=symbol, prediction_horizon=horizon, confidence_threshold=threshold)
            response, source = await service.analyze(request)
            assert source == "cache" and response.prediction_horizon == horizon
    assert service.store.reads == reads and wig80_stats(triton_http) == before


async def test_a_second_process_takes_the_forecast_from_redis(service, stored_symbols, triton_http):
    symbol = stored_symbols[1]
    made, _ = await service.analyze(AnalysisRequest(symbol=symbol))
    other = ForecastBook(service.book.triton, service.book.shared, service.book.prefix)  # empty memory
    before = wig80_stats(triton_http)
    series = await service.windows.get(symbol)
    [shared], waited = await other.get_many([series], service.model.current)
    assert waited == 0 and wig80_stats(triton_http) == before
    assert shared.forecast.made_at == made.timestamp
    assert shared.forecast.horizon(5) == service.book.held(series, service.model.current).forecast.horizon(5)
    assert shared.facts() == service.book.held(series, service.model.current).facts()


def test_a_forecast_survives_its_bytes():
    forecast = SymbolForecast(
        np.linspace(-0.1, 0.1, 30, dtype=np.float32), np.full(30, 0.02, dtype=np.float32),
        np.arange(51, dtype=np.float32), np.array([0.5, 0.3, 0.2], dtype=np.float32),
        dt.datetime(2026, 1, 2, 12, 30, 15, 250000, tzinfo=dt.UTC), "mgdl_20260102_123015/v7",
    )
    again = SymbolForecast.from_bytes(forecast.to_bytes())
    for name in ("mean", "std", "features", "band_shares"):
        np.testing.assert_array_equal(getattr(again, name), getattr(forecast, name))
    assert (again.made_at, again.model_version) == (forecast.made_at, forecast.model_version)
    with pytest.raises(ValueError, match="header"):
        SymbolForecast.from_bytes(forecast.to_bytes()[:-4])


async def test_several_workers_without_redis_are_refused(bars_home):
    from gateway.services import open_services
    from settings import Settings

    settings = Settings().model_copy(update={"home": bars_home, "api_workers": 2, "redis_url": None})
    with pytest.raises(RuntimeError, match="needs REDIS_URL"):
        async with open_services(settings, "unused"):
            pass


def features_requests(triton_http: str) -> int:
    """Requests answered by the `features` model so far (what /spectrum asks when it must)."""
    stats = httpx.get(f"{triton_http}/v2/models/features/stats", timeout=10.0).json()["model_stats"]
    return sum(int(s["inference_stats"]["success"]["count"]) for s in stats)


async def test_spectrum_and_long_forecast_paths_come_from_the_hot_state(service, stored_symbols, triton_http):
    """Beyond the window, the history is read once per bar and the features model asked once per length;
    the forecast's own window needs no call at all: its FEATURES are the features model's of it."""
    from gateway.forecasting.analysis import SPECTRUM_FEATURES
    from gateway.forecasting.forecast_path import forecast_path
    from gateway.forecasting.predictions import named_features

    await service.start()
    symbol, window, info = stored_symbols[0], service.windows.size, service.model.current
    first = await service.spectrum(symbol, 2 * window)
    reads, ensemble, features = service.store.reads, wig80_stats(triton_http), features_requests(triton_http)
    again = await service.spectrum(symbol, 2 * window)
    own = await service.spectrum(symbol, window)
    path = await forecast_path(service, symbol, 2 * window)
    assert again == first and (first.days, own.days, len(path.bars)) == (2 * window, window, 2 * window)
    assert path.bars[-1].date == first.analysis_date == own.analysis_date
    assert (service.store.reads, wig80_stats(triton_http), features_requests(triton_http)) == (reads, ensemble, features)
    asked, _ = await service.book.triton.features((await service.windows.get(symbol)).ohlcv)
    expected = named_features(asked, info.feature_names, SPECTRUM_FEATURES)
    assert own.total_power == pytest.approx(expected["spectral_total_power"], rel=1e-5)
    assert own.spectral_centroid == pytest.approx(expected["spectral_centroid"], rel=1e-5)


async def test_a_new_bar_makes_the_long_history_read_again(service, stored_symbols, bars_home):
    await service.start()
    symbol, window = stored_symbols[1], service.windows.size
    before = await service.windows.history(symbol, 2 * window)
    await service.on_new_bar(symbol, str(before.dates[-1]))  # (the same bars: what matters is the refresh)
    reads = service.store.reads
    after = await service.windows.history(symbol, 2 * window)
    assert service.store.reads == reads + 1 and after.dates[-1] == before.dates[-1] and len(after) == 2 * window

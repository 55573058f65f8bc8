"""The long-lived parts one gateway process holds: store, Triton channel, hot state, forecasts, events, hub."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.accuracy import DirectionalAccuracy
from gateway.analysis import AnalysisService
from gateway.bar_events import LocalBarEvents, RedisBarEvents
from gateway.cache import RedisCache, redis_client
from gateway.client_identity import ClientIdentity
from gateway.forecasts import ForecastBook
from gateway.triton_client import TritonForecaster
from gateway.windows import HotWindows
from gateway.ws_hub import RealtimeHub
from gateway.ws_limits import ConnectionLimits
from market_data.stores import open_store
from wig80.settings import Settings


@dataclass
class Services:
    settings: Settings
    store: object  # market_data.stores.BarStore
    forecaster: TritonForecaster
    analysis: AnalysisService
    events: LocalBarEvents
    hub: RealtimeHub
    started_monotonic: float

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic


@contextlib.asynccontextmanager
async def open_services(settings: Settings, redis_prefix: str) -> AsyncIterator[Services]:
    if settings.api_workers > 1 and not settings.redis_url:
        # each worker holds its own hot state; only Redis pub/sub tells every worker of a new bar
        raise RuntimeError("WIG80_API_WORKERS > 1 needs REDIS_URL: without it a bar posted to one worker "
                           "would not reach the others' windows and forecasts")
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    store = open_store(settings.market_db_url, settings.home)
    forecaster = TritonForecaster(settings.triton_grpc_address, default_window=settings.window)
    shared = RedisCache(redis, settings.cache_ttl_seconds) if redis is not None else None
    book = ForecastBook(forecaster, shared, redis_prefix)
    accuracy = DirectionalAccuracy(store)
    analysis = AnalysisService(HotWindows(store), forecaster, book, accuracy, settings.window)
    events = RedisBarEvents(settings.redis_url, f"{redis_prefix}:bars") if settings.redis_url else LocalBarEvents()
    hub = RealtimeHub(
        analysis, settings.websocket_queue_size, settings.websocket_messages_per_second,
        ConnectionLimits.from_settings(settings), ClientIdentity(settings.trusted_proxies, settings.api_key),
        redact_errors=settings.environment == "production",
    )
    events.subscribe(analysis.on_new_bar)  # first: the hub's pushes must see the new window
    events.subscribe(hub.on_new_bar)
    events.subscribe(accuracy.on_new_bar)
    await events.start()
    await analysis.start()
    background = [asyncio.create_task(analysis.watch_model()), asyncio.create_task(analysis.precompute_new_bars())]
    try:
        yield Services(settings, store, forecaster, analysis, events, hub, time.monotonic())
    finally:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await events.stop()
        await forecaster.close()
        if shared is not None:
            await shared.close()
        await store.close()

"""The long-lived parts one gateway process holds: store, Triton channel, cache, bar events, hub, limiter."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.accuracy import DirectionalAccuracy
from gateway.analysis import AnalysisService
from gateway.bar_events import LocalBarEvents, RedisBarEvents
from gateway.cache import open_cache, redis_client
from gateway.triton_client import TritonForecaster, grpc_target
from gateway.ws_hub import RealtimeHub
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
    redis = redis_client(settings.redis_url) if settings.redis_url else None
    store = open_store(settings.market_db_url, settings.home)
    target = grpc_target(settings.triton_url, settings.triton_host, settings.triton_grpc_port)
    forecaster = TritonForecaster(target, default_window=settings.window)
    cache = open_cache(redis, settings.cache_ttl_seconds)
    accuracy = DirectionalAccuracy(store)
    analysis = AnalysisService(store, forecaster, cache, accuracy, redis_prefix)
    events = RedisBarEvents(settings.redis_url, f"{redis_prefix}:bars") if settings.redis_url else LocalBarEvents()
    hub = RealtimeHub(analysis, settings.websocket_queue_size, settings.websocket_messages_per_second)
    events.subscribe(hub.on_new_bar)
    events.subscribe(accuracy.on_new_bar)
    await events.start()
    try:
        yield Services(settings, store, forecaster, analysis, events, hub, time.monotonic())
    finally:
        await events.stop()
        await forecaster.close()
        await cache.close()
        await store.close()

"""The long-lived parts one gateway process holds: store, Triton channel, the served model, hot state,
forecasts, events, hub; wired here once from the settings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

from gateway.client_identity import ClientIdentity
from gateway.forecasting.accuracy import DirectionalAccuracy
from gateway.forecasting.analogue_contexts import AnalogueContexts
from gateway.forecasting.analysis import AnalysisService
from gateway.forecasting.cache import RedisCache, redis_client
from gateway.forecasting.forecasts import ForecastBook
from gateway.forecasting.model_watcher import ModelWatcher
from gateway.forecasting.predictions import PredictionPolicy
from gateway.forecasting.served_records import ServedRecords
from gateway.forecasting.triton_client import TritonClient
from gateway.forecasting.windows import HotWindows
from gateway.realtime.bar_events import LocalBarEvents, RedisBarEvents
from gateway.realtime.change_feed import ChangeFeedFollower
from gateway.realtime.hub import RealtimeHub
from gateway.realtime.limits import ConnectionLimits
from market_data.stores import open_store
from serving.contract import TritonAddress
from settings import Settings


@dataclass
class Services:
    settings: Settings
    store: object  # market_data.stores.BarStore
    triton: TritonClient
    model: ModelWatcher  # the served model: GET /models and every answer read it here
    records: ServedRecords | None  # GET /models: the served version's registry records; None without a registry
    analysis: AnalysisService
    events: LocalBarEvents
    hub: RealtimeHub
    follower: ChangeFeedFollower  # the store's change feed: every write path reaches the hot state
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
    triton = TritonClient(TritonAddress.from_settings(settings).grpc, default_window=settings.window)
    shared = RedisCache(redis, settings.cache_ttl_seconds) if redis is not None else None
    book = ForecastBook(triton, shared, redis_prefix)
    accuracy = DirectionalAccuracy(store)
    model = ModelWatcher(triton)
    analysis = AnalysisService(HotWindows(store), model, book, accuracy, PredictionPolicy.from_settings(settings),
                               default_window=settings.window,
                               analogues=AnalogueContexts.from_settings(settings))
    events = RedisBarEvents(settings.redis_url, f"{redis_prefix}:bars") if settings.redis_url else LocalBarEvents()
    hub = RealtimeHub(
        analysis, settings.websocket_queue_size, settings.websocket_messages_per_second,
        ConnectionLimits.from_settings(settings), ClientIdentity(settings.trusted_proxies, settings.api_key),
        redact_errors=settings.environment == "production",
    )
    # analysis first: the hub's pushes must see the new window
    follower = ChangeFeedFollower(store, settings.change_poll_seconds,
                                  [analysis.on_new_bar, hub.on_new_bar, accuracy.on_new_bar])
    events.subscribe(follower.on_announcement)  # an announcement wakes the follower; the feed says what changed
    await events.start()
    position = await follower.position()  # before the windows load: nothing committed after it is missed
    await analysis.start()
    follower.start(position)
    background = [asyncio.create_task(model.watch()), asyncio.create_task(analysis.precompute_new_bars())]
    records = ServedRecords.from_settings(settings)
    try:
        yield Services(settings, store, triton, model, records, analysis, events, hub, follower, time.monotonic())
    finally:
        await follower.stop()
        if records is not None:
            records.close()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await events.stop()
        await triton.close()
        if shared is not None:
            await shared.close()
        await store.close()

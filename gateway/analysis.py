"""The work behind /analyze, /batch_analyze, /spectrum and the WebSocket pushes.

A prediction request reads the symbol's window from the hot state (memory), takes the forecast of that
window by the served model version (made once, see `gateway.forecasts`) and derives the response for
the asked horizon, threshold and `include_spectral`. The forecasts are made ahead of time: at start-up,
when a model version is loaded and when a new bar arrives, so a steady-state request waits on nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from starlette.concurrency import run_in_threadpool

from gateway import metrics
from gateway.accuracy import DirectionalAccuracy
from gateway.analogue_contexts import AnalogueContexts
from gateway.cache import MemoryCache
from gateway.forecasts import ForecastBook, SymbolForecast
from gateway.models import (
    AnalysisRequest,
    BatchAnalysisRequest,
    BatchAnalysisResponse,
    BatchItem,
    PredictionResponse,
    SpectrumResponse,
)
from gateway.predictions import WindowFacts, build_prediction, window_facts
from gateway.spectrum_bands import BandEdgesInvalid, frequency_bands
from gateway.triton_client import ModelInfo, TritonForecaster, TritonRejected, TritonUnavailable
from gateway.windows import HotWindows
from market_data.bars import BarSeries
from market_data.symbols import resolve_ticker

log = logging.getLogger(__name__)

REQUIRED_FEATURES = ("rsi_14", "volatility_20", "sma_ratio_20", "volume_ratio_20")
SPECTRUM_FEATURES = ("band_power_low", "band_power_mid", "band_power_high", "spectral_total_power", "spectral_centroid")
MODEL_WATCH_INTERVAL_S = 1.0  # a reloaded model is served (and precomputed) within about this long


class InvalidRequest(Exception):
    """A request the schema allows but the model cannot answer (-> 400 with this reason)."""


class SymbolNotFound(Exception):
    """Unknown symbol, or too few stored bars to answer (-> 404 with this reason)."""


@functools.lru_cache(maxsize=1024)
def ticker_of(symbol: str) -> str:
    return resolve_ticker(symbol) or symbol.strip().upper()


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _finite_or_fail(what: str, *arrays: np.ndarray) -> None:
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise TritonUnavailable(f"the model returned non-finite {what}")


@dataclass
class AnalysisService:
    windows: HotWindows
    forecaster: TritonForecaster
    book: ForecastBook
    accuracy: DirectionalAccuracy
    default_window: int
    model: ModelInfo | None = None  # the served version; switched by `watch_model` after its precompute
    analogues: AnalogueContexts | None = None  # include_rag_context (None: no registry configured)
    _new_bars: set[str] = field(default_factory=set)
    _new_bar_signal: asyncio.Event = field(default_factory=asyncio.Event)
    _first_model_read: asyncio.Lock = field(default_factory=asyncio.Lock)
    _facts: MemoryCache[tuple[dict, WindowFacts]] = field(default_factory=MemoryCache)

    @property
    def store(self):  # market_data.stores.BarStore
        return self.windows.store

    # -- lifecycle: start-up, model reloads, new bars ------------------------------------------------

    async def start(self) -> None:
        """Hold every symbol's window; forecast them all if Triton answers (else on the first requests)."""
        with contextlib.suppress(TritonUnavailable):
            self.model = await self.forecaster.model_info(max_age_s=0)
        await self.windows.load_all(self.model.window if self.model else self.default_window)
        if self.model is not None:
            await self._precompute(self.windows.tickers, self.model)

    async def watch_model(self, interval_s: float = MODEL_WATCH_INTERVAL_S) -> None:
        """Forever: read the served model's info; on a new version, precompute under it, then serve it."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                info = await self.forecaster.model_info(max_age_s=0)
                if info != self.model:
                    await self._switch_model(info)
            except TritonUnavailable:
                continue  # held forecasts keep being served; misses answer 503 with Triton's reason
            except Exception:  # a store failure must not end the watch: the next round retries
                log.exception("following the served model failed; retrying")

    async def _switch_model(self, info: ModelInfo) -> None:
        if info.window != self.windows.size:
            await self.windows.load_all(info.window)
        await self._precompute(self.windows.tickers, info)
        log.info("serving model %s", info.model_version)
        self.model = info

    async def on_new_bar(self, symbol: str, last_date: str) -> None:
        """A new bar was stored (here or by another replica): re-read the window, forecast it soon."""
        await self.windows.refresh(symbol)
        self._new_bars.add(symbol)
        self._new_bar_signal.set()

    async def precompute_new_bars(self) -> None:
        """Forever: forecast the symbols with new bars, all that arrived meanwhile in one Triton request."""
        while True:
            await self._new_bar_signal.wait()
            self._new_bar_signal.clear()
            tickers, self._new_bars = sorted(self._new_bars), set()
            if self.model is None:
                continue
            try:
                await self._precompute(tickers, self.model)
            except Exception:  # requests make what is missing; the loop must live for the next bar
                log.exception("precomputing forecasts of new bars failed for %s", ", ".join(tickers))

    async def _precompute(self, tickers: Sequence[str], info: ModelInfo) -> None:
        full = [s for s in [await self.windows.get(t) for t in tickers] if len(s) >= info.window]
        try:
            forecasts, _ = await self.book.get_many(full, info)
            if self.analogues is not None:  # the version's index, then one search for all, off the event loop
                await self.analogues.follow(info)
                await run_in_threadpool(self.analogues.make, full, forecasts)
        except (TritonUnavailable, TritonRejected) as error:
            log.warning("precomputing %d forecasts failed (requests will retry): %s", len(full), error)

    # -- requests --------------------------------------------------------------------------------------

    async def window(self, ticker: str, info: ModelInfo | None = None) -> BarSeries:
        """The held window of `ticker`, refused with a reason when unknown or too short for the model."""
        series = await self.windows.get(ticker)
        if len(series) == 0:
            raise SymbolNotFound(f"unknown symbol or no bars stored: {ticker}")
        needed = info.window if info else 1
        if len(series) < needed:
            raise SymbolNotFound(f"{ticker} has {len(series)} bars stored; at least {needed} are needed")
        return series

    async def served_model(self, ticker: str | None = None) -> ModelInfo:
        """The served model's info (Triton is asked only until it first answers; then `watch_model`
        follows reloads); when Triton is down, an unknown `ticker` still answers 404 rather than 503."""
        if self.model is not None:
            return self.model
        async with self._first_model_read:  # concurrent first requests share one read and one load
            if self.model is None:
                try:
                    info = await self.forecaster.model_info(max_age_s=0)
                except TritonUnavailable:
                    if ticker is not None:
                        await self.window(ticker)
                    raise
                if info.window != self.windows.size:
                    await self.windows.load_all(info.window)
                self.model = info
        return self.model

    async def analyze(self, request: AnalysisRequest) -> tuple[PredictionResponse, str]:
        """The prediction and where its forecast came from ("cache": made before, or "triton")."""
        started = time.perf_counter()
        ticker = ticker_of(request.symbol)
        series, forecast, info, source = await self.current_forecast(ticker)
        response = self._prediction(ticker, series, forecast, info, request)
        # the time of the forecast it derives from: the same answer has the same timestamp everywhere
        update = {"timestamp": forecast.made_at, "processing_time_ms": _elapsed_ms(started)}
        if request.include_rag_context and self.analogues is not None:
            update["rag_context"] = self.analogues.get(series, forecast)
        return response.model_copy(update=update), source

    async def current_forecast(self, ticker: str) -> tuple[BarSeries, SymbolForecast, ModelInfo, str]:
        """The symbol's window, its forecast by the served model, that model, and where the forecast came
        from ("cache": made before this request, or "triton")."""
        info = await self.served_model(ticker)
        series = await self.window(ticker, info)
        forecast = self.book.held(series, info)
        source = "cache"
        if forecast is None:
            [forecast], waited = await self.book.get_many([series], info)
            source = "triton" if waited else "cache"
        (metrics.CACHE_HITS if source == "cache" else metrics.CACHE_MISSES).inc()
        return series, forecast, info, source

    async def analyze_batch(self, request: BatchAnalysisRequest) -> BatchAnalysisResponse:
        """Every symbol's forecast; those not made yet go to Triton in one request (split at max batch)."""
        started = time.perf_counter()
        info = await self.served_model()
        items: dict[str, BatchItem] = {}
        windows: list[tuple[str, BarSeries]] = []
        for symbol in dict.fromkeys(request.symbols):
            try:
                windows.append((symbol, await self.window(ticker_of(symbol), info)))
            except SymbolNotFound as error:
                items[symbol] = BatchItem(symbol=ticker_of(symbol), requested=symbol, status_code=404,
                                          error=str(error))
        if windows:
            forecasts, _ = await self.book.get_many([series for _, series in windows], info)
            single = AnalysisRequest(symbol="-", prediction_horizon=request.prediction_horizon)
            for (symbol, series), forecast in zip(windows, forecasts, strict=True):
                items[symbol] = self._batch_item(symbol, series, forecast, info, single, started)
        ordered = [items[symbol] for symbol in dict.fromkeys(request.symbols)]
        return BatchAnalysisResponse(results=ordered, processing_time_ms=_elapsed_ms(started))

    async def spectrum(self, symbol: str, days: int) -> SpectrumResponse:
        ticker = ticker_of(symbol)
        info = await self.served_model(ticker)
        await self.window(ticker)
        if days < info.min_window:
            raise InvalidRequest(f"days={days} is below the model's minimum window of {info.min_window} bars")
        series = await self.store.last_bars(ticker, days)
        if len(series) < info.min_window:
            raise SymbolNotFound(f"{ticker} has {len(series)} bars stored; at least {info.min_window} are needed")
        features, _ = await self.forecaster.features(series.ohlcv)
        named = self._named_features(features, info, SPECTRUM_FEATURES)
        total = named["spectral_total_power"]
        powers = (named["band_power_low"], named["band_power_mid"], named["band_power_high"])
        try:
            bands = frequency_bands(info.band_edges, powers, total)
        except BandEdgesInvalid as error:
            raise TritonUnavailable(str(error)) from error
        return SpectrumResponse(
            symbol=ticker, analysis_date=series.dates[-1].astype(dt.date), days=len(series),
            frequency_bands=bands, spectral_centroid=named["spectral_centroid"], total_power=total,
        )

    def _batch_item(self, symbol, series, forecast, info, request, started) -> BatchItem:
        try:
            prediction = self._prediction(ticker_of(symbol), series, forecast, info, request)
        except TritonUnavailable as error:
            return BatchItem(symbol=ticker_of(symbol), requested=symbol, status_code=503, error=str(error))
        prediction = prediction.model_copy(
            update={"timestamp": forecast.made_at, "processing_time_ms": _elapsed_ms(started)}
        )
        return BatchItem(symbol=prediction.symbol, requested=symbol, status_code=200, prediction=prediction)

    def _prediction(
        self, ticker: str, series: BarSeries, forecast: SymbolForecast, info: ModelInfo, request
    ) -> PredictionResponse:
        if not forecast.is_finite(request.prediction_horizon):
            raise TritonUnavailable("the model returned non-finite predictions or band shares")
        features, facts = self._facts_of(series, forecast, info)
        prediction = build_prediction(
            symbol=ticker, dates=series.dates, ohlcv=series.ohlcv, mean=forecast.mean, std=forecast.std,
            features=features, band_shares=forecast.band_shares, horizon=request.prediction_horizon,
            confidence_threshold=request.confidence_threshold, include_spectral=request.include_spectral,
            model_version=forecast.model_version, facts=facts, newest_bar=self.windows.newest_date,
        )
        self.accuracy.record(prediction, facts.data_as_of)
        return prediction

    def _facts_of(self, series: BarSeries, forecast: SymbolForecast, info: ModelInfo) -> tuple[dict, WindowFacts]:
        """The named indicators and the horizon-independent parts of a response, once per forecast."""
        key = f"{series.symbol}:{series.dates[-1]}:{forecast.model_version}"
        held = self._facts.get(key)
        if held is None:
            features = self._named_features(forecast.features, info, REQUIRED_FEATURES)
            held = (features, window_facts(series.dates, series.ohlcv, features, forecast.band_shares))
            self._facts.set(key, held)
        return held

    @staticmethod
    def _named_features(vector: np.ndarray, info: ModelInfo, needed: tuple[str, ...]) -> dict[str, float]:
        columns = _feature_columns(info.feature_names, needed)
        named = {name: float(vector[column]) for name, column in zip(needed, columns, strict=True)}
        _finite_or_fail(f"features ({', '.join(needed)})", np.fromiter(named.values(), dtype=float))
        return named


@functools.lru_cache(maxsize=64)
def _feature_columns(feature_names: tuple[str, ...], needed: tuple[str, ...]) -> tuple[int, ...]:
    missing = [name for name in needed if name not in feature_names]
    if missing:
        raise TritonUnavailable(f"the features model does not provide {', '.join(missing)}")
    return tuple(feature_names.index(name) for name in needed)


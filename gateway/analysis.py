"""The work behind /analyze, /batch_analyze, /spectrum and the WebSocket pushes: store -> cache/Triton -> response."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass

import numpy as np

from gateway import metrics
from gateway.accuracy import DirectionalAccuracy
from gateway.cache import MemoryCache, RedisCache, cache_key
from gateway.models import (
    AnalysisRequest,
    BatchAnalysisRequest,
    BatchAnalysisResponse,
    BatchItem,
    PredictionResponse,
    SpectrumResponse,
)
from gateway.predictions import build_prediction
from gateway.spectrum_bands import BandEdgesInvalid, frequency_bands
from gateway.triton_client import ModelInfo, TritonForecaster, TritonUnavailable
from market_data.bars import BarSeries
from market_data.symbols import resolve_ticker

REQUIRED_FEATURES = ("rsi_14", "volatility_20", "sma_ratio_20", "volume_ratio_20")
SPECTRUM_FEATURES = ("band_power_low", "band_power_mid", "band_power_high", "spectral_total_power", "spectral_centroid")


class InvalidRequest(Exception):
    """A request the schema allows but the model cannot answer (-> 400 with this reason)."""


class SymbolNotFound(Exception):
    """Unknown symbol, or too few stored bars to answer (-> 404 with this reason)."""


def ticker_of(symbol: str) -> str:
    return resolve_ticker(symbol) or symbol.strip().upper()


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


def _finite_or_fail(what: str, *arrays: np.ndarray) -> None:
    if not all(np.all(np.isfinite(a)) for a in arrays):
        raise TritonUnavailable(f"the model returned non-finite {what}")


@dataclass
class AnalysisService:
    store: object  # market_data.stores.BarStore
    forecaster: TritonForecaster
    cache: MemoryCache | RedisCache
    accuracy: DirectionalAccuracy
    cache_prefix: str

    async def window(self, ticker: str, bars: int, min_bars: int) -> BarSeries:
        series = await self.store.last_bars(ticker, bars)
        if len(series) == 0:
            raise SymbolNotFound(f"unknown symbol or no bars stored: {ticker}")
        if len(series) < min_bars:
            raise SymbolNotFound(f"{ticker} has {len(series)} bars stored; at least {min_bars} are needed")
        return series

    async def analyze(self, request: AnalysisRequest) -> tuple[PredictionResponse, str]:
        """The prediction and where it came from ("cache" or "triton")."""
        started = time.perf_counter()
        ticker = ticker_of(request.symbol)
        info = await self._model_info_for(ticker)
        request_fields = request.model_dump(mode="json") | {"symbol": ticker}
        # A hit needs only the last bar's date (the key); the whole window is read on a miss.
        last_bar = await self.window(ticker, 1, 1)
        cached = await self.cache.get(cache_key(self.cache_prefix, request_fields, str(last_bar.dates[-1]),
                                                info.model_version))
        if cached is not None:
            metrics.CACHE_HITS.inc()
            response = PredictionResponse.model_validate_json(cached)
            return response.model_copy(update={"processing_time_ms": _elapsed_ms(started)}), "cache"
        metrics.CACHE_MISSES.inc()
        series = await self.window(ticker, info.window, info.window)
        forecast = await self.forecaster.forecast(series.ohlcv[np.newaxis])
        info = forecast.info or info  # the version that answered, should it have changed meanwhile
        # keyed by the window actually forecast, should a bar have arrived in between
        key = cache_key(self.cache_prefix, request_fields, str(series.dates[-1]), info.model_version)
        response = self._prediction(ticker, series, forecast, 0, info, request)
        response = response.model_copy(update={"processing_time_ms": _elapsed_ms(started)})
        await self.cache.set(key, response.model_dump_json())
        return response, "triton"

    async def analyze_batch(self, request: BatchAnalysisRequest) -> BatchAnalysisResponse:
        """All symbols with enough bars in one Triton request (split only at the model's max batch size)."""
        started = time.perf_counter()
        info = await self.forecaster.model_info()
        items: dict[str, BatchItem] = {}
        windows: list[tuple[str, BarSeries]] = []
        for symbol in dict.fromkeys(request.symbols):
            try:
                windows.append((symbol, await self.window(ticker_of(symbol), info.window, info.window)))
            except SymbolNotFound as error:
                items[symbol] = BatchItem(symbol=ticker_of(symbol), requested=symbol, status_code=404,
                                          error=str(error))
        if windows:
            forecast = await self.forecaster.forecast(np.stack([series.ohlcv for _, series in windows]))
            info = forecast.info or info
            single = AnalysisRequest(symbol="-", prediction_horizon=request.prediction_horizon)
            for row, (symbol, series) in enumerate(windows):
                item = self._batch_item(symbol, series, forecast, row, info, single, started)
                items[symbol] = item
        ordered = [items[symbol] for symbol in dict.fromkeys(request.symbols)]
        return BatchAnalysisResponse(results=ordered, processing_time_ms=_elapsed_ms(started))

    async def spectrum(self, symbol: str, days: int) -> SpectrumResponse:
        ticker = ticker_of(symbol)
        info = await self._model_info_for(ticker)
        if days < info.min_window:
            raise InvalidRequest(f"days={days} is below the model's minimum window of {info.min_window} bars")
        series = await self.window(ticker, days, info.min_window)
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

    async def _model_info_for(self, ticker: str) -> ModelInfo:
        """The model's info; when Triton is down, an unknown symbol still answers 404 rather than 503."""
        try:
            return await self.forecaster.model_info()
        except TritonUnavailable:
            await self.window(ticker, 1, 1)
            raise

    def _batch_item(self, symbol, series, forecast, row, info, request, started) -> BatchItem:
        try:
            prediction = self._prediction(ticker_of(symbol), series, forecast, row, info, request)
        except TritonUnavailable as error:
            return BatchItem(symbol=ticker_of(symbol), requested=symbol, status_code=503, error=str(error))
        prediction = prediction.model_copy(update={"processing_time_ms": _elapsed_ms(started)})
        return BatchItem(symbol=prediction.symbol, requested=symbol, status_code=200, prediction=prediction)

    def _prediction(self, ticker, series, forecast, row, info: ModelInfo, request) -> PredictionResponse:
        mean, std = forecast.mean[row], forecast.std[row]
        features = self._named_features(forecast.features[row], info, REQUIRED_FEATURES)
        _finite_or_fail("predictions", mean[request.prediction_horizon - 1], std[request.prediction_horizon - 1])
        _finite_or_fail("band shares", forecast.band_shares[row])
        prediction = build_prediction(
            symbol=ticker, dates=series.dates, ohlcv=series.ohlcv, mean=mean, std=std, features=features,
            band_shares=forecast.band_shares[row], horizon=request.prediction_horizon,
            confidence_threshold=request.confidence_threshold, include_spectral=request.include_spectral,
            model_version=info.model_version,
        )
        self.accuracy.record(prediction, series.dates[-1].astype(dt.date))
        return prediction

    @staticmethod
    def _named_features(vector: np.ndarray, info: ModelInfo, needed: tuple[str, ...]) -> dict[str, float]:
        named = dict(zip(info.feature_names, map(float, vector), strict=False))
        missing = [name for name in needed if name not in named]
        if missing:
            raise TritonUnavailable(f"the features model does not provide {', '.join(missing)}")
        _finite_or_fail(f"features ({', '.join(needed)})", np.array([named[name] for name in needed]))
        return named

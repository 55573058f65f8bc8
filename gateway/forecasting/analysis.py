"""The work behind /analyze, /batch_analyze, /spectrum, /forecast and the WebSocket pushes.

A request reads the symbol's window from the hot state (memory), takes the held forecast of that window
by the served model version (made once, see `gateway.forecasting.forecasts`; the version is the
ModelWatcher's) and derives the response for the asked horizon, threshold and `include_spectral`. The
forecasts are made ahead of time: at start-up, when a model version is loaded and when a new bar arrives,
so a steady-state request waits on nothing: it reads no store and asks Triton nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gateway import metrics
from gateway.forecasting.accuracy import DirectionalAccuracy
from gateway.forecasting.analogue_contexts import AnalogueContexts
from gateway.forecasting.forecasts import ForecastBook, HeldForecast
from gateway.forecasting.model_watcher import ModelWatcher
from gateway.forecasting.predictions import (
    PredictionPolicy,
    build_prediction,
    direction,
    named_features,
    sign_confidence,
)
from gateway.forecasting.spectrum_bands import BandEdgesInvalid, frequency_bands
from gateway.forecasting.triton_client import ModelInfo, TritonRejected, TritonUnavailable
from gateway.forecasting.windows import HotWindows, WindowMoved
from gateway.schemas import (
    AnalysisRequest,
    BatchAnalysisRequest,
    BatchAnalysisResponse,
    BatchItem,
    PredictionResponse,
    SpectrumResponse,
)
from market_data.bars import BarSeries
from market_data.stores import StoreUnavailable
from market_data.symbols import resolve_ticker

log = logging.getLogger(__name__)

MEMO_ENTRIES = 4096  # windows whose usability is remembered
SNAPSHOT_ATTEMPTS = 3  # reads of a forecast and its history that may find the bars moved before giving up
PROCESSING_TIME_FIELD = b'"processing_time_ms":0.0'
SPECTRUM_FEATURES = ("band_power_low", "band_power_mid", "band_power_high", "spectral_total_power", "spectral_centroid")


class InvalidRequest(Exception):
    """A request the schema allows but the model cannot answer (-> 400 with this reason)."""


class SymbolNotFound(Exception):
    """Unknown symbol, or too few stored bars to answer (-> 404 with this reason)."""


@functools.lru_cache(maxsize=1024)
def ticker_of(symbol: str) -> str:
    return resolve_ticker(symbol) or symbol.strip().upper()


def _refuse_unusable(series: BarSeries, window: int) -> None:
    """InvalidRequest naming the first bar of the model's window whose values are not finite in float32
    (the model's input type): such a window has no forecast, and must not spoil a batch."""
    values = series.ohlcv[-window:]
    with np.errstate(over="ignore"):
        finite = np.isfinite(values.astype(np.float32)).all(axis=1)
    if not finite.all():
        day = series.dates[-window:][int(np.argmin(finite))]
        raise InvalidRequest(f"{series.symbol}'s bar of {day} has values that are not finite in float32 "
                             "(the model's input): correct it in the store (docs/market_data.md)")


def _usable(series: BarSeries, info: ModelInfo) -> bool:
    try:
        _refuse_unusable(series, info.window)
    except InvalidRequest:
        return False
    return True


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000.0


@dataclass
class AnalysisService:
    windows: HotWindows
    model: ModelWatcher  # the served version: what every answer is labelled with
    book: ForecastBook
    accuracy: DirectionalAccuracy
    policy: PredictionPolicy
    default_window: int
    analogues: AnalogueContexts | None = None  # include_rag_context (None: no registry configured)
    _new_bars: set[str] = field(default_factory=set)
    _new_bar_signal: asyncio.Event = field(default_factory=asyncio.Event)
    _unusable: dict[tuple[int, int], tuple[BarSeries, str | None]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.model.prepare_with(self.prepare_model)

    @property
    def store(self):  # market_data.stores.BarStore
        return self.windows.store

    # -- lifecycle: start-up, model reloads, new bars ------------------------------------------------

    async def start(self) -> None:
        """Hold every symbol's window; forecast them all if Triton answers (else on the first requests)."""
        info = await self.model.start()
        await self.windows.load_all(info.window if info else self.default_window)
        if info is not None:
            await self._precompute(self.windows.tickers, info)

    async def prepare_model(self, info: ModelInfo, forecast_ahead: bool) -> None:
        """Before `info` is served: windows of its length held, and (on a reload) every forecast made."""
        if info.window != self.windows.size:
            await self.windows.load_all(info.window)
        if forecast_ahead:
            await self._precompute(self.windows.tickers, info)

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
            if self.model.current is None:
                continue
            try:
                await self._precompute(tickers, self.model.current)
            except Exception:  # requests make what is missing; the loop must live for the next bar
                log.exception("precomputing forecasts of new bars failed for %s", ", ".join(tickers))

    async def _precompute(self, tickers: Sequence[str], info: ModelInfo) -> None:
        full = [s for s in [await self.windows.get(t) for t in tickers] if len(s) >= info.window and _usable(s, info)]
        try:
            helds, _ = await self.book.get_many(full, info)
            if self.analogues is not None:  # the version's index, then one search for all, off the event loop
                await self.analogues.attach(helds, info)
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
        if info is not None:
            self._refuse_unusable(series, info.window)
        return series

    def _refuse_unusable(self, series: BarSeries, window: int) -> None:
        """`_refuse_unusable`, checked once per held window object (the warm request path)."""
        memo = self._unusable.get((id(series), window))
        if memo is None or memo[0] is not series:
            try:
                _refuse_unusable(series, window)
                reason = None
            except InvalidRequest as error:
                reason = str(error)
            if len(self._unusable) >= MEMO_ENTRIES:
                self._unusable.clear()
            memo = self._unusable[(id(series), window)] = (series, reason)  # holding it keeps its id unique
        if memo[1] is not None:
            raise InvalidRequest(memo[1])

    async def served_model(self, ticker: str | None = None) -> ModelInfo:
        """The served model; when Triton has never answered, an unknown `ticker` still answers 404, not 503."""
        try:
            return await self.model.served()
        except TritonUnavailable:
            if ticker is not None:
                await self.window(ticker)
            raise

    async def analyze(self, request: AnalysisRequest) -> tuple[PredictionResponse, str]:
        """The prediction and where its forecast came from ("cache": made before, or "triton")."""
        started = time.perf_counter()
        held, source = await self.current_forecast(ticker_of(request.symbol))
        if request.include_rag_context and held.analogues is None and self.analogues is not None:
            await self.analogues.attach([held], await self.served_model())  # not made with the forecast
        response = self._answer(held, request, started)
        self.accuracy.record(response)
        return response, source

    async def analyze_json(self, request: AnalysisRequest) -> tuple[bytes, str]:
        """`analyze`'s prediction as its JSON body: made once per held forecast and what the body depends
        on (horizon, direction, include_spectral, the newest bar of the market and whether the store lags the
        exchange's calendar, for `stale`), then reused
        with this request's processing time spliced in."""
        if request.include_rag_context:
            prediction, source = await self.analyze(request)
            return prediction.model_dump_json().encode(), source
        started = time.perf_counter()
        held, source = await self.current_forecast(ticker_of(request.symbol))
        horizon = request.prediction_horizon
        if not held.forecast.is_finite(horizon):
            raise TritonUnavailable("the model returned non-finite predictions or band shares")
        mu, sigma = held.forecast.horizon(horizon)
        heading = direction(mu, sign_confidence(mu, sigma), request.confidence_threshold)
        newest = self.windows.newest_date  # `stale` also turns with the clock: the store may come to lag the exchange
        key = (horizon, heading, request.include_spectral, newest, self.policy.store_lags(newest))
        parts = held.responses.get(key)
        if parts is None:
            parts = self._body_parts(held, request)
            held.keep_response(key, parts)
        facts = held.facts()
        self.accuracy.record_parts(facts.symbol, facts.data_as_of, facts.context.current_price, horizon, heading)
        return b"".join((parts[0], repr(_elapsed_ms(started)).encode(), parts[1])), source

    def _body_parts(self, held: HeldForecast, request: AnalysisRequest) -> tuple[bytes, bytes]:
        prediction = build_prediction(held.forecast, held.facts(), request, self.policy, self.windows.newest_date)
        body = prediction.model_copy(update={"timestamp": held.forecast.made_at}).model_dump_json().encode()
        head, field, tail = body.partition(PROCESSING_TIME_FIELD)
        if not field:
            raise RuntimeError("a PredictionResponse's JSON does not name processing_time_ms as expected")
        return head + field[:-3], tail

    async def current_forecast(self, ticker: str) -> tuple[HeldForecast, str]:
        """The held forecast of the symbol's window by the served model, and where it came from ("cache":
        made before this request, or "triton")."""
        info = await self.served_model(ticker)
        series = await self.window(ticker, info)
        held = self.book.held(series, info)
        source = "cache"
        if held is None:
            [held], waited = await self.book.get_many([series], info)
            source = "triton" if waited else "cache"
        (metrics.CACHE_HITS if source == "cache" else metrics.CACHE_MISSES).inc()
        return held, source

    async def forecast_with_history(self, ticker: str, n: int) -> tuple[HeldForecast, BarSeries]:
        """The held forecast and the symbol's last `n` bars ending with the window it was made from: one
        snapshot, never the store's newer bars beside an older forecast (asked again when the bars moved)."""
        for _ in range(SNAPSHOT_ATTEMPTS):
            held, _ = await self.current_forecast(ticker)
            try:
                return held, await self.windows.history(ticker, n, held.window)
            except WindowMoved:
                continue
        raise StoreUnavailable(f"{ticker}'s bars changed on every one of {SNAPSHOT_ATTEMPTS} reads; retry")

    async def analyze_batch(self, request: BatchAnalysisRequest) -> BatchAnalysisResponse:
        """Every symbol's forecast; those not made yet go to Triton in one request (split at max batch)."""
        started = time.perf_counter()
        info = await self.served_model()
        items: dict[str, BatchItem] = {}
        windows: list[tuple[str, BarSeries]] = []
        for symbol in dict.fromkeys(request.symbols):
            try:
                windows.append((symbol, await self.window(ticker_of(symbol), info)))
            except (SymbolNotFound, InvalidRequest) as error:
                status = 404 if isinstance(error, SymbolNotFound) else 400
                items[symbol] = BatchItem(symbol=ticker_of(symbol), requested=symbol, status_code=status,
                                          error=str(error))
        single = AnalysisRequest(symbol="-", prediction_horizon=request.prediction_horizon)
        for symbol, held in await self._batch_forecasts(windows, info):
            if isinstance(held, BatchItem):
                items[symbol] = held
            else:
                items[symbol] = self._batch_item(symbol, held, single, started)
        ordered = [items[symbol] for symbol in dict.fromkeys(request.symbols)]
        return BatchAnalysisResponse(results=ordered, processing_time_ms=_elapsed_ms(started))

    async def spectrum(self, symbol: str, days: int) -> SpectrumResponse:
        """The spectral bands of the symbol's last `days` bars, from the hot state: the held window or history,
        and the held forecast's features (the features model asked once per forecast and length)."""
        ticker = ticker_of(symbol)
        info = await self.served_model(ticker)
        await self.window(ticker)
        if days < info.min_window:
            raise InvalidRequest(f"days={days} is below the model's minimum window of {info.min_window} bars")
        window, series = await self._window_with_history(ticker, days)
        if len(series) < info.min_window:
            raise SymbolNotFound(f"{ticker} has {len(series)} bars stored; at least {info.min_window} are needed")
        named = named_features(await self._spectral_features(window, series, info), info.feature_names,
                               SPECTRUM_FEATURES)
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

    async def _window_with_history(self, ticker: str, n: int) -> tuple[BarSeries, BarSeries]:
        """The held window and the last `n` bars ending with it (one snapshot, see `forecast_with_history`)."""
        for _ in range(SNAPSHOT_ATTEMPTS):
            window = await self.windows.get(ticker)
            try:
                return window, await self.windows.history(ticker, n, window)
            except WindowMoved:
                continue
        raise StoreUnavailable(f"{ticker}'s bars changed on every one of {SNAPSHOT_ATTEMPTS} reads; retry")

    async def _spectral_features(self, window: BarSeries, series: BarSeries, info: ModelInfo):
        """The features model's FEATURES of `series` (the symbol's last bars; `window` its held window)."""
        held = None
        if len(window) >= info.window and series.dates[-1] == window.dates[-1]:
            held = self.book.held(window, info) or (await self.book.get_many([window], info))[0][0]
        if held is None:  # nothing to keep them with: a window too short to forecast, or bars newer than it
            features, _ = await self.book.triton.features(series.ohlcv)
            return features
        if len(series) == info.window:  # the forecast's own window: its FEATURES are these
            return held.forecast.features
        if len(series) not in held.spectra:
            features, _ = await self.book.triton.features(series.ohlcv)
            held.keep_spectrum(len(series), features)
        return held.spectra[len(series)]

    async def _batch_forecasts(self, windows: list[tuple[str, BarSeries]],
                               info: ModelInfo) -> list[tuple[str, HeldForecast | BatchItem]]:
        """The forecasts of all windows in one Triton request; when Triton refuses that request, each window
        alone, so the one it refuses is reported in its own item and the others are answered."""
        if not windows:
            return []
        try:
            helds, _ = await self.book.get_many([series for _, series in windows], info)
            return [(symbol, held) for (symbol, _), held in zip(windows, helds, strict=True)]
        except TritonRejected:
            if len(windows) == 1:
                raise
        answers: list[tuple[str, HeldForecast | BatchItem]] = []
        for symbol, series in windows:
            try:
                [held], _ = await self.book.get_many([series], info)
                answers.append((symbol, held))
            except TritonRejected as error:
                answers.append((symbol, BatchItem(symbol=series.symbol, requested=symbol, status_code=400,
                                                  error=f"the model refused the input: {error}")))
        return answers

    def _batch_item(self, symbol: str, held: HeldForecast, request: AnalysisRequest, started: float) -> BatchItem:
        try:
            prediction = self._answer(held, request, started)
        except TritonUnavailable as error:
            return BatchItem(symbol=ticker_of(symbol), requested=symbol, status_code=503, error=str(error))
        self.accuracy.record(prediction)
        return BatchItem(symbol=prediction.symbol, requested=symbol, status_code=200, prediction=prediction)

    def _answer(self, held: HeldForecast, request: AnalysisRequest, started: float) -> PredictionResponse:
        """The response to `request` from a held forecast, stamped with the time the forecast was made (the
        same answer has the same timestamp everywhere) and the time this request took."""
        if not held.forecast.is_finite(request.prediction_horizon):
            raise TritonUnavailable("the model returned non-finite predictions or band shares")
        prediction = build_prediction(held.forecast, held.facts(), request, self.policy, self.windows.newest_date)
        update = {"timestamp": held.forecast.made_at, "processing_time_ms": _elapsed_ms(started)}
        if request.include_rag_context:
            update["rag_context"] = held.analogues
        return prediction.model_copy(update=update)

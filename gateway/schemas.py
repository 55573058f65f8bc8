"""The API's request and response models: the field names, types and ranges clients are written against."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from market_data.bars import BAR_LIMITS

MAX_HORIZON = 30
MAX_BATCH_SYMBOLS = 100
MAX_BARS_PER_POST = 5000

Symbol = Annotated[str, Field(min_length=1, max_length=32, description="ticker or GPW short name")]
# Requests are strict (a boolean is no number, "5" is no integer); dates stay ISO strings in JSON
STRICT = {"strict": True, "extra": "forbid"}
Price = Annotated[float, Field(gt=0, ge=BAR_LIMITS.min_price, le=BAR_LIMITS.max_price,
                               description=f"above 0: {BAR_LIMITS.min_price:g}..{BAR_LIMITS.max_price:g}")]
Volume = Annotated[float, Field(ge=0, le=BAR_LIMITS.max_volume)]
Direction = Literal["bullish", "bearish", "neutral"]
RiskLevel = Literal["low", "medium", "high"]


class AnalysisRequest(BaseModel):
    # the example is the docs' curl example; it also lets schema fuzzers reach the model
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [
        {"symbol": "ABE", "timeframe": "1d", "prediction_horizon": 5, "include_spectral": True,
         "include_rag_context": False, "confidence_threshold": 0.6}]})

    symbol: Symbol
    timeframe: Literal["1d"] = "1d"
    prediction_horizon: int = Field(5, ge=1, le=MAX_HORIZON, description="trading days ahead")
    include_spectral: bool = True
    include_rag_context: bool = Field(False, description="add rag_context: the historical analogues of this "
                                      "window and the distribution of what followed them")
    confidence_threshold: float = Field(0.6, ge=0.0, le=1.0)


class SpectralAnalysis(BaseModel):
    low_freq_trend: float = Field(ge=0, le=1, description="share of spectral power in the low band")
    mid_freq_cycle: float = Field(ge=0, le=1, description="share of spectral power in the mid band")
    high_freq_noise: float = Field(ge=0, le=1, description="share of spectral power in the high band")


class TechnicalIndicators(BaseModel):
    rsi: float = Field(ge=0, le=100, description="RSI(14)")
    volatility_20d: float = Field(ge=0, description="daily std of log returns over 20 days")
    sma_ratio: float = Field(description="close / SMA(20)")
    volume_trend: float = Field(ge=0, description="volume / mean volume over 20 days")


class MarketContext(BaseModel):
    current_price: float = Field(gt=0)
    price_change_1d: float = Field(description="percent change of the close against the previous bar")
    price_change_7d: float = Field(description="percent change against the last close at least 7 days back")
    volume_rank: float = Field(ge=0, le=1, description="percentile rank of the last volume in the window")


class PredictionInterval(BaseModel):
    level: float = Field(gt=0, lt=1, description="probability that the price at the horizon falls inside")
    lower: float = Field(gt=0, description="price at the horizon: the (1 - level) / 2 quantile")
    upper: float = Field(gt=0, description="price at the horizon: the (1 + level) / 2 quantile")


class PredictionResponse(BaseModel):
    symbol: str
    timestamp: dt.datetime
    current_price: float = Field(gt=0)
    predicted_price: float = Field(gt=0)
    prediction_horizon: int = Field(ge=1, le=MAX_HORIZON)
    confidence: float = Field(ge=0, le=1)
    direction: Direction
    expected_return: float = Field(description="percent")
    risk_level: RiskLevel
    spectral_analysis: SpectralAnalysis | None
    technical_indicators: TechnicalIndicators
    market_context: MarketContext
    model_version: str
    processing_time_ms: float = Field(ge=0)
    prediction_interval: PredictionInterval = Field(
        description="central interval of the predicted price distribution at the horizon")
    data_as_of: dt.date = Field(description="date of the last bar the forecast was made from")
    stale: bool = Field(description="the last bar lags the newest stored bar of any symbol by more than "
                        "WIG80_STALE_AFTER_TRADING_DAYS XWAR sessions, or the store's newest bar lags the exchange's "
                        "last closed session by more than WIG80_STORE_STALE_AFTER_SESSIONS (not for a historical store)")
    data_status: Literal["live", "stale", "historical"] = Field(
        "live", description="historical: the store is marked historical (WIG80_STORE_HISTORICAL), no staleness "
        "against the calendar; stale: as `stale`; live: neither")
    rag_context: RagContext | None = Field(None, description="with include_rag_context, when the served version "
                                           "has an analogue index: its historical analogues")


class AnalogueSituation(BaseModel):
    symbol: str
    date: dt.date = Field(description="the past day whose features were nearest")
    distance: float = Field(ge=0, description="root mean square difference per standardised feature")
    similarity: float = Field(gt=0, le=1, description="1 / (1 + distance)")
    returns: dict[str, float] = Field(description="realised log returns after it: h1, h5, h30")


class AnalogueOutcome(BaseModel):
    horizon: int
    mean: float = Field(description="mean realised log return of the k analogues")
    std: float | None = Field(description="its sample standard deviation (null with one analogue)")
    quantiles: dict[str, float] = Field(description="q05, q25, q50, q75, q95 of the realised log returns")
    up_fraction: float = Field(ge=0, le=1)


class RagContext(BaseModel):
    symbol: str
    date: dt.date = Field(description="the query day: the window's last bar")
    admissible_before: dt.date = Field(description="every analogue is from a day before this one (30 trading "
                                       "days before the query day) with its outcomes known")
    analogues: list[AnalogueSituation] = Field(description="the nearest past situations, all symbols, nearest first")
    forecast: list[AnalogueOutcome] = Field(description="the distribution of what followed the k nearest, per horizon")
    k: int
    index_run: str = Field(description="the training run the index was built with (the served model's)")


class BatchAnalysisRequest(BaseModel):
    model_config = ConfigDict(**STRICT, json_schema_extra={"examples": [
        {"symbols": ["ABE", "ACG"], "timeframe": "1d", "prediction_horizon": 10}]})

    symbols: list[Symbol] = Field(min_length=1, max_length=MAX_BATCH_SYMBOLS)
    timeframe: Literal["1d"] = "1d"
    prediction_horizon: int = Field(5, ge=1, le=MAX_HORIZON)


class BatchItem(BaseModel):
    symbol: str = Field(description="the resolved ticker (a GPW short name or lower case resolves to it)")
    requested: str = Field(description="the symbol as the request spelled it")
    status_code: int = Field(description="what /analyze would have answered for this symbol")
    prediction: PredictionResponse | None = None
    error: str | None = None


class BatchAnalysisResponse(BaseModel):
    results: list[BatchItem]
    processing_time_ms: float = Field(ge=0)


class FrequencyBand(BaseModel):
    range: str = Field(description='the band in cycles per trading day, e.g. "0.00 - 0.05 cycles/day"')
    range_cycles_per_day: tuple[float, float] = Field(description="the same band as numbers, [low, high)")
    power: float = Field(ge=0)
    share: float = Field(ge=0, le=1, description="power / total power")
    interpretation: str


class FrequencyBands(BaseModel):
    low_frequency: FrequencyBand
    medium_frequency: FrequencyBand
    high_frequency: FrequencyBand


class SpectrumResponse(BaseModel):
    symbol: str
    frequency_bands: FrequencyBands
    spectral_centroid: float = Field(ge=0, description="cycles per trading day")
    total_power: float = Field(ge=0)
    analysis_date: dt.date = Field(description="date of the last bar analysed")
    days: int = Field(description="bars analysed")


class SymbolInfo(BaseModel):
    symbol: str
    name: str | None
    isin: str | None
    index: str | None
    data_available: bool
    bars: int = Field(ge=0)
    first_date: dt.date | None
    last_date: dt.date | None


class SymbolsResponse(BaseModel):
    symbols: list[SymbolInfo]
    count: int


class SystemMetrics(BaseModel):
    cpu_percent: float
    memory_percent: float
    disk_percent: float


class HealthResponse(BaseModel):
    status: Literal["healthy", "degraded"]
    timestamp: dt.datetime
    version: str
    model_loaded: bool
    database_connected: bool
    websocket_connections: int = Field(ge=0)
    uptime_seconds: float = Field(ge=0)
    system_metrics: SystemMetrics


class BarIn(BaseModel):
    """One daily bar; beyond these bounds the API also refuses (400, naming the bar) a high below open, close
    or low, a low above open or close, a date in the future, and a symbol and date given twice."""

    model_config = ConfigDict(**STRICT)

    symbol: Symbol
    date: dt.date = Field(strict=False, description="ISO date (YYYY-MM-DD), not in the future")
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Volume


class BarsRequest(BaseModel):
    model_config = ConfigDict(**STRICT)

    bars: list[BarIn] = Field(min_length=1, max_length=MAX_BARS_PER_POST)


class BarsResponse(BaseModel):
    stored: int
    duplicates: int
    symbols: list[str] = Field(description="symbols that received new bars (announced to subscribers)")


class WebSocketSubscription(BaseModel):
    model_config = ConfigDict(**STRICT)

    symbols: list[Symbol] = Field(min_length=1, max_length=MAX_BATCH_SYMBOLS)
    update_frequency: float = Field(60.0, ge=1.0, le=3600.0, description="seconds between pushes")
    include_spectral: bool = True


class WebSocketPrediction(BaseModel):
    type: Literal["prediction"] = "prediction"
    symbol: str
    data: PredictionResponse


class WebSocketError(BaseModel):
    type: Literal["error"] = "error"
    symbol: str | None = None
    detail: str


class ErrorResponse(BaseModel):
    detail: str


class HistoryBar(BaseModel):
    date: dt.date
    open: float
    high: float
    low: float
    close: float
    volume: float


class ForecastPoint(BaseModel):
    horizon: int = Field(ge=1, le=MAX_HORIZON)
    date: dt.date = Field(description="the trading day (weekday) `horizon` bars after the last bar")
    median: float = Field(gt=0, description="price * exp(mu_h): /analyze's predicted_price at this horizon")
    mean: float = Field(gt=0, description="price * exp(mu_h + sigma_h^2 / 2): the log-normal mean")
    lower_50: float = Field(gt=0, description="25% quantile of the predicted price")
    upper_50: float = Field(gt=0, description="75% quantile")
    lower_95: float = Field(gt=0, description="2.5% quantile")
    upper_95: float = Field(gt=0, description="97.5% quantile")


class ForecastPathResponse(BaseModel):
    symbol: str
    model_version: str
    last_date: dt.date = Field(description="date of the last stored bar (the forecast's origin)")
    current_price: float = Field(gt=0)
    bars: list[HistoryBar] = Field(description="the latest bars, oldest first")
    path: list[ForecastPoint] = Field(description="the predicted price distribution at every horizon 1..30")

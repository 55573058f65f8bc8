"""How every number of a `PredictionResponse` derives from the predicted distribution or from the bars.

The model predicts, per horizon h (1..30 trading days), the forward log return r_h ~ Normal(mu_h, sigma_h).
- predicted_price = current_price * exp(mu_h): the median of the implied log-normal price.
- expected_return = 100 * (exp(mu_h) - 1), percent; the same median, as a return.
- confidence = P(sign(r_h) = sign(mu_h)) = Phi(|mu_h| / sigma_h), in [0.5, 1].
- direction = bullish (mu_h > 0) or bearish (mu_h < 0) when confidence >= confidence_threshold,
  else neutral (also when mu_h == 0).
- risk_level from the daily-equivalent predicted volatility sigma_h / sqrt(h): low below
  RISK_DAILY_VOL_MEDIUM, high from RISK_DAILY_VOL_HIGH, medium between.
- spectral_analysis: the ensemble's BAND_SHARES (share of spectral power per band of the window).
- technical_indicators: the ensemble's FEATURES, read by name (INDICATOR_FEATURES: rsi_14, volatility_20,
  sma_ratio_20, volume_ratio_20).
- market_context: arithmetic on the bars (see `market_context`).
- prediction_interval: the central `level` interval of the log-normal price at the horizon,
  current_price * exp(mu_h -+ z sigma_h) with z the normal quantile of (1 + level) / 2.
- data_as_of: the last bar's date; stale: the symbol lags the market as the store knows it, i.e. more
  than `stale_after` XWAR sessions lie after that date up to the newest bar stored for any symbol; or the
  whole store lags the exchange: more than `store_stale_after` sessions closed after its newest bar
  (off for a store marked historical). data_status: "historical" for such a store, else "stale" or "live".
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Protocol

import numpy as np

from gateway.forecasting.triton_client import TritonUnavailable
from gateway.schemas import (
    AnalysisRequest,
    MarketContext,
    PredictionInterval,
    PredictionResponse,
    SpectralAnalysis,
    TechnicalIndicators,
)
from market_data.bars import CLOSE, VOLUME, BarSeries
from market_data.calendar import trading_calendar
from settings import Settings

RISK_DAILY_VOL_MEDIUM = 0.015
RISK_DAILY_VOL_HIGH = 0.03
CALENDAR_DAYS_FOR_WEEK_CHANGE = 7
# each field of TechnicalIndicators, and the feature of the features model's FEATURES output it reads
INDICATOR_FEATURES = {"rsi": "rsi_14", "volatility_20d": "volatility_20", "sma_ratio": "sma_ratio_20",
                      "volume_trend": "volume_ratio_20"}


def normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def sign_confidence(mu: float, sigma: float) -> float:
    """Probability that the realised log return has the predicted sign."""
    if sigma <= 0 or not math.isfinite(sigma):
        return 0.5 if mu == 0 else 1.0
    return normal_cdf(abs(mu) / sigma)


def direction(mu: float, confidence: float, threshold: float) -> str:
    if mu == 0 or confidence < threshold:
        return "neutral"
    return "bullish" if mu > 0 else "bearish"


def risk_level(sigma: float, horizon: int) -> str:
    daily = sigma / math.sqrt(horizon)
    if daily >= RISK_DAILY_VOL_HIGH:
        return "high"
    return "medium" if daily >= RISK_DAILY_VOL_MEDIUM else "low"


def prediction_interval(price: float, mu: float, sigma: float, level: float) -> PredictionInterval:
    z = NormalDist().inv_cdf(0.5 + level / 2) if sigma > 0 and math.isfinite(sigma) else 0.0
    return PredictionInterval(level=level, lower=price * math.exp(mu - z * sigma), upper=price * math.exp(mu + z * sigma))


def missed_trading_days(last_bar: dt.date, newest_bar: dt.date) -> int:
    """XWAR sessions after `last_bar` up to and including `newest_bar` (holidays are no gap)."""
    return trading_calendar().sessions_between(last_bar, newest_bar)


@functools.lru_cache(maxsize=64)
def sessions_lag(newest_bar: dt.date, last_session: dt.date) -> int:
    """`missed_trading_days`, remembered: asked on every request with the same two dates for a day."""
    return missed_trading_days(newest_bar, last_session)


def is_stale(last_bar: dt.date, stale_after: int, newest_bar: dt.date | None) -> bool:
    return newest_bar is not None and missed_trading_days(last_bar, newest_bar) > stale_after


def percent_change(new: float, old: float) -> float:
    return 100.0 * (new / old - 1.0) if old > 0 else 0.0


def market_context(dates: np.ndarray, ohlcv: np.ndarray) -> MarketContext:
    """Price changes and the volume's rank, from the window's bars alone.

    price_change_1d: last close against the previous bar's close; price_change_7d: against the last
    close on or before the date 7 calendar days before the last bar (the first bar if none is that old);
    volume_rank: share of the window's bars whose volume is at most the last bar's volume.
    """
    closes, volumes = ohlcv[:, CLOSE], ohlcv[:, VOLUME]
    week_ago = dates[-1] - np.timedelta64(CALENDAR_DAYS_FOR_WEEK_CHANGE, "D")
    week_index = max(int(np.searchsorted(dates, week_ago, side="right")) - 1, 0)
    previous = closes[-2] if len(closes) > 1 else closes[-1]
    return MarketContext(
        current_price=float(closes[-1]),
        price_change_1d=percent_change(closes[-1], previous),
        price_change_7d=percent_change(closes[-1], closes[week_index]),
        volume_rank=float(np.mean(volumes <= volumes[-1])),
    )


def technical_indicators(features: dict[str, float]) -> TechnicalIndicators:
    """`features` maps the names of INDICATOR_FEATURES' values to their values."""
    return TechnicalIndicators(**{field: features[name] for field, name in INDICATOR_FEATURES.items()})


@functools.lru_cache(maxsize=64)
def feature_columns(feature_names: tuple[str, ...], needed: tuple[str, ...]) -> tuple[int, ...]:
    """Where each `needed` feature sits in the features model's output (its `feature_names` parameter)."""
    missing = [name for name in needed if name not in feature_names]
    if missing:
        raise TritonUnavailable(f"the features model does not provide {', '.join(missing)}")
    return tuple(feature_names.index(name) for name in needed)


def named_features(vector: np.ndarray, feature_names: tuple[str, ...], needed: tuple[str, ...]) -> dict[str, float]:
    """The `needed` features of one FEATURES vector by name; TritonUnavailable when one is not a finite number."""
    columns = feature_columns(feature_names, needed)
    named = {name: float(vector[column]) for name, column in zip(needed, columns, strict=True)}
    if not all(math.isfinite(value) for value in named.values()):
        raise TritonUnavailable(f"the model returned non-finite features ({', '.join(needed)})")
    return named


def spectral_analysis(band_shares: np.ndarray) -> SpectralAnalysis:
    low, mid, high = (float(np.clip(share, 0.0, 1.0)) for share in band_shares)
    return SpectralAnalysis(low_freq_trend=low, mid_freq_cycle=mid, high_freq_noise=high)


@dataclass(frozen=True)
class PredictionPolicy:
    """How responses are derived beyond the request's own fields: built once from the settings."""

    interval_level: float = 0.8  # WIG80_PREDICTION_INTERVAL_LEVEL: the central interval of prediction_interval
    stale_after: int = 5  # WIG80_STALE_AFTER_TRADING_DAYS: sessions a symbol may lag the store's newest bar
    store_stale_after: int | None = None  # WIG80_STORE_STALE_AFTER_SESSIONS: sessions the store may lag the
    # exchange's last closed session; None: never (a store marked historical, WIG80_STORE_HISTORICAL)

    @classmethod
    def from_settings(cls, settings: Settings) -> PredictionPolicy:
        store_stale_after = None if settings.store_historical else settings.store_stale_after_sessions
        return cls(settings.prediction_interval_level, settings.stale_after_trading_days, store_stale_after)

    @property
    def historical(self) -> bool:
        return self.store_stale_after is None

    def store_lags(self, newest_bar: dt.date | None, now: dt.datetime | None = None) -> bool:
        """Whether the store's newest bar lags the exchange's last closed session by more than allowed."""
        if self.historical or newest_bar is None:
            return False
        return sessions_lag(newest_bar, trading_calendar().last_session(now)) > self.store_stale_after

    def data_status(self, last_bar: dt.date, newest_bar: dt.date | None) -> str:
        """`historical` (a store marked so), `stale` (the symbol lags the store, or the store the exchange)
        or `live`."""
        if is_stale(last_bar, self.stale_after, newest_bar):
            return "stale"
        if self.historical:
            return "historical"
        return "stale" if self.store_lags(newest_bar) else "live"


@dataclass(frozen=True)
class WindowFacts:
    """What a response takes from one window and its forecast whatever the horizon: derived once per
    held forecast (`gateway.forecasting.forecasts.HeldForecast`) instead of on every request."""

    symbol: str
    context: MarketContext
    spectral: SpectralAnalysis
    indicators: TechnicalIndicators
    data_as_of: dt.date


def window_facts(window: BarSeries, features: np.ndarray, feature_names: tuple[str, ...],
                 band_shares: np.ndarray) -> WindowFacts:
    """The horizon-free parts of a response for `window`, from its forecast's FEATURES and BAND_SHARES."""
    indicators = technical_indicators(named_features(features, feature_names, tuple(INDICATOR_FEATURES.values())))
    return WindowFacts(window.symbol, market_context(window.dates, window.ohlcv), spectral_analysis(band_shares),
                       indicators, window.dates[-1].astype(dt.date))


class Distribution(Protocol):
    """A forecast's distribution per horizon and the label of the model version that made it."""

    mean: np.ndarray
    std: np.ndarray
    model_version: str


def build_prediction(forecast: Distribution, facts: WindowFacts, request: AnalysisRequest, policy: PredictionPolicy,
                     newest_bar: dt.date | None) -> PredictionResponse:
    """The answer to `request` (its horizon, threshold, include_spectral) from a window's forecast and facts;
    processing_time_ms is filled in by the caller. `newest_bar` is the newest bar of any stored symbol
    (None: never stale)."""
    horizon = request.prediction_horizon
    mu, sigma = float(forecast.mean[horizon - 1]), float(forecast.std[horizon - 1])
    context, data_as_of = facts.context, facts.data_as_of
    confidence = sign_confidence(mu, sigma)
    status = policy.data_status(data_as_of, newest_bar)
    return PredictionResponse(
        symbol=facts.symbol,
        timestamp=dt.datetime.now(dt.UTC),
        current_price=context.current_price,
        predicted_price=context.current_price * math.exp(mu),
        prediction_horizon=horizon,
        confidence=confidence,
        direction=direction(mu, confidence, request.confidence_threshold),
        expected_return=100.0 * math.expm1(mu),
        risk_level=risk_level(sigma, horizon),
        spectral_analysis=facts.spectral if request.include_spectral else None,
        technical_indicators=facts.indicators,
        market_context=context,
        model_version=forecast.model_version,
        processing_time_ms=0.0,
        prediction_interval=prediction_interval(context.current_price, mu, sigma, policy.interval_level),
        data_as_of=data_as_of,
        stale=status == "stale",
        data_status=status,
    )

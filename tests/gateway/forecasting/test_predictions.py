"""How response numbers derive from the predicted distribution and the bars (pure functions, no services)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from gateway.forecasting import predictions
from gateway.forecasting.triton_client import TritonUnavailable
from gateway.schemas import AnalysisRequest, PredictionResponse
from market_data.bars import BarSeries


def test_normal_cdf_matches_known_values():
    assert predictions.normal_cdf(0.0) == pytest.approx(0.5)
    assert predictions.normal_cdf(1.959964) == pytest.approx(0.975, abs=1e-6)
    assert predictions.normal_cdf(-1.0) == pytest.approx(1 - 0.841344746, abs=1e-8)


def test_confidence_is_probability_of_the_predicted_sign():
    # mu = sigma: P(r > 0) for r ~ N(sigma, sigma) is Phi(1)
    assert predictions.sign_confidence(0.02, 0.02) == pytest.approx(0.841344746, abs=1e-8)
    assert predictions.sign_confidence(-0.02, 0.02) == pytest.approx(0.841344746, abs=1e-8)
    assert predictions.sign_confidence(0.0, 0.02) == pytest.approx(0.5)
    assert predictions.sign_confidence(0.01, 0.0) == 1.0


@pytest.mark.parametrize(
    ("mu", "confidence", "threshold", "expected"),
    [(0.01, 0.8, 0.6, "bullish"), (-0.01, 0.8, 0.6, "bearish"), (0.01, 0.55, 0.6, "neutral"), (0.0, 0.5, 0.0, "neutral")],
)
def test_direction_is_neutral_below_the_threshold(mu, confidence, threshold, expected):
    assert predictions.direction(mu, confidence, threshold) == expected


def test_risk_level_uses_the_daily_equivalent_volatility():
    assert predictions.risk_level(0.01 * math.sqrt(4), 4) == "low"
    assert predictions.risk_level(0.02 * math.sqrt(4), 4) == "medium"
    assert predictions.risk_level(0.05, 1) == "high"


def test_market_context_from_the_bars():
    dates = np.arange(np.datetime64("2025-01-01"), np.datetime64("2025-01-11"))  # 10 calendar days
    closes = np.arange(100.0, 110.0)
    volumes = np.array([5, 1, 2, 3, 4, 6, 7, 8, 9, 3.0])
    ohlcv = np.column_stack([closes, closes + 1, closes - 1, closes, volumes])
    context = predictions.market_context(dates, ohlcv)
    assert context.current_price == 109.0
    assert context.price_change_1d == pytest.approx(100 * (109 / 108 - 1))
    assert context.price_change_7d == pytest.approx(100 * (109 / 102 - 1))  # 2025-01-03 is 7 days before 01-10
    assert context.volume_rank == pytest.approx(0.4)  # 1, 2, 3, 3 of 10 are <= 3


FEATURE_NAMES = ("rsi_14", "volatility_20", "sma_ratio_20", "volume_ratio_20", "spectral_centroid")


@dataclass
class Forecast:
    mean: np.ndarray
    std: np.ndarray
    model_version: str = "run-1/v1"


def window_of(closes: np.ndarray, start: str = "2025-01-01") -> BarSeries:
    dates = np.arange(np.datetime64(start), np.datetime64(start) + len(closes))
    return BarSeries("ABC", dates, np.column_stack([closes, closes, closes, closes, np.full(len(closes), 1000.0)]))


def facts_of(window: BarSeries) -> predictions.WindowFacts:
    features = np.array([55.0, 0.01, 1.02, 1.1, 0.2], dtype=np.float32)
    return predictions.window_facts(window, features, FEATURE_NAMES, np.array([0.7, 0.2, 0.1]))


def test_build_prediction_is_consistent_with_its_distribution():
    window = window_of(np.linspace(50, 60, 59))
    forecast = Forecast(np.linspace(-0.01, 0.05, 30), np.full(30, 0.02))
    request = AnalysisRequest(symbol="abc", prediction_horizon=30)
    response = predictions.build_prediction(forecast, facts_of(window), request, predictions.PredictionPolicy(), None)
    PredictionResponse.model_validate(response.model_dump())
    assert response.symbol == "ABC" and response.model_version == "run-1/v1"
    assert response.predicted_price == pytest.approx(60 * math.exp(0.05))
    assert response.expected_return == pytest.approx(100 * (math.exp(0.05) - 1))
    assert response.confidence == pytest.approx(predictions.normal_cdf(2.5))
    assert response.direction == "bullish"
    assert response.risk_level == "low"
    assert response.technical_indicators.rsi == pytest.approx(55.0)
    assert response.technical_indicators.volume_trend == pytest.approx(1.1)


def test_the_facts_read_the_indicators_by_name_and_refuse_unusable_features():
    window = window_of(np.full(30, 50.0))
    with pytest.raises(TritonUnavailable, match="does not provide rsi_14"):
        predictions.window_facts(window, np.zeros(4, np.float32), FEATURE_NAMES[1:], np.array([0.7, 0.2, 0.1]))
    with pytest.raises(TritonUnavailable, match="non-finite"):
        predictions.window_facts(window, np.array([np.nan, 0, 1, 1, 0], np.float32), FEATURE_NAMES,
                                 np.array([0.7, 0.2, 0.1]))


def test_prediction_interval_is_the_central_quantile_range_of_the_price_at_the_horizon():
    interval = predictions.prediction_interval(100.0, 0.01, 0.05, 0.8)
    z = 1.2815515655446004  # the standard normal's 90% quantile
    assert interval.level == 0.8
    assert interval.lower == pytest.approx(100 * math.exp(0.01 - z * 0.05))
    assert interval.upper == pytest.approx(100 * math.exp(0.01 + z * 0.05))
    assert interval.lower < 100 * math.exp(0.01) < interval.upper


def test_a_forecast_is_stale_when_it_lags_the_newest_stored_bar_by_more_xwar_sessions_than_allowed():
    import datetime as dt

    friday = dt.date(2025, 11, 28)
    assert predictions.missed_trading_days(friday, dt.date(2025, 11, 30)) == 0  # the weekend is no gap
    assert predictions.missed_trading_days(friday, dt.date(2025, 12, 5)) == 5  # the whole week without a bar
    # XWAR sessions, not weekdays: 24-26 December are holidays, 29 December is the only session missed
    assert predictions.missed_trading_days(dt.date(2025, 12, 23), dt.date(2025, 12, 29)) == 1
    assert not predictions.is_stale(dt.date(2025, 12, 23), 1, newest_bar=dt.date(2025, 12, 29))
    assert not predictions.is_stale(friday, 5, newest_bar=dt.date(2025, 12, 5))
    assert predictions.is_stale(friday, 5, newest_bar=dt.date(2025, 12, 8))
    assert not predictions.is_stale(friday, 5, newest_bar=friday)
    assert not predictions.is_stale(friday, 5, newest_bar=None)


def test_build_prediction_reports_its_data_date_staleness_and_interval():
    import datetime as dt

    window = window_of(np.full(59, 50.0))
    facts, forecast = facts_of(window), Forecast(np.zeros(30), np.full(30, 0.02))
    request = AnalysisRequest(symbol="ABC", prediction_horizon=5, include_spectral=False)
    policy = predictions.PredictionPolicy(interval_level=0.95, stale_after=5)
    fresh = predictions.build_prediction(forecast, facts, request, policy, newest_bar=dt.date(2025, 3, 3))
    old = predictions.build_prediction(forecast, facts, request, policy, newest_bar=dt.date(2025, 4, 1))
    assert fresh.data_as_of == dt.date(2025, 2, 28) and not fresh.stale and old.stale
    assert fresh.spectral_analysis is None
    assert fresh.prediction_interval.lower == pytest.approx(50 * math.exp(-1.959963984540054 * 0.02))
    assert PredictionResponse.model_validate_json(old.model_dump_json()) == old

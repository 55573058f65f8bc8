"""Every endpoint of a real gateway over the real Triton: responses validate against the API models."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from gateway.models import (
    BatchAnalysisResponse,
    HealthResponse,
    PredictionResponse,
    SpectrumResponse,
    SymbolsResponse,
)
from market_data.symbols import load_symbols

pytestmark = [pytest.mark.triton, pytest.mark.redis]


def post(gateway, path: str, body: dict, **kwargs) -> httpx.Response:
    return httpx.post(f"{gateway.url}{path}", json=body, timeout=30.0, **kwargs)


def get(gateway, path: str, **kwargs) -> httpx.Response:
    return httpx.get(f"{gateway.url}{path}", timeout=30.0, **kwargs)


def test_health_reports_the_model_loaded(gateway):
    health = HealthResponse.model_validate(get(gateway, "/health").json())
    assert health.status == "healthy"
    assert health.model_loaded and health.database_connected
    assert 0 <= health.system_metrics.memory_percent <= 100


def test_symbols_lists_index_members_and_which_have_data(gateway, stored_symbols):
    symbols = SymbolsResponse.model_validate(get(gateway, "/symbols").json())
    by_ticker = {info.symbol: info for info in symbols.symbols}
    assert symbols.count == len(symbols.symbols) >= 80
    for ticker in stored_symbols:
        assert by_ticker[ticker].data_available and by_ticker[ticker].bars > 0
        assert by_ticker[ticker].name
    assert sum(info.data_available for info in symbols.symbols) == len(stored_symbols)


def test_analyze_derives_every_number_from_the_distribution(gateway, stored_symbols):
    body = {"symbol": stored_symbols[0], "prediction_horizon": 5, "confidence_threshold": 0.0}
    response = post(gateway, "/analyze", body)
    assert response.status_code == 200, response.text
    prediction = PredictionResponse.model_validate(response.json())
    assert prediction.symbol == stored_symbols[0] and prediction.prediction_horizon == 5
    assert 0.5 <= prediction.confidence <= 1.0
    implied_return = 100 * (prediction.predicted_price / prediction.current_price - 1)
    assert prediction.expected_return == pytest.approx(implied_return, rel=1e-6, abs=1e-9)
    assert prediction.direction == ("bullish" if prediction.expected_return > 0 else "bearish")
    assert prediction.market_context.current_price == prediction.current_price
    assert prediction.spectral_analysis is not None
    shares = prediction.spectral_analysis
    assert shares.low_freq_trend + shares.mid_freq_cycle + shares.high_freq_noise == pytest.approx(1.0, abs=1e-3)
    assert "/v" in prediction.model_version


def test_analyze_is_neutral_below_the_confidence_threshold(gateway, stored_symbols):
    body = {"symbol": stored_symbols[1], "confidence_threshold": 1.0, "include_spectral": False}
    prediction = PredictionResponse.model_validate(post(gateway, "/analyze", body).json())
    assert prediction.confidence < 1.0
    assert prediction.direction == "neutral"
    assert prediction.spectral_analysis is None


def test_analyze_accepts_a_gpw_short_name(gateway, stored_symbols):
    short_name = load_symbols()[stored_symbols[0]].gpw_short_name.lower()
    response = post(gateway, "/analyze", {"symbol": short_name})
    assert response.status_code == 200 and response.json()["symbol"] == stored_symbols[0]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"symbol": "NOSUCH"}, 404, "NOSUCH"),
        ({"symbol": "1AT", "prediction_horizon": 31}, 422, "prediction_horizon"),
        ({"symbol": "1AT", "confidence_threshold": 1.5}, 422, "confidence_threshold"),
        ({"symbol": "1AT", "timeframe": "1h"}, 422, "timeframe"),
        ({"symbol": "1AT", "surprise": 1}, 422, "surprise"),
        ({}, 422, "symbol"),
    ],
)
def test_analyze_refuses_bad_requests_with_a_reason(gateway, body, status, reason):
    response = post(gateway, "/analyze", body)
    assert response.status_code == status
    assert reason in response.text


def test_batch_is_one_triton_request_with_per_symbol_errors(gateway, stored_symbols, triton_http):
    def ensemble_requests() -> int:
        stats = httpx.get(f"{triton_http}/v2/models/wig80/stats", timeout=10.0).json()["model_stats"]
        return sum(int(s["inference_stats"]["success"]["count"]) for s in stats)

    before = ensemble_requests()
    body = {"symbols": [*stored_symbols[:3], "NOSUCH"], "prediction_horizon": 10}
    response = post(gateway, "/batch_analyze", body)
    assert response.status_code == 200, response.text
    batch = BatchAnalysisResponse.model_validate(response.json())
    assert ensemble_requests() == before + 1
    assert [item.symbol for item in batch.results] == body["symbols"]
    assert [item.status_code for item in batch.results] == [200, 200, 200, 404]
    assert all(item.prediction.prediction_horizon == 10 for item in batch.results[:3])
    assert "NOSUCH" in batch.results[3].error and batch.results[3].prediction is None


def test_spectrum_bands_cover_zero_to_nyquist(gateway, stored_symbols):
    response = get(gateway, f"/spectrum/{stored_symbols[0]}", params={"days": 128})
    assert response.status_code == 200, response.text
    spectrum = SpectrumResponse.model_validate(response.json())
    assert spectrum.days == 128 and spectrum.analysis_date == dt.date(2025, 12, 31)
    ranges = [band.range for band in spectrum.frequency_bands]
    assert ranges[0][0] == 0.0 and ranges[-1][1] == 0.5
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert sum(band.power for band in spectrum.frequency_bands) == pytest.approx(spectrum.total_power, rel=1e-3)
    assert 0 < spectrum.spectral_centroid < 0.5


def test_spectrum_of_unknown_symbol_is_404_and_bad_days_422(gateway, stored_symbols):
    assert get(gateway, "/spectrum/NOSUCH").status_code == 404
    assert get(gateway, f"/spectrum/{stored_symbols[0]}", params={"days": 0}).status_code == 422


def test_post_bars_needs_the_api_key(gateway, stored_symbols):
    bar = {"symbol": stored_symbols[0], "date": "2026-01-02", "open": 10, "high": 11, "low": 9, "close": 10.5,
           "volume": 1000}
    assert post(gateway, "/bars", {"bars": [bar]}).status_code == 401
    assert post(gateway, "/bars", {"bars": [bar]}, headers={"X-API-Key": "wrong"}).status_code == 401


def test_post_bars_rejects_an_invalid_bar_with_its_reason(gateway, stored_symbols):
    bar = {"symbol": stored_symbols[0], "date": "2026-01-02", "open": 10, "high": 9, "low": 8, "close": 10.5,
           "volume": 1000}
    response = post(gateway, "/bars", {"bars": [bar]}, headers={"X-API-Key": "test-gateway-key"})
    assert response.status_code == 422
    assert "bars[0]" in response.text and "high" in response.text


def test_metrics_exposes_the_named_series(gateway, stored_symbols):
    post(gateway, "/analyze", {"symbol": stored_symbols[0]})
    text = get(gateway, "/metrics").text
    for name in ("predictions_total", "prediction_duration_seconds_bucket", "websocket_connections",
                 "model_accuracy", "cache_hits_total", "cache_misses_total", "rate_limited_requests_total",
                 "triton_errors_total"):
        assert name in text
    assert gateway.metric("predictions_total") >= 1

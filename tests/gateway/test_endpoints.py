"""Every endpoint of a real gateway over the real Triton: responses validate against the API models."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from gateway.schemas import (
    BatchAnalysisResponse,
    ForecastPathResponse,
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


def test_analyze_bodies_made_once_differ_only_where_the_request_does(gateway, stored_symbols):
    body = {"symbol": stored_symbols[2], "prediction_horizon": 7, "confidence_threshold": 0.0}
    first, again = (post(gateway, "/analyze", body).json() for _ in range(2))  # the second from kept bytes
    assert first["processing_time_ms"] >= 0 and again["processing_time_ms"] >= 0
    assert {**first, "processing_time_ms": 0} == {**again, "processing_time_ms": 0}
    neutral = post(gateway, "/analyze", {**body, "confidence_threshold": 1.0}).json()
    assert first["direction"] != "neutral" and neutral["direction"] == "neutral"
    without = post(gateway, "/analyze", {**body, "include_spectral": False}).json()
    assert without["spectral_analysis"] is None and first["spectral_analysis"] is not None
    other_horizon = post(gateway, "/analyze", {**body, "prediction_horizon": 8}).json()
    assert other_horizon["prediction_horizon"] == 8 and other_horizon["predicted_price"] != first["predicted_price"]


def test_analyze_accepts_a_gpw_short_name(gateway, stored_symbols):
    short_name = load_symbols()[stored_symbols[0]].gpw_short_name.lower()
    response = post(gateway, "/analyze", {"symbol": short_name})
    assert response.status_code == 200 and response.json()["symbol"] == stored_symbols[0]


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ({"symbol": "NOSUCH"}, 404, "NOSUCH"),
        ({"symbol": "1AT", "prediction_horizon": 31}, 400, "body.prediction_horizon"),
        ({"symbol": "1AT", "confidence_threshold": 1.5}, 400, "body.confidence_threshold"),
        ({"symbol": "1AT", "timeframe": "1h"}, 400, "body.timeframe"),
        ({"symbol": "1AT", "surprise": 1}, 400, "body.surprise"),
        # strict types: no boolean for a number, no string for an integer, no number for a boolean
        ({"symbol": "1AT", "confidence_threshold": False}, 400,
         "body.confidence_threshold: Input should be a valid number, not a boolean"),
        ({"symbol": "1AT", "prediction_horizon": "5"}, 400,
         "body.prediction_horizon: Input should be a valid integer, not a string"),
        ({"symbol": "1AT", "include_spectral": 1}, 400, "body.include_spectral: Input should be a valid boolean"),
        ({}, 400, "body.symbol"),
    ],
)
def test_analyze_refuses_bad_requests_with_a_reason(gateway, body, status, reason):
    response = post(gateway, "/analyze", body)
    assert response.status_code == status
    assert isinstance(response.json()["detail"], str) and reason in response.json()["detail"]


@pytest.mark.parametrize("path", ["/analyze", "/batch_analyze"])
def test_malformed_json_is_400_with_a_string_reason(gateway, path):
    response = httpx.post(f"{gateway.url}{path}", content=b'{"symbol": ', timeout=30.0,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_the_schema_documents_400_not_fastapis_422(gateway):
    schema = get(gateway, "/openapi.json").json()
    responses = schema["paths"]["/analyze"]["post"]["responses"]
    assert "400" in responses and "422" not in responses


def test_batch_of_held_forecasts_asks_triton_nothing_with_per_symbol_errors(gateway, stored_symbols, triton_server):
    def ensemble_requests() -> int:
        return sum(s.inference_stats.success.count for s in triton_server.statistics("wig80"))

    before = ensemble_requests()
    body = {"symbols": [*stored_symbols[:3], "NOSUCH"], "prediction_horizon": 10}
    response = post(gateway, "/batch_analyze", body)
    assert response.status_code == 200, response.text
    batch = BatchAnalysisResponse.model_validate(response.json())
    assert ensemble_requests() == before  # forecast at start-up; misses: tests/gateway/forecasting/test_forecasts.py
    assert [item.requested for item in batch.results] == body["symbols"]
    assert [item.symbol for item in batch.results] == body["symbols"]
    assert [item.status_code for item in batch.results] == [200, 200, 200, 404]
    assert all(item.prediction.prediction_horizon == 10 for item in batch.results[:3])
    assert "NOSUCH" in batch.results[3].error and batch.results[3].prediction is None


def test_batch_items_name_the_resolved_ticker_and_the_request_spelling(gateway, stored_symbols):
    short_name = load_symbols()[stored_symbols[0]].gpw_short_name
    asked = [short_name, stored_symbols[1].lower(), "nosuch"]
    batch = BatchAnalysisResponse.model_validate(post(gateway, "/batch_analyze", {"symbols": asked}).json())
    assert [item.requested for item in batch.results] == asked
    assert [item.symbol for item in batch.results] == [*stored_symbols[:2], "NOSUCH"]
    assert [item.prediction.symbol for item in batch.results[:2]] == stored_symbols[:2]


def test_spectrum_bands_are_keyed_and_cover_zero_to_nyquist(gateway, stored_symbols):
    response = get(gateway, f"/spectrum/{stored_symbols[0]}", params={"days": 128})
    assert response.status_code == 200, response.text
    assert list(response.json()["frequency_bands"]) == ["low_frequency", "medium_frequency", "high_frequency"]
    spectrum = SpectrumResponse.model_validate(response.json())
    assert spectrum.days == 128 and spectrum.analysis_date == dt.date(2025, 12, 31)
    bands = [spectrum.frequency_bands.low_frequency, spectrum.frequency_bands.medium_frequency,
             spectrum.frequency_bands.high_frequency]
    ranges = [band.range_cycles_per_day for band in bands]
    assert ranges[0][0] == 0.0 and ranges[-1][1] == 0.5
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))
    assert [band.range for band in bands] == [f"{low:.2f} - {high:.2f} cycles/day" for low, high in ranges]
    assert sum(band.power for band in bands) == pytest.approx(spectrum.total_power, rel=1e-3)
    assert sum(band.share for band in bands) == pytest.approx(1.0, abs=1e-3)
    assert 0 < spectrum.spectral_centroid < 0.5


def test_spectrum_of_unknown_symbol_is_404_and_bad_days_400(gateway, stored_symbols):
    assert get(gateway, "/spectrum/NOSUCH").status_code == 404
    response = get(gateway, f"/spectrum/{stored_symbols[0]}", params={"days": 0})
    assert response.status_code == 400 and "query.days" in response.json()["detail"]


def test_forecast_path_matches_analyze_at_every_horizon(gateway, stored_symbols):
    response = get(gateway, f"/forecast/{stored_symbols[0]}", params={"history": 40})
    assert response.status_code == 200, response.text
    forecast = ForecastPathResponse.model_validate(response.json())
    assert len(forecast.bars) == 40 and forecast.bars[-1].date == forecast.last_date
    assert [point.horizon for point in forecast.path] == list(range(1, 31))
    assert forecast.path[0].date > forecast.last_date and all(p.date.weekday() < 5 for p in forecast.path)
    for point in forecast.path:
        assert point.lower_95 < point.lower_50 < point.median < point.upper_50 < point.upper_95
        assert point.median <= point.mean
    for horizon in (1, 7, 30):
        body = {"symbol": stored_symbols[0], "prediction_horizon": horizon}
        prediction = PredictionResponse.model_validate(post(gateway, "/analyze", body).json())
        assert forecast.path[horizon - 1].median == pytest.approx(prediction.predicted_price, rel=1e-5)
        assert forecast.current_price == prediction.current_price
    assert get(gateway, "/forecast/NOSUCH").status_code == 404


def test_post_bars_needs_the_api_key(gateway, stored_symbols):
    bar = {"symbol": stored_symbols[0], "date": "2026-01-02", "open": 10, "high": 11, "low": 9, "close": 10.5,
           "volume": 1000}
    assert post(gateway, "/bars", {"bars": [bar]}).status_code == 401
    assert post(gateway, "/bars", {"bars": [bar]}, headers={"X-API-Key": "wrong"}).status_code == 401


def test_post_bars_rejects_an_invalid_bar_with_its_reason(gateway, stored_symbols):
    bar = {"symbol": stored_symbols[0], "date": "2026-01-02", "open": 10, "high": 9, "low": 8, "close": 10.5,
           "volume": 1000}
    response = post(gateway, "/bars", {"bars": [bar]}, headers={"X-API-Key": "test-gateway-key"})
    assert response.status_code == 400
    assert "bars[0]" in response.text and "high" in response.text


@pytest.mark.parametrize(("change", "reason"), [
    ({"high": 1e300, "close": 1e300}, "body.bars.0.high: Input should be less than or equal to 1000000000"),
    ({"low": 0}, "body.bars.0.low: Input should be greater than or equal to 0.000001"),
    ({"volume": True}, "body.bars.0.volume: Input should be a valid number, not a boolean"),
    ({"open": "10"}, "body.bars.0.open: Input should be a valid number, not a string"),
])
def test_post_bars_refuses_out_of_schema_values_with_their_reason(gateway, stored_symbols, change, reason):
    bar = {"symbol": stored_symbols[0], "date": "2026-01-02", "open": 10, "high": 11, "low": 9, "close": 10,
           "volume": 1000} | change
    response = post(gateway, "/bars", {"bars": [bar]}, headers={"X-API-Key": "test-gateway-key"})
    assert response.status_code == 400
    assert reason in response.json()["detail"]


def test_the_schema_states_the_bounds_the_api_enforces(gateway, stored_symbols):
    from feature_kernels import MIN_WINDOW

    schema = get(gateway, "/openapi.json").json()
    bar = schema["components"]["schemas"]["BarIn"]["properties"]
    assert all(bar[price]["exclusiveMinimum"] == 0 for price in ("open", "high", "low", "close"))
    assert bar["volume"]["minimum"] == 0
    days = next(p for p in schema["paths"]["/spectrum/{symbol}"]["get"]["parameters"] if p["name"] == "days")
    assert days["schema"]["minimum"] == MIN_WINDOW  # the served model's window minimum
    response = get(gateway, f"/spectrum/{stored_symbols[0]}", params={"days": MIN_WINDOW - 1})
    assert response.status_code == 400 and "query.days" in response.json()["detail"]
    assert get(gateway, f"/spectrum/{stored_symbols[0]}", params={"days": MIN_WINDOW}).status_code == 200


def test_metrics_exposes_the_named_series(gateway, stored_symbols):
    post(gateway, "/analyze", {"symbol": stored_symbols[0]})
    text = get(gateway, "/metrics").text
    for name in ("predictions_total", "prediction_duration_seconds_bucket", "websocket_connections",
                 "model_accuracy", "cache_hits_total", "cache_misses_total", "rate_limited_requests_total",
                 "triton_errors_total"):
        assert name in text
    assert gateway.metric("predictions_total") >= 1

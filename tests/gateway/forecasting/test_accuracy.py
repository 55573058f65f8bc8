"""model_accuracy: a past prediction is scored when its outcome bar arrives through POST /bars."""

from __future__ import annotations

import httpx
import pytest

from gateway.schemas import PredictionResponse
from tests.gateway.conftest import API_KEY

pytestmark = [pytest.mark.triton, pytest.mark.redis]


def test_prediction_is_scored_when_its_outcome_bar_arrives(start_gateway, stored_symbols):
    gateway = start_gateway()
    symbol = stored_symbols[3]
    body = {"symbol": symbol, "prediction_horizon": 1, "confidence_threshold": 0.0}
    response = httpx.post(f"{gateway.url}/analyze", json=body, timeout=30.0)
    assert response.status_code == 200, response.text
    prediction = PredictionResponse.model_validate(response.json())
    assert prediction.direction in ("bullish", "bearish")
    assert gateway.metric("predictions_evaluated_total") == 0
    assert accuracy_lines(gateway) == []  # nothing scored: the accuracy is unknown, not 0 %

    # the next close rises 5 %: the prediction was right exactly when it said bullish
    close = round(prediction.current_price * 1.05, 4)
    bar = {"symbol": symbol, "date": "2026-01-02", "open": close, "high": close, "low": close, "close": close,
           "volume": 1000.0}
    posted = httpx.post(f"{gateway.url}/bars", json={"bars": [bar]}, headers={"X-API-Key": API_KEY}, timeout=30.0)
    assert posted.status_code == 200, posted.text

    assert gateway.wait_for_metric("predictions_evaluated_total", 1) == 1
    assert accuracy_lines(gateway) == [f"model_accuracy {1.0 if prediction.direction == 'bullish' else 0.0}"]


def accuracy_lines(gateway) -> list[str]:
    """The model_accuracy samples of the gateway's real /metrics page (its HELP and TYPE lines aside)."""
    text = httpx.get(f"{gateway.url}/metrics", timeout=5.0).text
    assert "# TYPE model_accuracy gauge" in text
    return [line for line in text.splitlines() if line.startswith("model_accuracy")]

"""POST /analyze and POST /batch_analyze."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from gateway import metrics
from gateway.api.deps import AnalysisDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.api.rate_limit import charge_extra
from gateway.schemas import AnalysisRequest, BatchAnalysisRequest, BatchAnalysisResponse, PredictionResponse

router = APIRouter(tags=["predictions"], responses=ERROR_RESPONSES)
ANALYZE_DURATION = metrics.PREDICTION_DURATION.labels(endpoint="analyze")


@router.post("/analyze", response_model=PredictionResponse)
async def analyze(request: AnalysisRequest, analysis: AnalysisDep) -> Response:
    """Forecast one symbol over `prediction_horizon` trading days."""
    with ANALYZE_DURATION.time():
        prediction, source = await analysis.analyze(request)
    metrics.PREDICTIONS_TOTAL.labels(endpoint="analyze", source=source).inc()
    # the model was built and validated by the service: pydantic's own JSON dump, no second validation
    # (measured in docs/serving.md, "Gateway request path")
    return Response(prediction.model_dump_json(), media_type="application/json")


@router.post("/batch_analyze", response_model=BatchAnalysisResponse)
async def batch_analyze(request: BatchAnalysisRequest, analysis: AnalysisDep, http: Request) -> Response:
    """Forecast several symbols in one Triton request; a symbol that fails is reported in its own item.

    Rate limits charge one request per symbol (the minute's quota)."""
    await charge_extra(http, len(request.symbols) - 1)
    with metrics.PREDICTION_DURATION.labels(endpoint="batch_analyze").time():
        response = await analysis.analyze_batch(request)
    answered = sum(item.prediction is not None for item in response.results)
    metrics.PREDICTIONS_TOTAL.labels(endpoint="batch_analyze", source="triton").inc(answered)
    return Response(response.model_dump_json(), media_type="application/json")

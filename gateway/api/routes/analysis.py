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
BATCH_DURATION = metrics.PREDICTION_DURATION.labels(endpoint="batch_analyze")
ANALYZE_ANSWERED = {source: metrics.PREDICTIONS_TOTAL.labels(endpoint="analyze", source=source)
                    for source in ("cache", "triton")}
BATCH_ANSWERED = metrics.PREDICTIONS_TOTAL.labels(endpoint="batch_analyze", source="triton")


@router.post("/analyze", response_model=PredictionResponse)
async def analyze(request: AnalysisRequest, analysis: AnalysisDep) -> Response:
    """Forecast one symbol over `prediction_horizon` trading days."""
    with ANALYZE_DURATION.time():
        body, source = await analysis.analyze_json(request)
    ANALYZE_ANSWERED[source].inc()
    # a body made by the service from a validated model, kept with its forecast: no second validation
    # (measured in docs/serving.md, "Gateway request path")
    return Response(body, media_type="application/json")


@router.post("/batch_analyze", response_model=BatchAnalysisResponse)
async def batch_analyze(request: BatchAnalysisRequest, analysis: AnalysisDep, http: Request) -> Response:
    """Forecast several symbols in one Triton request; a symbol that fails is reported in its own item.

    Rate limits charge one request per symbol (the minute's quota)."""
    await charge_extra(http, len(request.symbols) - 1)
    with BATCH_DURATION.time():
        response = await analysis.analyze_batch(request)
    answered = sum(item.prediction is not None for item in response.results)
    BATCH_ANSWERED.inc(answered)
    return Response(response.model_dump_json(), media_type="application/json")

"""GET /forecast/{symbol}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gateway.api.deps import AnalysisDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.forecasting.forecast_path import forecast_path
from gateway.schemas import ForecastPathResponse

router = APIRouter(prefix="/forecast", tags=["predictions"], responses=ERROR_RESPONSES)

MAX_HISTORY_BARS = 1000


@router.get("/{symbol}", response_model=ForecastPathResponse)
async def forecast(
    symbol: Annotated[str, Path(min_length=1, max_length=32)],
    analysis: AnalysisDep,
    history: Annotated[int, Query(ge=1, le=MAX_HISTORY_BARS, description="latest bars to return")] = 120,
) -> ForecastPathResponse:
    """The latest bars and the predicted price distribution (median, mean, 50% and 95% intervals) at horizons 1..30."""
    return await forecast_path(analysis, symbol, history)

"""GET /spectrum/{symbol}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gateway.api.deps import AnalysisDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.schemas import SpectrumResponse

router = APIRouter(prefix="/spectrum", tags=["spectrum"], responses=ERROR_RESPONSES)

MAX_SPECTRUM_DAYS = 5000


@router.get("/{symbol}", response_model=SpectrumResponse)
async def spectrum(
    symbol: Annotated[str, Path(min_length=1, max_length=32)],
    analysis: AnalysisDep,
    days: Annotated[int, Query(ge=2, le=MAX_SPECTRUM_DAYS, description="bars to analyse, the latest")] = 252,
) -> SpectrumResponse:
    """Power in the low/mid/high frequency bands of the last `days` bars, from the Triton `features` model."""
    return await analysis.spectrum(symbol, days)

"""GET /spectrum/{symbol}."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from gateway.api.deps import AnalysisDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.schemas import SpectrumResponse

router = APIRouter(prefix="/spectrum", tags=["spectrum"], responses=ERROR_RESPONSES)

MAX_SPECTRUM_DAYS = 5000
# the served model's shortest window (Triton's `min_window`, feature_kernels.MIN_WINDOW at export; a test
# keeps them equal): fewer days are refused, so the schema says so
MIN_SPECTRUM_DAYS = 64


@router.get("/{symbol}", response_model=SpectrumResponse)
async def spectrum(
    symbol: Annotated[str, Path(min_length=1, max_length=32)],
    analysis: AnalysisDep,
    days: Annotated[int, Query(
        ge=MIN_SPECTRUM_DAYS, le=MAX_SPECTRUM_DAYS,
        description=f"bars to analyse, the latest: at least the served model's window minimum ({MIN_SPECTRUM_DAYS})")] = 252,
) -> SpectrumResponse:
    """Power in the low/mid/high frequency bands of the last `days` bars, from the Triton `features` model."""
    return await analysis.spectrum(symbol, days)

"""POST /bars: live bars in, validated like imports, stored, applied from the change feed here at once and
announced to the other replicas (their followers read the feed when woken, or at their next poll)."""

from __future__ import annotations

from collections import defaultdict

from fastapi import APIRouter, HTTPException

from gateway import metrics
from gateway.api.deps import ApiKeyDep, ServicesDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.forecasting.analysis import ticker_of
from gateway.schemas import BarsRequest, BarsResponse, ErrorResponse
from market_data.bars import Bar, BarSeries, validate_bars

API_KEY_RESPONSES: dict[int | str, dict] = {
    401: {"model": ErrorResponse, "description": "missing or wrong X-API-Key"},
    403: {"model": ErrorResponse, "description": "no API key is configured, so POST /bars is disabled"},
}
router = APIRouter(tags=["bars"], dependencies=[ApiKeyDep], responses=ERROR_RESPONSES | API_KEY_RESPONSES)

MAX_REASONS_SHOWN = 20


@router.post("/bars", response_model=BarsResponse)
async def post_bars(request: BarsRequest, services: ServicesDep) -> BarsResponse:
    """Append bars (all or none: any invalid bar rejects the request with every reason, 400)."""
    bars = [Bar(ticker_of(b.symbol), b.date, b.open, b.high, b.low, b.close, b.volume) for b in request.bars]
    accepted, rejections = validate_bars(bars)
    if rejections:
        metrics.BARS_RECEIVED.labels(outcome="rejected").inc(len(bars))
        reasons = [f"bars[{r.index}] {r.bar.symbol} {r.bar.date.isoformat()}: {r.reason}" for r in rejections]
        raise HTTPException(400, "; ".join(reasons[:MAX_REASONS_SHOWN]) + _more(len(reasons)))
    by_symbol: dict[str, list[Bar]] = defaultdict(list)
    for bar in accepted:
        by_symbol[bar.symbol].append(bar)
    result = await services.store.append_many([BarSeries.from_bars(group) for group in by_symbol.values()])
    metrics.BARS_RECEIVED.labels(outcome="stored").inc(result.stored)
    metrics.BARS_RECEIVED.labels(outcome="duplicate").inc(result.duplicates)
    announced = sorted(by_symbol) if result.stored else []
    if announced:
        await services.follower.catch_up()  # this replica's hot state before it answers
    for symbol in announced:  # wakes the other replicas' followers sooner than their next poll
        await services.events.publish(symbol, max(bar.date for bar in by_symbol[symbol]).isoformat())
    return BarsResponse(stored=result.stored, duplicates=result.duplicates, symbols=announced)


def _more(count: int) -> str:
    return f" (and {count - MAX_REASONS_SHOWN} more)" if count > MAX_REASONS_SHOWN else ""

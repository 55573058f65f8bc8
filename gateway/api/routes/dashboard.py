"""GET /: the dashboard page, its static files under /static (plain files, no build step), and
GET /dashboard/summary: everything the page's table needs in one request, whatever the member count (one
rate-limit unit; the forecasts are the held ones, made once per window)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from gateway.api.deps import ServicesDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.schemas import MAX_BATCH_SYMBOLS, BatchAnalysisRequest, BatchItem
from market_data.calendar import trading_calendar
from market_data.symbols import load_symbols

STATIC_DIR = Path(__file__).resolve().parents[2] / "static"
DASHBOARD_HORIZON = 5  # the API's default horizon, the one WebSocket pushes use

router = APIRouter(tags=["dashboard"])


class DashboardMember(BaseModel):
    symbol: str
    name: str | None
    item: BatchItem = Field(description="what /batch_analyze answers for the member")


class DashboardSummary(BaseModel):
    horizon: int
    data_status: Literal["live", "stale", "historical"] = Field(
        description="the store: historical (WIG80_STORE_HISTORICAL), stale (its newest bar lags the exchange's "
        "last closed session by more than WIG80_STORE_STALE_AFTER_SESSIONS) or live")
    newest_bar: dt.date | None = Field(description="the newest bar of any stored symbol")
    last_session: dt.date = Field(description="the exchange's (XWAR) last closed session")
    members: list[DashboardMember] = Field(description="index members with bars, at most MAX_BATCH_SYMBOLS")


@router.get("/", include_in_schema=False)
async def dashboard() -> FileResponse:
    """The dashboard page."""
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


@router.get("/dashboard/summary", response_model=DashboardSummary, responses=ERROR_RESPONSES)
async def summary(services: ServicesDep) -> DashboardSummary:
    """The index members with bars and each one's prediction at the dashboard's horizon, in one request."""
    analysis = services.analysis
    names = load_symbols()
    stored = await services.store.list_symbols()
    members = [ticker for ticker in sorted(stored) if ticker in names and names[ticker].index
               and stored[ticker].rows > 0][:MAX_BATCH_SYMBOLS]
    items = []
    if members:
        batch = await analysis.analyze_batch(BatchAnalysisRequest(symbols=members, prediction_horizon=DASHBOARD_HORIZON))
        items = batch.results
    newest = analysis.windows.newest_date
    policy = analysis.policy
    status = "historical" if policy.historical else ("stale" if policy.store_lags(newest) else "live")
    return DashboardSummary(
        horizon=DASHBOARD_HORIZON, data_status=status, newest_bar=newest, last_session=trading_calendar().last_session(),
        members=[DashboardMember(symbol=ticker, name=names[ticker].name, item=item)
                 for ticker, item in zip(members, items, strict=True)],
    )


def mount_static(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

"""Dependencies of the routes, as `Annotated` aliases."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, WebSocket

from gateway.forecasting.analysis import AnalysisService
from gateway.services import Services


# async: FastAPI runs a plain `def` dependency in its thread pool, a hop per request that cost the
# warm /analyze path about a tenth of its time (py-spy, benchmarks/gateway_bench.py --profile)
async def get_services(request: Request) -> Services:
    return request.app.state.services


async def get_ws_services(websocket: WebSocket) -> Services:
    return websocket.app.state.services


async def get_analysis(request: Request) -> AnalysisService:
    return request.app.state.services.analysis


async def require_api_key(
    services: Annotated[Services, Depends(get_services)],
    x_api_key: Annotated[str | None, Header(description="the gateway's API key (WIG80_API_KEY)")] = None,
) -> None:
    expected = services.settings.api_key
    if not expected:
        raise HTTPException(403, "this endpoint is disabled: no API key is configured (set WIG80_API_KEY)")
    if x_api_key is None or not secrets.compare_digest(x_api_key.encode(), expected.encode()):
        raise HTTPException(401, "missing or wrong X-API-Key header", headers={"WWW-Authenticate": "ApiKey"})


ServicesDep = Annotated[Services, Depends(get_services)]
WsServicesDep = Annotated[Services, Depends(get_ws_services)]
AnalysisDep = Annotated[AnalysisService, Depends(get_analysis)]
ApiKeyDep = Depends(require_api_key)

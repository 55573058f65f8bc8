"""WS /ws/realtime."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from gateway.api.deps import WsServicesDep

router = APIRouter(prefix="/ws", tags=["realtime"])


@router.websocket("/realtime")
async def realtime(websocket: WebSocket, services: WsServicesDep) -> None:
    """Send {symbols, update_frequency, include_spectral}; receive {"type": "prediction", ...} pushes."""
    await services.hub.serve(websocket)

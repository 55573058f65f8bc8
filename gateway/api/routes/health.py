"""GET /health."""

from __future__ import annotations

import asyncio
import datetime as dt
from importlib import metadata

import psutil
from fastapi import APIRouter

from gateway.api.deps import ServicesDep
from gateway.models import HealthResponse, SystemMetrics

router = APIRouter(tags=["health"])

STORE_CHECK_TIMEOUT_S = 2.0


def package_version() -> str:
    try:
        return metadata.version("wig80-spectral")
    except metadata.PackageNotFoundError:
        return "unknown"


async def _store_connected(store) -> bool:
    try:
        await asyncio.wait_for(store.ping(), STORE_CHECK_TIMEOUT_S)
    except Exception:  # any failure of the store is what this check reports
        return False
    return True


def _system_metrics(disk_path: str) -> SystemMetrics:
    try:
        disk = psutil.disk_usage(disk_path).percent
    except OSError:
        disk = psutil.disk_usage("/").percent
    return SystemMetrics(
        cpu_percent=psutil.cpu_percent(interval=None),
        memory_percent=psutil.virtual_memory().percent,
        disk_percent=disk,
    )


@router.get("/health", response_model=HealthResponse)
async def health(services: ServicesDep) -> HealthResponse:
    """Liveness and readiness: `degraded` (still 200) when Triton's model or the bar store is unavailable."""
    model_loaded, database_connected = await asyncio.gather(
        services.forecaster.model_ready(), _store_connected(services.store)
    )
    return HealthResponse(
        status="healthy" if model_loaded and database_connected else "degraded",
        timestamp=dt.datetime.now(dt.UTC),
        version=package_version(),
        model_loaded=model_loaded,
        database_connected=database_connected,
        websocket_connections=len(services.hub.connections),
        uptime_seconds=services.uptime_seconds,
        system_metrics=_system_metrics(str(services.settings.home)),
    )

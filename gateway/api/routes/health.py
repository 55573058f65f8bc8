"""GET /health (the full report), /health/live (liveness) and /health/ready (readiness).

None of them is rate limited. Liveness depends on nothing but the event loop answering, so a slow
Triton or store never gets the pod restarted; readiness is 503 until both answer, so the pod leaves
the Service's endpoints while they do not. Each dependency check gives up after
DEPENDENCY_CHECK_TIMEOUT_S: probes must allow longer (deploy/k8s: timeoutSeconds 5).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from importlib import metadata

import psutil
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gateway.api.deps import ServicesDep
from gateway.schemas import HealthResponse, SystemMetrics

router = APIRouter(tags=["health"])

DEPENDENCY_CHECK_TIMEOUT_S = 2.0


def package_version() -> str:
    try:
        return metadata.version("wig80-spectral")
    except metadata.PackageNotFoundError:
        return "unknown"


async def _store_connected(store) -> bool:
    try:
        await asyncio.wait_for(store.ping(), DEPENDENCY_CHECK_TIMEOUT_S)
    except Exception:  # any failure of the store is what this check reports
        return False
    return True


async def _model_loaded(triton) -> bool:
    try:
        return await asyncio.wait_for(triton.model_ready(), DEPENDENCY_CHECK_TIMEOUT_S)
    except Exception:  # any failure of Triton is what this check reports
        return False


async def _dependencies(services) -> tuple[bool, bool]:
    """(model loaded, database connected), checked concurrently."""
    model, store = await asyncio.gather(_model_loaded(services.triton), _store_connected(services.store))
    return model, store


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
    model_loaded, database_connected = await _dependencies(services)
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


@router.get("/health/live")
async def live() -> dict[str, str]:
    """Liveness: 200 while the process serves requests; checks no dependency."""
    return {"status": "alive"}


@router.get("/health/ready", responses={503: {"description": "Triton's model or the bar store is unavailable"}})
async def ready(services: ServicesDep) -> JSONResponse:
    """Readiness: 200 when Triton's model and the bar store answer, else 503 naming which does not."""
    model_loaded, database_connected = await _dependencies(services)
    body = {"status": "ready", "model_loaded": model_loaded, "database_connected": database_connected}
    if model_loaded and database_connected:
        return JSONResponse(body)
    missing = [name for name, ok in (("Triton model", model_loaded), ("bar store", database_connected)) if not ok]
    return JSONResponse(body | {"status": "not ready", "detail": f"unavailable: {', '.join(missing)}"}, 503)

"""The FastAPI application: `create_app(settings)`. The processes that serve it are started by the top floor
(`wig80 serve`, `python -m wig80.commands.gateway_worker`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from gateway.api.admission import AdmissionMiddleware
from gateway.api.analyze_fast_path import AnalyzeFastPath
from gateway.api.errors import COMMON_RESPONSES, install_error_handlers, without_validation_422
from gateway.api.rate_limit import RateLimiter, limiter_budget
from gateway.api.routes import (
    analysis,
    bars,
    dashboard,
    forecast,
    health,
    metrics,
    models,
    realtime,
    spectrum,
    symbols,
)
from gateway.api.routes.health import package_version
from gateway.client_identity import ClientIdentity
from gateway.services import open_services
from settings import Settings

DEFAULT_REDIS_PREFIX = "wig80"


def create_app(settings: Settings, redis_prefix: str = DEFAULT_REDIS_PREFIX) -> FastAPI:
    """The gateway; `redis_prefix` namespaces its Redis keys and channel (replicas of one deployment share it)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with open_services(settings, redis_prefix) as services:
            app.state.services = services
            yield

    app = FastAPI(
        title="WIG80 spectral forecasting gateway",
        version=package_version(),
        description="Predictions of the MGDL model served by Triton, with caching, rate limits and push.",
        lifespan=lifespan,
        responses=COMMON_RESPONSES,
        **({} if settings.docs_enabled else {"docs_url": None, "redoc_url": None, "openapi_url": None}),
    )
    limiter = RateLimiter(
        limiter_budget(settings.redis_url, redis_prefix),
        settings.rate_limit_per_minute,
        settings.rate_limit_burst_per_second,
    )
    app.state.limiter = limiter
    app.state.redact_errors = settings.environment == "production"
    identity = ClientIdentity(settings.trusted_proxies, settings.api_key)
    app.add_middleware(AnalyzeFastPath)  # inside admission: limited, its body already read and bounded
    app.add_middleware(AdmissionMiddleware, max_bytes=settings.max_request_body_bytes,
                       read_timeout_s=settings.request_body_timeout_seconds, limiter=limiter, identity=identity)
    install_error_handlers(app)
    for module in (health, analysis, forecast, spectrum, symbols, bars, metrics, models, realtime, dashboard):
        app.include_router(module.router)
    dashboard.mount_static(app)
    app.openapi = lambda: without_validation_422(FastAPI.openapi(app))
    return app


"""GET /models: the served model from the registry (its run, metrics, data range) and the deployment history,
as gateway.forecasting.served_records holds them (no registry login per request)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from gateway.api.deps import ServicesDep
from gateway.api.errors import ERROR_RESPONSES
from gateway.redaction import without_addresses
from registry.client import RegistryError
from registry.records import ActiveModel

log = logging.getLogger(__name__)
router = APIRouter(tags=["models"], responses=ERROR_RESPONSES)


class Deployment(BaseModel):
    sequence: int
    from_version: int | None = Field(description="0: nothing was served before")
    to_version: int
    reason: str = Field(description="initial, promoted, rollback or manual")
    note: str = ""
    created: str


class ActiveVersion(BaseModel):
    version: int
    run: str
    target: str
    onnx_sha256: str
    exported_at: str
    trained_at: str | None
    profile: str | None
    data_range: dict[str, Any] | None = Field(description="first and last date of the run's rows, the data source")
    split: dict[str, Any] | None = Field(description="train / val / test date ranges and the purge")
    metrics_val: dict[str, Any] | None = Field(description="validation metrics of the model beside the baselines")
    metrics_test: dict[str, Any] | None = Field(description="test metrics of the model beside the baselines")
    var_backtest_test: dict[str, Any] | None = Field(
        None, description="1-day VaR backtests on test, pooled over symbols: {model: {level: exceptions, Kupiec, "
        "Christoffersen, traffic-light windows}}")
    served_model: dict[str, Any] | None = Field(
        None, description="what the served network is: linear grade 0, deep grades kept, linear_only")


class ModelsResponse(BaseModel):
    active: ActiveVersion
    served_by_triton: str = Field(description="the version Triton's `wig80` serves (the gateway's model_version)")
    deployments: list[Deployment] = Field(description="newest first")


def _active(model: ActiveModel) -> ActiveVersion:
    version, run = model.version, model.run or {}
    return ActiveVersion(
        version=int(version["version"]), run=version["run"], target=version.get("target", ""),
        onnx_sha256=version.get("onnx_sha256", ""), exported_at=version.get("exported_at", ""),
        trained_at=run.get("trained_at"), profile=run.get("profile"), data_range=run.get("data_range"),
        split=run.get("split"), metrics_val=run.get("metrics_val"), metrics_test=run.get("metrics_test"),
        var_backtest_test=run.get("var_backtest_test") or None, served_model=run.get("served_model") or None,
    )


@router.get("/models", response_model=ModelsResponse)
async def models(services: ServicesDep, request: Request) -> ModelsResponse:
    """The active version with its training run's metrics, data range and date, and the deployment history
    (read from the registry when the served version changes, and at most every minute otherwise)."""
    if services.records is None:
        raise HTTPException(503, "no registry configured: set POCKETBASE_URL (`wig80 serve` sets it)")
    info = await services.model.served()  # the version every answer of this process is labelled with
    try:
        model = await services.records.get(info.version)
    except RegistryError as error:
        log.warning("GET /models: the registry is unavailable: %s", error)
        reason = without_addresses(str(error)) if request.app.state.redact_errors else str(error)
        raise HTTPException(503, f"the registry is unavailable: {reason}") from error
    if model is None:
        raise HTTPException(503, "the registry records no deployment yet")
    return ModelsResponse(
        active=_active(model),
        served_by_triton=info.version,
        deployments=[Deployment(**{k: d.get(k) for k in Deployment.model_fields}) for d in model.history],
    )

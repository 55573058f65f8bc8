"""GET /models: the served model from the registry (its run, metrics, data range) and the deployment history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import ServicesDep
from gateway.api.errors import ERROR_RESPONSES
from registry.client import Registry, RegistryError
from registry.records import ActiveModel, active_model
from settings import Settings

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


class ModelsResponse(BaseModel):
    active: ActiveVersion
    served_by_triton: str = Field(description="the version Triton's `wig80` serves (the gateway's model_version)")
    deployments: list[Deployment] = Field(description="newest first")


def _read(settings: Settings) -> ActiveModel | None:
    with Registry(settings.registry_url, settings.pocketbase_admin_email, settings.pocketbase_admin_password,
                  timeout=5.0) as registry:
        return active_model(registry)


def _active(model: ActiveModel) -> ActiveVersion:
    version, run = model.version, model.run or {}
    return ActiveVersion(
        version=int(version["version"]), run=version["run"], target=version.get("target", ""),
        onnx_sha256=version.get("onnx_sha256", ""), exported_at=version.get("exported_at", ""),
        trained_at=run.get("trained_at"), profile=run.get("profile"), data_range=run.get("data_range"),
        split=run.get("split"), metrics_val=run.get("metrics_val"), metrics_test=run.get("metrics_test"),
    )


@router.get("/models", response_model=ModelsResponse)
async def models(services: ServicesDep) -> ModelsResponse:
    """The active version with its training run's metrics, data range and date, and the deployment history."""
    settings = services.settings
    if not settings.pocketbase_url:
        raise HTTPException(503, "no registry configured: set POCKETBASE_URL (`wig80 serve` sets it)")
    try:
        model = await run_in_threadpool(_read, settings)
    except RegistryError as error:
        raise HTTPException(503, f"the registry is unavailable: {error}") from error
    if model is None:
        raise HTTPException(503, "the registry records no deployment yet")
    info = await services.model.served()  # the version every answer of this process is labelled with
    return ModelsResponse(
        active=_active(model),
        served_by_triton=info.version,
        deployments=[Deployment(**{k: d.get(k) for k in Deployment.model_fields}) for d in model.history],
    )

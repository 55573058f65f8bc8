"""Switch the served version: configs pinned to it, an ordered load into Triton, then the deployment record."""

from __future__ import annotations

from pathlib import Path

from export.repository import activate, active_version, restore_configs, snapshot_configs
from registry.client import Registry
from registry.records import record_deployment, version_record
from serving.model_control import ModelControlError, load_in_order
from wig80.settings import Settings


class DeployError(RuntimeError):
    """The switch did not happen; the version served before still is (configs restored)."""


def load_into_triton(settings: Settings, version: int) -> None:
    try:
        headers = settings.triton_admin_headers("grpc")
    except ValueError as error:  # production without WIG80_TRITON_ADMIN_KEY
        raise ModelControlError(str(error)) from error
    load_in_order(settings.triton_grpc_address, version, headers=headers)  # gRPC: TRITON_URL or host + port


def deploy(registry: Registry, settings: Settings, version: int, reason: str, note: str = "",
           repository: Path | None = None) -> dict:
    """Make `version` the served one (its configs, Triton's explicit load in dependency order), then record it.

    The version must be registered: the registry never lacks a served version. A failed load puts the
    configs back as they were, so a restart serves what was served before, and raises DeployError.
    """
    repository = Path(repository or settings.repository_dir)
    if version_record(registry, version) is None:
        raise DeployError(f"version {version} is not in the registry; export it with `wig80 export` first")
    before = snapshot_configs(repository)
    if active_version(repository) != version:
        activate(repository, version)
    try:
        load_into_triton(settings, version)
    except (ModelControlError, OSError) as error:
        restore_configs(repository, before)
        raise DeployError(f"Triton did not load version {version}: {error}; the previous version still serves") from error
    return record_deployment(registry, version, reason, note)

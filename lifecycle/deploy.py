"""Switch the served version: configs pinned to it, an ordered load into Triton, then the deployment record."""

from __future__ import annotations

from pathlib import Path

from export.repository import (
    RepositoryTransaction,
    activate,
    analogue_index_path,
    pinned_version,
    repository_transaction,
    version_metadata,
)
from lifecycle.repository_lock import repository_lock
from registry.client import Registry
from registry.records import (
    deployed_version,
    record_deployment,
    register_run,
    register_version,
    version_record,
)
from serving.contract import TritonAddress
from serving.model_control import ModelControlError, load_in_order
from settings import Settings


class DeployError(RuntimeError):
    """The switch did not happen; the version served before still is (configs restored)."""


def deploy(registry: Registry, settings: Settings, version: int, reason: str, note: str = "",
           repository: Path | None = None, transaction: RepositoryTransaction | None = None) -> dict:
    """Make `version` the served one (its configs, Triton's explicit load in dependency order), then record it.

    The version must be registered: the registry never lacks a served version. A failed load puts the
    configs back as they were (as the caller's `transaction` found them, in a promotion), so a restart
    serves what was served before, and raises DeployError.
    """
    with repository_lock(settings.home, "deploy"):
        return _deploy(registry, settings, version, reason, note, Path(repository or settings.repository_dir),
                       transaction)


def _deploy(registry: Registry, settings: Settings, version: int, reason: str, note: str, repository: Path,
            transaction: RepositoryTransaction | None) -> dict:
    if version_record(registry, version) is None:
        raise DeployError(f"version {version} is not in the registry; export it with `wig80 export` first")
    try:
        admin_key = settings.triton_model_control_key
    except ValueError as error:  # production without WIG80_TRITON_ADMIN_KEY: nothing is touched
        raise DeployError(str(error)) from error
    with repository_transaction(repository, transaction):
        if pinned_version(repository) != version:
            activate(repository, version)
        try:
            load_in_order(TritonAddress.from_settings(settings), admin_key, version)  # gRPC: TRITON_URL or host + port
        except (ModelControlError, OSError) as error:
            raise DeployError(f"Triton did not load version {version}: {error}; the previous version still serves"
                              ) from error
    return record_deployment(registry, version, reason, note)


def record_served(registry: Registry, repository: Path) -> int | None:
    """Make the registry agree with the version the repository serves: registered, and the last deployment.

    A version exported before the registry existed (or by `wig80 up`) is registered from its folder's
    metadata; a served version that differs from the registry's last deployment is recorded as one.
    """
    served = pinned_version(repository)
    if served is None:
        return None
    if version_record(registry, served) is None:
        metadata = version_metadata(repository, served)
        if metadata.get("run_dir") and Path(metadata["run_dir"]).is_dir():
            register_run(registry, Path(metadata["run_dir"]))
        register_version(registry, metadata, repository, analogue_index_path(repository, served, metadata))
    last = deployed_version(registry)
    if last != served:
        record_deployment(registry, served, "initial" if last is None else "manual",
                          note="served by `wig80 serve` at start")
    return served

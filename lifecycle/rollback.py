"""`wig80 rollback VERSION`: serve a registered version again, unless that is pointless or was refused.

A rollback to the version already served, or to a version whose run a retraining rejected, is refused
with the reason; `force=True` (`--force`) serves it anyway (and records the deployment).
"""

from __future__ import annotations

import json

from lifecycle.deploy import deploy
from lifecycle.repository_lock import repository_lock
from registry.client import Registry
from registry.records import deployed_version, version_record
from settings import Settings


class RollbackRefused(ValueError):
    """The target is already served or was rejected; nothing was changed."""


def rollback_refusal(registry: Registry, version: int) -> str | None:
    """Why a rollback to `version` needs --force, or None."""
    if deployed_version(registry) == version:
        return f"version {version} is already served"
    record = version_record(registry, version)
    if record is None:
        return None  # deploy says it is not registered
    rejected = registry.first("evaluations",
                              f"challenger_run = {json.dumps(record['run'])} && decision = \"rejected\"")
    if rejected is not None:
        return (f"version {version} (run {record['run']}) was rejected by the retraining of "
                f"{rejected.get('created', '?')}: {rejected.get('reason', '')}")
    return None


def rollback(registry: Registry, settings: Settings, version: int, force: bool = False) -> dict:
    """Deploy `version` as a rollback; RollbackRefused (nothing changed) when it needs `force` and has none."""
    with repository_lock(settings.home, "rollback"):  # what is served cannot change between check and deploy
        refusal = rollback_refusal(registry, version)
        if refusal and not force:
            raise RollbackRefused(f"{refusal}; nothing was changed (add --force to serve it anyway)")
        return deploy(registry, settings, version, "rollback", note=f"forced: {refusal}" if refusal else "")

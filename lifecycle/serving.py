"""What `wig80 serve` runs beside Triton: the registry (embedded unless POCKETBASE_URL), the served
version recorded in it, and the retraining schedule."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from export.repository import active_version, version_metadata
from lifecycle.registry_session import connect, embedded_server
from registry.client import Registry
from registry.records import active_version as registry_active_version
from registry.records import record_deployment, register_run, register_version, version_record
from registry.server import PocketBaseServer
from wig80.settings import Settings, get_settings


def record_served(registry: Registry, repository: Path) -> int | None:
    """Make the registry agree with the version the repository serves: registered, and the last deployment.

    A version exported before the registry existed (or by `wig80 up`) is registered from its folder's
    metadata; a served version that differs from the registry's last deployment is recorded as one.
    """
    served = active_version(repository)
    if served is None:
        return None
    if version_record(registry, served) is None:
        metadata = version_metadata(repository, served)
        if metadata.get("run_dir") and Path(metadata["run_dir"]).is_dir():
            register_run(registry, Path(metadata["run_dir"]))
        register_version(registry, metadata, repository)
    last = registry_active_version(registry)
    if last != served:
        record_deployment(registry, served, "initial" if last is None else "manual",
                          note="served by `wig80 serve` at start")
    return served


def publish_registry(url: str) -> None:
    """The gateway (and a scheduled retraining) read the registry from the settings: point them at it."""
    os.environ["POCKETBASE_URL"] = url
    get_settings.cache_clear()


@contextlib.contextmanager
def registry_beside_triton(settings: Settings, repository: Path, retrain_cron: str | None = None,
                           say=print) -> Iterator[PocketBaseServer | None]:
    """Start the embedded PocketBase if needed, record the served version, run the schedule; yields the
    embedded PocketBase (None with POCKETBASE_URL), for `wig80 serve` to supervise."""
    server = None
    if not settings.pocketbase_url:
        server = embedded_server(settings).start().wait_ready()
        say(f"PocketBase     {server.url}/_/  (admin UI; data {server.data_dir}, log {server.log_path})")
    schedule = None
    try:
        with connect(settings.registry_url, settings) as registry:
            registry.ensure_collections()
            served = record_served(registry, repository)
        say(f"registry: serving version {served}")
        publish_registry(settings.registry_url)
        if retrain_cron:
            from lifecycle.scheduler import RETRAIN_NICENESS, RetrainSchedule

            schedule = RetrainSchedule(retrain_cron, env=dict(os.environ)).start()
            say(f"retraining on cron {retrain_cron!r} (nice {os.nice(0) + RETRAIN_NICENESS}); next {schedule.next_run()}")
        yield server
    finally:
        if schedule is not None:
            schedule.stop()
        if server is not None:
            server.stop()

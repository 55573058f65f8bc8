"""What `wig80 serve` runs beside Triton: the registry (embedded unless POCKETBASE_URL), the served
version recorded in it, and the retraining schedule."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lifecycle.deploy import record_served
from registry.server import PocketBaseServer
from settings import Settings
from wig80.commands.registry_session import connect, embedded_server, prepare


@dataclass(frozen=True)
class BesideTriton:
    """What `registry_beside_triton` started, for `wig80 serve`."""

    settings: Settings  # with the registry's address (POCKETBASE_URL), for the gateway's GET /models
    pocketbase: PocketBaseServer | None  # the embedded PocketBase, to supervise; None with POCKETBASE_URL


@contextlib.contextmanager
def registry_beside_triton(settings: Settings, repository: Path, retrain_cron: str | None = None,
                           say=print) -> Iterator[BesideTriton]:
    """Start the embedded PocketBase if needed, record the served version, run the schedule; yields the
    settings with the registry's address and the embedded PocketBase."""
    server = None
    if not settings.pocketbase_url:
        server = embedded_server(settings).start().wait_ready()
        say(f"PocketBase     {server.url}/_/  (admin UI; data {server.data_dir}, log {server.log_path})")
    served_settings = settings.model_copy(update={"pocketbase_url": settings.registry_url})
    schedule = None
    try:
        with connect(settings.registry_url, settings) as registry:
            prepare(registry, settings)
            served = record_served(registry, repository)
        say(f"registry: serving version {served}")
        if retrain_cron:
            from lifecycle.scheduler import RETRAIN_NICENESS, RetrainSchedule

            environment = {**os.environ, **served_settings.as_environment()}  # the child reads its own settings
            schedule = RetrainSchedule(retrain_cron, env=environment).start()
            say(f"retraining on cron {retrain_cron!r} (nice {os.nice(0) + RETRAIN_NICENESS}); next {schedule.next_run()}")
        yield BesideTriton(served_settings, server)
    finally:
        if schedule is not None:
            schedule.stop()
        if server is not None:
            server.stop()

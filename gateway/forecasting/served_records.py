"""What GET /models shows, read from the registry when the served model changes, not per request.

One read-only session (the registry's reader account: no superuser) is opened once and kept; its
token is renewed when PocketBase refuses it. The records are read again when the served version
differs from the one they were read for (a deploy, a promotion, a rollback: the lifecycle events the
model watcher follows), and otherwise at most every REFRESH_S, so a registry edit without a new
version (a note, a manual deployment record) shows within that; any number of requests costs at most
one registry read per REFRESH_S. A failed read keeps serving the records read before; with none, the
error is raised to the callers until a read after RETRY_S succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from starlette.concurrency import run_in_threadpool

from registry.client import Registry, RegistryError
from registry.records import ActiveModel, active_model
from registry.schema import READERS
from settings import Settings

log = logging.getLogger(__name__)
REFRESH_S = 60.0  # records read for the served version are read again after this long
RETRY_S = 1.0  # with none read yet, or read while a deploy was between Triton and the registry: ask again


class ServedRecords:
    def __init__(self, registry: Registry, refresh_s: float = REFRESH_S, retry_s: float = RETRY_S) -> None:
        self.registry = registry
        self.refresh_s, self.retry_s = refresh_s, retry_s
        self.model: ActiveModel | None = None  # the last records read
        self.read_for: str | None = None  # the served version they were read for
        self.failure: RegistryError | None = None  # why the last read failed, until one succeeds
        self.reads = 0  # registry reads made (a test counts them)
        self._asked_for: str | None = None  # the served version of the last read
        self._asked_at = float("-inf")  # monotonic
        self._reading = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ServedRecords | None:
        """None without a registry (POCKETBASE_URL unset)."""
        if not settings.pocketbase_url:
            return None
        return cls(Registry(settings.registry_url, settings.pocketbase_reader_email,
                            settings.pocketbase_reader_password, timeout=5.0, auth_collection=READERS))

    def close(self) -> None:
        self.registry.close()

    async def get(self, served_version: str) -> ActiveModel | None:
        """The records for `served_version`: the held ones while fresh, else read (concurrent callers share
        one read). None while the registry records no deployment; RegistryError while nothing was read."""
        if self._due(served_version):
            async with self._reading:
                if self._due(served_version):
                    await self._refresh(served_version)
                    return self.model
        if self.model is None and self.failure is not None:
            raise self.failure
        return self.model

    def _due(self, served_version: str) -> bool:
        wait = self.refresh_s if self._settled() else self.retry_s
        return served_version != self._asked_for or time.monotonic() - self._asked_at >= wait

    def _settled(self) -> bool:
        """Records read, and they agree with Triton: a deploy loads the version before it records the
        deployment, so records read in between still name the version before (read again soon)."""
        return self.model is not None and str(self.model.version.get("version")) == self.read_for

    async def _refresh(self, served_version: str) -> None:
        self._asked_for, self._asked_at = served_version, time.monotonic()
        self.reads += 1
        try:
            model = await run_in_threadpool(active_model, self.registry)
        except RegistryError as error:
            self.failure = error
            if self.model is None:
                raise
            log.warning("the registry did not answer; GET /models serves the records of version %s: %s",
                        self.read_for, error)
            return
        self.model, self.read_for, self.failure = model, served_version, None

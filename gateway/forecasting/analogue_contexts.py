"""`include_rag_context`: the historical analogues of each held forecast, made with it and kept on it.

The served version's analogue index comes from its registry record (`analogues.served`: downloaded once,
cached under WIG80_HOME/cache/analogues by checksum), read with the first forecasts of a version. The
analogues of the forecasts of a precompute are made in one FAISS search, off the event loop, and kept on
each `HeldForecast` (`.analogues`), so a request pays an attribute read; a forecast held without them
(made on demand, or read from Redis) gets them when a request first asks. No registry, or a version
exported without an index: `rag_context` is null.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from starlette.concurrency import run_in_threadpool

from analogues.index import AnalogueIndex
from analogues.query import AnalogueQuery
from analogues.served import served_index
from gateway.forecasting.forecasts import HeldForecast
from gateway.forecasting.triton_client import ModelInfo
from gateway.schemas import RagContext
from registry.client import Registry, RegistryError
from registry.schema import READERS
from settings import Settings

log = logging.getLogger(__name__)
RETRY_S = 60.0


class AnalogueContexts:
    def __init__(self, registry_url: str, reader_email: str, reader_password: str, home: Path) -> None:
        self.registry_url = registry_url  # read with the registry's read-only account (registry.schema.READERS)
        self.reader_email = reader_email
        self.reader_password = reader_password
        self.home = Path(home)
        self.model_version: str | None = None  # the label of the version whose index `query` holds
        self.query: AnalogueQuery | None = None
        self._failed_at: float | None = None  # monotonic time of the last failed read of that version's index
        self._reading = asyncio.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> AnalogueContexts | None:
        """None without a registry (POCKETBASE_URL unset): then `rag_context` is always null."""
        if not settings.pocketbase_url:
            return None
        return cls(settings.registry_url, settings.pocketbase_reader_email, settings.pocketbase_reader_password,
                   settings.home)

    async def attach(self, helds: Sequence[HeldForecast], info: ModelInfo) -> None:
        """Keep on each of `helds` made by `info`'s version (and not holding them yet) its analogues, made
        in one index search off the event loop; a failed search is logged and leaves them without."""
        await self.follow(info)
        query = self.query  # `follow` may swap it meanwhile: this call uses one index throughout
        todo = [held for held in helds if held.analogues is None and held.forecast.model_version == self.model_version]
        if query is None or not todo:
            return
        try:
            contexts = await run_in_threadpool(_contexts, query, todo)
        except Exception:
            log.exception("making the analogues of %d forecasts failed", len(todo))
            return
        for held, context in zip(todo, contexts, strict=True):
            held.analogues = context

    async def follow(self, info: ModelInfo) -> None:
        """Hold `info`'s index (read from the registry once per version). A failed read is logged and tried
        again, at most every RETRY_S, by the next attach; meanwhile `rag_context` is null."""
        if not self._stale(info):
            return
        async with self._reading:  # concurrent first askers share one read
            if not self._stale(info):
                return
            try:
                index = await run_in_threadpool(self._read, int(info.version))
                query = AnalogueQuery(index) if index is not None else None
                if query is not None:
                    query.check_features(info.feature_names)
                self._failed_at = None
            except (RegistryError, OSError, ValueError) as error:
                log.warning("no analogue index for model %s (tried again within %d s): %s", info.model_version,
                            RETRY_S, error)
                query, self._failed_at = None, time.monotonic()
            self.query, self.model_version = query, info.model_version

    def _stale(self, info: ModelInfo) -> bool:
        failed_long_ago = self._failed_at is not None and time.monotonic() - self._failed_at >= RETRY_S
        return info.model_version != self.model_version or failed_long_ago

    def _read(self, version: int) -> AnalogueIndex | None:
        with Registry(self.registry_url, self.reader_email, self.reader_password,
                      auth_collection=READERS) as registry:
            return served_index(registry, version, self.home)


def _contexts(query: AnalogueQuery, helds: Sequence[HeldForecast]) -> list[RagContext]:
    """One index search for all of `helds`, each answer as the response's model (in a worker thread)."""
    contexts = query.contexts([(held.window.symbol, held.window.dates[-1].astype(object), held.forecast.features)
                               for held in helds])
    return [RagContext.model_validate(context.as_dict()) for context in contexts]

"""`include_rag_context`: the historical analogues of each held forecast, made with it.

The served version's analogue index comes from its registry record (`analogues.served`: downloaded once,
cached under WIG80_HOME/cache/analogues by checksum), loaded with the first forecasts of a version. The
analogues of a forecast are made when the forecast is (one FAISS search for every symbol of a precompute)
and kept beside it, keyed like it, so a request pays a dictionary look-up. No registry, or a version
exported without an index: `rag_context` is null.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from starlette.concurrency import run_in_threadpool

from analogues.query import AnalogueQuery
from analogues.served import served_index
from gateway.cache import MemoryCache
from gateway.forecasts import SymbolForecast
from gateway.models import RagContext
from gateway.triton_client import ModelInfo
from market_data.bars import BarSeries
from registry.client import Registry, RegistryError
from wig80.settings import Settings

log = logging.getLogger(__name__)
RETRY_S = 60.0


class AnalogueContexts:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.version: str | None = None  # the version whose index `query` holds (None: not read yet)
        self.query: AnalogueQuery | None = None
        self._failed_at: float | None = None  # monotonic time of the last failed read of `version`
        self.held: MemoryCache[RagContext] = MemoryCache()

    async def follow(self, info: ModelInfo) -> None:
        """Hold `info`'s index (read from the registry once per version). A failed read is logged and tried
        again, at most every RETRY_S, by the next precompute; meanwhile `rag_context` is null."""
        if info.version == self.version and (self._failed_at is None or time.monotonic() - self._failed_at < RETRY_S):
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
        self.query, self.version = query, info.version

    def _read(self, version: int):
        s = self.settings
        with Registry(s.registry_url, s.pocketbase_admin_email, s.pocketbase_admin_password) as registry:
            return served_index(registry, version, s.home)

    @staticmethod
    def key(series: BarSeries, forecast: SymbolForecast) -> str:
        return f"{series.symbol}:{series.dates[-1]}:{forecast.model_version}"

    def make(self, windows: Sequence[BarSeries], forecasts: Sequence[SymbolForecast]) -> None:
        """The contexts of these forecasts, in one index search (with the precompute); a failure is logged,
        and the request that needs one makes it again."""
        query = self.query  # `follow` may swap it meanwhile: this call uses one index throughout
        if query is None:
            return
        todo = [(s, f) for s, f in zip(windows, forecasts, strict=True) if self.held.get(self.key(s, f)) is None]
        if not todo:
            return
        try:
            contexts = query.contexts([(s.symbol, s.dates[-1].astype(object), f.features) for s, f in todo])
        except Exception:
            log.exception("making the analogues of %d forecasts failed", len(todo))
            return
        for (series, forecast), context in zip(todo, contexts, strict=True):
            self.held.set(self.key(series, forecast), RagContext.model_validate(context.as_dict()))

    def get(self, series: BarSeries, forecast: SymbolForecast) -> RagContext | None:
        """The held context of this forecast (made now if it was not precomputed); None without an index,
        or for a forecast another version made (the index is the version's)."""
        if self.query is None or not forecast.model_version.endswith(f"/v{self.version}"):
            return None
        held = self.held.get(self.key(series, forecast))
        if held is None:
            self.make([series], [forecast])
            held = self.held.get(self.key(series, forecast))
        return held

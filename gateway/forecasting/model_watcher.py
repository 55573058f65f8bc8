"""The served model: the one place that knows which version Triton serves, read by every response and /models.

Triton is asked until it first answers (concurrent first askers share that one read); from then on
`watch` follows reloads every MODEL_WATCH_INTERVAL_S: a new version is prepared (windows of its length
held, its forecasts made) before it becomes `current`, so no answer is labelled with a version whose
forecasts are not ready.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gateway.forecasting.triton_client import ModelInfo, TritonClient, TritonUnavailable

log = logging.getLogger(__name__)

MODEL_WATCH_INTERVAL_S = 1.0  # a reloaded model is served (and precomputed) within about this long
Preparation = Callable[[ModelInfo, bool], Awaitable[None]]  # (the model, whether to forecast ahead)


async def _nothing_to_prepare(info: ModelInfo, forecast_ahead: bool) -> None:
    return None


class ModelWatcher:
    def __init__(self, triton: TritonClient, interval_s: float = MODEL_WATCH_INTERVAL_S) -> None:
        self.triton = triton
        self.interval_s = interval_s
        self.current: ModelInfo | None = None  # what responses are labelled with and GET /models reports
        self._prepare: Preparation = _nothing_to_prepare
        self._first_read = asyncio.Lock()

    def prepare_with(self, preparation: Preparation) -> None:
        """What must happen before a model is served: `preparation(info, forecast_ahead)`."""
        self._prepare = preparation

    async def start(self) -> ModelInfo | None:
        """Read the served model once at start-up; None while Triton does not answer (requests ask again)."""
        with contextlib.suppress(TritonUnavailable):
            self.current = await self.triton.model_info()
        return self.current

    async def served(self) -> ModelInfo:
        """The served model; raises TritonUnavailable while Triton has never answered."""
        if self.current is not None:
            return self.current
        async with self._first_read:
            if self.current is None:
                info = await self.triton.model_info()
                await self._prepare(info, False)  # a request waits: hold the windows, forecast on demand
                self.current = info
        return self.current

    async def watch(self) -> None:
        """Forever: read the served model's info; on a new version, prepare it (forecasts made), then serve it."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                info = await self.triton.model_info()
                if info != self.current:
                    await self._prepare(info, True)
                    log.info("serving model %s", info.model_version)
                    self.current = info
            except TritonUnavailable:
                continue  # held forecasts keep being served; misses answer 503 with Triton's reason
            except Exception:  # a store failure must not end the watch: the next round retries
                log.exception("following the served model failed; retrying")
